namespace MlxBench.Harness.Serving.Workloads;

/// <summary>
/// The synthetic workloads, over a pool of token ids (the model's ordinary tokens, or word indexes when the server
/// cannot tokenize). Seeded, so every level of a sweep and every rerun sends the same prompts.
/// </summary>
public static class SyntheticPrompts
{
    /// <summary>
    /// vLLM's <c>random</c> dataset: input lengths uniform over [⌊L(1−r)⌋, ⌈L(1+r)⌉], output lengths over
    /// [max(1, ⌊O(1−r)⌋), ⌈O(1+r)⌉], and ids <c>pool[(offset + i + j) mod |pool|]</c> with a random offset per request,
    /// so no two prompts share a prefix the server could cache.
    /// </summary>
    public static ServingPrompt[] Random(int count, int inputTokens, int outputTokens, double rangeRatio, IReadOnlyList<int> pool, int seed)
    {
        var random = new System.Random(seed);
        var prompts = new ServingPrompt[count];
        (int inLow, int inHigh) = Range(inputTokens, rangeRatio);
        (int outLow, int outHigh) = Range(outputTokens, rangeRatio);
        for (int i = 0; i < count; i++)
        {
            int length = random.Next(inLow, inHigh + 1);
            int output = random.Next(outLow, outHigh + 1);
            int offset = random.Next(pool.Count);
            var ids = new int[length];
            for (int j = 0; j < length; j++) ids[j] = pool[(int)((offset + (long)i + j) % pool.Count)];
            prompts[i] = ServingPrompt.FromIds(ids, output);
        }
        return prompts;
    }

    /// <summary>
    /// vLLM's <c>prefix_repetition</c>: <paramref name="prefixes"/> random prefixes of <paramref name="prefixTokens"/>
    /// ids, request i using prefix i mod prefixes followed by its own random suffix, so a prefix cache can hit.
    /// </summary>
    public static ServingPrompt[] SharedPrefix(int count, int inputTokens, int prefixTokens, int prefixes, int outputTokens, double rangeRatio, IReadOnlyList<int> pool, int seed)
    {
        var random = new System.Random(seed);
        int[][] shared = Enumerable.Range(0, prefixes).Select(_ => Draw(random, prefixTokens, pool)).ToArray();
        (int outLow, int outHigh) = Range(outputTokens, rangeRatio);
        var prompts = new ServingPrompt[count];
        for (int i = 0; i < count; i++)
        {
            int[] suffix = Draw(random, inputTokens - prefixTokens, pool);
            prompts[i] = ServingPrompt.FromIds([.. shared[i % prefixes], .. suffix], random.Next(outLow, outHigh + 1));
        }
        return prompts;
    }

    /// <summary>The fallback for servers without tokenizer endpoints: ids are word indexes, sent as space-joined words.</summary>
    public static ServingPrompt AsWords(ServingPrompt prompt) =>
        new(null, string.Join(' ', prompt.TokenIds!.Select(i => WordList.Words[i % WordList.Words.Length])), null, -1, prompt.OutputTokens);

    /// <summary>A pool of word indexes, for <see cref="AsWords"/>.</summary>
    public static IReadOnlyList<int> WordPool { get; } = Enumerable.Range(0, WordList.Words.Length).ToArray();

    /// <summary>The seed text whose tokens become the pool: every word of the list, in a seeded order, twice.</summary>
    public static string SeedText(int seed)
    {
        var random = new System.Random(seed);
        string[] words = [.. WordList.Words, .. WordList.Words];
        random.Shuffle(words);
        return string.Join(' ', words);
    }

    /// <summary>
    /// The distinct ids of the seed text in order of first appearance. A leading id that never recurs is taken for a
    /// BOS the server added despite <c>add_special_tokens: false</c>, and dropped.
    /// </summary>
    public static int[] PoolFromTokens(IReadOnlyList<int> tokens)
    {
        IEnumerable<int> ids = tokens;
        if (tokens.Count > 1 && tokens.Skip(1).All(t => t != tokens[0])) ids = tokens.Skip(1);
        return ids.Distinct().ToArray();
    }

    private static int[] Draw(System.Random random, int length, IReadOnlyList<int> pool)
    {
        var ids = new int[length];
        for (int j = 0; j < length; j++) ids[j] = pool[random.Next(pool.Count)];
        return ids;
    }

    private static (int Low, int High) Range(int length, double ratio) =>
        (Math.Max(1, (int)Math.Floor(length * (1 - ratio))), Math.Max(1, (int)Math.Ceiling(length * (1 + ratio))));
}
