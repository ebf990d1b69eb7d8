using MlxBench.Harness.Serving.Client;

namespace MlxBench.Harness.Serving.Workloads;

/// <summary>How close aligned prompts came to their intended lengths, as the server counts them.</summary>
public sealed record AlignmentSummary(int Prompts, int Exact, int MaxOff, long Intended, long Counted);

/// <summary>
/// Brings text prompts built from token ids to their intended length as the server counts what it evaluates. A
/// synthetic prompt of L ids, detokenized and sent as a chat message, is not L tokens to the server: the chat template
/// adds its markup, and the text re-encodes to other tokens than the ids it came from (stories260K: 2,560 intended,
/// 4,177 counted). So each prompt's ids are cut or extended (at the end, so a shared prefix stays shared), decoded by the
/// server's <c>/detokenize</c> and counted by its <c>/tokenize</c> (with <c>messages</c> for chat, as vLLM takes them),
/// a few rounds of secant steps until the count is the intended one, or the closest seen.
/// </summary>
public sealed class PromptAligner(ServingClient client, string model, bool chat)
{
    /// <summary>Counting rounds per prompt; the count is rarely linear in the ids, so a few are needed, not one.</summary>
    public const int MaxRounds = 8;

    /// <summary>Aligns every prompt (each must have token ids); null when the server cannot detokenize or count.</summary>
    public async Task<(ServingPrompt[] Prompts, AlignmentSummary Summary)?> AlignAsync(IReadOnlyList<ServingPrompt> prompts, CancellationToken cancellationToken)
    {
        var distinct = prompts.Distinct().ToArray();
        var aligned = new Dictionary<ServingPrompt, ServingPrompt>();
        bool failed = false;
        await Parallel.ForEachAsync(distinct, new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = cancellationToken }, async (p, ct) =>
        {
            if (Volatile.Read(ref failed)) return;
            ServingPrompt? result = await AlignAsync(p, ct).ConfigureAwait(false);
            lock (aligned)
            {
                if (result is null) failed = true;
                else aligned[p] = result;
            }
        }).ConfigureAwait(false);
        if (failed) return null;
        ServingPrompt[] result = prompts.Select(p => aligned[p]).ToArray();
        int[] off = prompts.Select(p => Math.Abs(aligned[p].PromptTokens - p.TokenIds!.Length)).ToArray();
        return (result, new AlignmentSummary(result.Length, off.Count(o => o == 0), off.Max(),
            prompts.Sum(p => (long)p.TokenIds!.Length), result.Sum(p => (long)p.PromptTokens)));
    }

    /// <summary>One prompt: its text and, as <see cref="ServingPrompt.PromptTokens"/>, the server's count of it.</summary>
    private async Task<ServingPrompt?> AlignAsync(ServingPrompt prompt, CancellationToken cancellationToken)
    {
        int[] ids = prompt.TokenIds ?? throw new ArgumentException("only prompts built from token ids can be aligned", nameof(prompt));
        int target = ids.Length;
        (string Text, int Count)? best = null;
        var tried = new Dictionary<int, int>();
        int length = target;
        double slope = 1;
        (int Length, int Count)? previous = null;
        for (int round = 0; round < MaxRounds && !tried.ContainsKey(length); round++)
        {
            string? text = await client.TryDetokenizeAsync(model, Ids(ids, length), cancellationToken).ConfigureAwait(false);
            if (text is null) return null;
            if (await client.TryCountPromptAsync(model, text, chat, cancellationToken).ConfigureAwait(false) is not { } count) return null;
            tried[length] = count;
            if (best is null || Math.Abs(count - target) < Math.Abs(best.Value.Count - target)) best = (text, count);
            if (count == target) break;
            // Secant step on count(length); the first step assumes one token per id.
            if (previous is { } p && p.Length != length && (count - p.Count) / (double)(length - p.Length) is > 0.25 and var s) slope = s;
            int step = (int)Math.Round((target - count) / slope);
            if (step == 0) step = Math.Sign(target - count);
            previous = (length, count);
            length = Math.Max(1, length + step);
        }
        return prompt with { TokenIds = null, Text = best!.Value.Text, PromptTokens = best.Value.Count };
    }

    /// <summary>The prompt's first <paramref name="length"/> ids; past its end the ids repeat from its start.</summary>
    private static int[] Ids(int[] ids, int length)
    {
        var result = new int[length];
        for (int i = 0; i < length; i++) result[i] = ids[i % ids.Length];
        return result;
    }
}
