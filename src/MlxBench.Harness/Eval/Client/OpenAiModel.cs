using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using MlxBench.Harness.Eval.Tasks;

namespace MlxBench.Harness.Eval.Client;

/// <summary>How the evaluator talks to the server (suite metadata; defaults are lm-eval's local-completions ones).</summary>
public sealed record ModelOptions
{
    public required string Model { get; init; }
    /// <summary>lm-eval's <c>max_length</c>; sequences keep their last MaxLength − 1 tokens.</summary>
    public int MaxLength { get; init; } = 2048;
    public int MaxGenToks { get; init; } = 256;
    public bool AddBosToken { get; init; }
    /// <summary>Token-id prompts (true, lm-eval's default for local-completions) or text prompts.</summary>
    public bool TokenizedRequests { get; init; } = true;
    /// <summary>All choices of a document in one request (true), or one request per (context, choice) as lm-eval sends them.</summary>
    public bool BatchChoices { get; init; } = true;
    /// <summary>Batched log-likelihood requests ask for no log-probabilities before each continuation
    /// (<c>echo_logprobs_from</c>, MlxBench.Server's extension; see <see cref="OpenAiModel"/>).</summary>
    public bool OnlyContinuationLogprobs { get; init; } = true;
    /// <summary>Generation through <c>/v1/chat/completions</c> (chat prompts) instead of <c>/v1/completions</c>.</summary>
    public bool ChatEndpoint { get; init; }
    public int Seed { get; init; } = 1234;
    /// <summary>For empty contexts and rolling windows; null: the tokenizer's BOS (from /tokenize with special tokens).</summary>
    public int? PrefixTokenId { get; init; }
}

/// <summary>
/// lm-eval's TemplateAPI (<c>local-completions</c> / <c>local-chat-completions</c>) request semantics over
/// <see cref="OpenAiEndpoint"/>: contexts tokenized through the server's <c>/tokenize</c>; trailing context
/// whitespace moved into the continuation; <c>(ctx + cont)[-(max_length-1):]</c>; <c>echo</c> + <c>logprobs: 1</c> +
/// <c>max_tokens: 1</c>; log-likelihood = Σ <c>token_logprobs[ctxlen:-1]</c>; is_greedy by exact comparison with the
/// top log-prob. What differs is only how requests are grouped: all choices of a document go in one request whose
/// <c>prompt</c> is a list, so a server with prefix reuse computes the shared context once; and such a request asks
/// for no log-probabilities before each continuation (<c>echo_logprobs_from</c>, MlxBench.Server's extension: a server
/// that ignores it returns them all, one that refuses it is asked again without it, and then never again).
/// </summary>
public sealed class OpenAiModel(OpenAiEndpoint endpoint, ModelOptions options)
{
    /// <summary>The request extension that leaves a context's positions out of the echoed log-probabilities.</summary>
    public const string LogprobsFromField = "echo_logprobs_from";

    private readonly ConcurrentDictionary<(string, bool), Task<int[]>> _tokens = new();
    private volatile bool _logprobsFromRefused;
    private int? _prefixToken = options.PrefixTokenId;

    /// <summary>Prompt and completion tokens the server reported computing (from <c>usage</c>).</summary>
    public long PromptTokens => Interlocked.Read(ref _promptTokens);
    private long _promptTokens;

    public async Task<IReadOnlyList<EvalResponse>> RunAsync(DocRequests doc, CancellationToken ct)
    {
        if (doc.Requests.All(r => r is LoglikelihoodRequest))
            return await LoglikelihoodAsync(doc.Requests.Cast<LoglikelihoodRequest>().ToList(), ct);
        var responses = new List<EvalResponse>();
        foreach (EvalRequest request in doc.Requests)
            responses.Add(request switch
            {
                RollingRequest rolling => await RollingAsync(rolling, ct),
                GenerateRequest generate => await GenerateAsync(generate, ct),
                _ => throw new InvalidOperationException(request.GetType().Name),
            });
        return responses;
    }

    private Task<int[]> TokenizeAsync(string text, bool addSpecial, CancellationToken ct) =>
        _tokens.GetOrAdd((text, addSpecial), key => TokenizeUncachedAsync(key.Item1, key.Item2, ct));

    private async Task<int[]> TokenizeUncachedAsync(string text, bool addSpecial, CancellationToken ct)
    {
        JsonNode response = await endpoint.TokenizeAsync(new JsonObject
        {
            ["model"] = options.Model,
            ["prompt"] = text,
            ["add_special_tokens"] = addSpecial,
        }, ct);
        return response["tokens"] is JsonArray tokens
            ? tokens.Select(t => (int)t!).ToArray()
            : throw new EndpointException("/tokenize answered without a \"tokens\" list (the server must offer vLLM's /tokenize, or set TokenizedRequests=false is not enough: loglikelihood needs token counts)");
    }

    private async Task<int> PrefixTokenAsync(CancellationToken ct)
    {
        if (_prefixToken is { } known) return known;
        int[] withSpecial = await TokenizeAsync("", addSpecial: true, ct);
        _prefixToken = withSpecial.Length > 0 ? withSpecial[0]
            : throw new EndpointException("the tokenizer adds no BOS token; set PrefixTokenId=\"...\" for empty contexts and rolling windows");
        return _prefixToken.Value;
    }

    /// <summary>lm-eval's <c>_encode_pair</c>: (context tokens, continuation tokens). Tokenizations are kept for the
    /// life of this instance, so a second encoding of the same text asks the server nothing.</summary>
    public async Task<(int[] Context, int[] Continuation)> EncodePairAsync(string context, string continuation, CancellationToken ct)
    {
        if (context.Length == 0)
            return ([await PrefixTokenAsync(ct)], await TokenizeAsync(continuation, options.AddBosToken, ct));
        int spaces = context.Length - context.TrimEnd().Length;
        if (spaces > 0)
        {
            continuation = context[^spaces..] + continuation;
            context = context[..^spaces];
        }
        int[] whole = await TokenizeAsync(context + continuation, options.AddBosToken, ct);
        int[] ctx = await TokenizeAsync(context, options.AddBosToken, ct);
        return (ctx, whole[ctx.Length..]);
    }

    private async Task<IReadOnlyList<EvalResponse>> LoglikelihoodAsync(IReadOnlyList<LoglikelihoodRequest> requests, CancellationToken ct)
    {
        var pairs = new List<(int[] Context, int[] Continuation)>();
        foreach (LoglikelihoodRequest r in requests) pairs.Add(await EncodePairAsync(r.Context, r.Continuation, ct));
        return (await ScoreTokensAsync(pairs, ct)).Select(r => (EvalResponse)r).ToList();
    }

    /// <summary>Scores one (context, continuation) token pair in a request of its own (lm-eval's way).</summary>
    /// <remarks>The request is exactly lm-eval's, whatever <see cref="ModelOptions.BatchChoices"/> says.</remarks>
    public async Task<LoglikelihoodResponse> ScorePairAsync((int[] Context, int[] Continuation) pair, CancellationToken ct) =>
        (await ScoreTokensAsync([pair], ct, asLmEval: true))[0];

    /// <summary>Scores (context, continuation) token pairs: one request for all of them, or one each as lm-eval sends
    /// them (<paramref name="asLmEval"/> or <see cref="ModelOptions.BatchChoices"/> false).</summary>
    private async Task<List<LoglikelihoodResponse>> ScoreTokensAsync(IReadOnlyList<(int[] Context, int[] Continuation)> pairs, CancellationToken ct, bool asLmEval = false)
    {
        int window = options.MaxLength - 1;
        var inputs = new List<int[]>();
        var ctxlens = new List<int>();
        foreach ((int[] context, int[] continuation) in pairs)
        {
            int[] all = [.. context, .. continuation];
            inputs.Add(all.Length > window ? all[^window..] : all);
            ctxlens.Add(context.Length - Math.Max(0, context.Length + continuation.Length - window));
        }
        if (asLmEval || !options.BatchChoices)
        {
            var one = new List<LoglikelihoodResponse>();
            for (int i = 0; i < inputs.Count; i++) one.AddRange(await EchoAsync([inputs[i]], [ctxlens[i]], ct, onlyContinuations: false));
            return one;
        }
        return await EchoAsync(inputs, ctxlens, ct, onlyContinuations: true);
    }

    /// <param name="onlyContinuations">Ask for no log-probabilities before each <c>ctxlen</c> (nothing here reads them).</param>
    private async Task<List<LoglikelihoodResponse>> EchoAsync(IReadOnlyList<int[]> inputs, IReadOnlyList<int> ctxlens, CancellationToken ct, bool onlyContinuations)
    {
        JsonNode prompt = options.TokenizedRequests
            ? new JsonArray(inputs.Select(t => (JsonNode)new JsonArray(t.Select(x => (JsonNode)x).ToArray())).ToArray())
            : throw new EndpointException("loglikelihood requests need TokenizedRequests=true: the continuation is located by token count");
        var body = new JsonObject
        {
            ["model"] = options.Model,
            ["prompt"] = prompt,
            ["temperature"] = 0,
            ["max_tokens"] = 1,
            ["logprobs"] = 1,
            ["seed"] = options.Seed,
            ["echo"] = true,
        };
        JsonNode response;
        if (onlyContinuations && options.OnlyContinuationLogprobs && !_logprobsFromRefused)
        {
            body[LogprobsFromField] = new JsonArray(ctxlens.Select(c => (JsonNode)c).ToArray());
            try
            {
                response = await endpoint.CompletionsAsync(body, ct);
            }
            catch (EndpointException e) when (e.Status is HttpStatusCode.BadRequest or HttpStatusCode.UnprocessableEntity)
            {
                // A strict server that refuses unknown fields: the same request without the extension; if that one is
                // answered, the extension was the problem and is not sent again.
                body.Remove(LogprobsFromField);
                response = await endpoint.CompletionsAsync(body, ct);
                _logprobsFromRefused = true;
            }
        }
        else response = await endpoint.CompletionsAsync(body, ct);
        CountUsage(response);
        JsonNode[] choices = (response["choices"] as JsonArray ?? throw new EndpointException("/v1/completions answered without choices"))
            .Select(c => c!).OrderBy(c => (int?)c["index"] ?? 0).ToArray();
        if (choices.Length != inputs.Count)
            throw new EndpointException($"/v1/completions answered {choices.Length} choices for {inputs.Count} prompts");
        var results = new List<LoglikelihoodResponse>();
        for (int i = 0; i < choices.Length; i++) results.Add(ParseLogprobs(choices[i], inputs[i].Length, ctxlens[i]));
        return results;
    }

    /// <summary>lm-eval's <c>parse_logprobs</c>: Σ token_logprobs[ctxlen:-1]; greedy while each equals its top-1.</summary>
    internal static LoglikelihoodResponse ParseLogprobs(JsonNode choice, int promptTokens, int ctxlen)
    {
        if (ctxlen <= 0) throw new EndpointException("Context length must be greater than 0");
        JsonArray tokenLogprobs = choice["logprobs"]?["token_logprobs"] as JsonArray
            ?? throw new EndpointException("a choice has no logprobs.token_logprobs: the server does not return prompt log-probabilities with echo (see lm-eval.md §5)");
        JsonArray? top = choice["logprobs"]?["top_logprobs"] as JsonArray;
        if (tokenLogprobs.Count < promptTokens)
            throw new EndpointException($"echo returned {tokenLogprobs.Count} token log-probs for a {promptTokens}-token prompt");
        double sum = 0;
        bool greedy = true;
        for (int pos = ctxlen; pos < tokenLogprobs.Count - 1; pos++)
        {
            double lp = (double)tokenLogprobs[pos]!;
            sum += lp;
            if (greedy && top?[pos] is JsonObject candidates && candidates.Count > 0)
                greedy = lp == candidates.Max(c => (double)c.Value!);
        }
        return new LoglikelihoodResponse(sum, greedy);
    }

    private async Task<RollingResponse> RollingAsync(RollingRequest request, CancellationToken ct)
    {
        int[] tokens = await TokenizeAsync(request.Text, addSpecial: false, ct);
        int prefix = await PrefixTokenAsync(ct);
        var windows = RollingWindows(tokens, prefix, options.MaxLength - 2);
        double total = 0;
        foreach (LoglikelihoodResponse r in await ScoreTokensAsync(windows, ct)) total += r.LogLikelihood;
        return new RollingResponse(total);
    }

    /// <summary><c>get_rolling_token_windows(tokens, prefix, max_seq_len, context_len=1)</c> + <c>make_disjoint_window</c>.</summary>
    public static List<(int[] Context, int[] Continuation)> RollingWindows(int[] tokens, int prefix, int maxSeqLen)
    {
        var windows = new List<(int[], int[])>();
        if (tokens.Length == 0) return windows;
        int predLen = maxSeqLen;  // max_seq_len - context_len + 1 with context_len = 1
        int first = Math.Min(maxSeqLen, tokens.Length);
        windows.Add(Disjoint([prefix, .. tokens[..(first - 1)]], tokens[..first]));
        int predicted = first;
        while (predicted < tokens.Length)
        {
            int windowPred = Math.Min(tokens.Length - predicted, predLen);
            int end = predicted + windowPred;
            windows.Add(Disjoint(tokens[(end - maxSeqLen - 1)..(end - 1)], tokens[(end - windowPred)..end]));
            predicted += windowPred;
        }
        return windows;

        static (int[], int[]) Disjoint(int[] a, int[] b) => (a[..(a.Length - (b.Length - 1))], b);
    }

    private async Task<GenerateResponse> GenerateAsync(GenerateRequest request, CancellationToken ct)
    {
        var kwargs = (JsonObject)request.GenKwargs.DeepClone();
        kwargs.Remove("do_sample");
        List<string> until = request.Until.ToList();
        kwargs.Remove("until");
        int maxTokens = options.MaxGenToks;
        if (AsInt(kwargs["max_gen_toks"]) is { } mg) { maxTokens = mg; kwargs.Remove("max_gen_toks"); }
        if (AsInt(kwargs["max_tokens"]) is { } mt) { maxTokens = mt; kwargs.Remove("max_tokens"); }
        JsonNode temperature = kwargs["temperature"]?.DeepClone() ?? JsonValue.Create(0);
        kwargs.Remove("temperature");

        JsonNode response;
        if (options.ChatEndpoint || request.Context.IsChat)
        {
            IReadOnlyList<ChatMessage> messages = request.Context.Messages ?? [new ChatMessage("user", request.Context.Text)];
            var body = new JsonObject
            {
                ["messages"] = new JsonArray(messages.Select(m => (JsonNode)new JsonObject { ["role"] = m.Role, ["content"] = m.Content }).ToArray()),
                ["model"] = options.Model,
                ["max_tokens"] = maxTokens,
                ["temperature"] = temperature,
                // lm-eval cuts stop to 4 entries for chat endpoints (OpenAI's limit).
                ["stop"] = new JsonArray(until.Take(4).Select(s => (JsonNode)s).ToArray()),
                ["seed"] = options.Seed,
            };
            foreach ((string k, JsonNode? v) in kwargs) body[k] = v?.DeepClone();
            response = await endpoint.ChatAsync(body, ct);
            CountUsage(response);
            return new GenerateResponse((string?)response["choices"]?[0]?["message"]?["content"] ?? "");
        }

        JsonNode prompt;
        if (options.TokenizedRequests)
        {
            int[] tokens = await TokenizeAsync(request.Context.Text, options.AddBosToken, ct);
            int keep = Math.Max(1, options.MaxLength - 1 - maxTokens);
            if (tokens.Length > keep) tokens = tokens[^keep..];
            prompt = new JsonArray(tokens.Select(t => (JsonNode)t).ToArray());
        }
        else prompt = request.Context.Text;
        var completion = new JsonObject
        {
            ["prompt"] = prompt,
            ["model"] = options.Model,
            ["max_tokens"] = maxTokens,
            ["temperature"] = temperature,
            ["stop"] = new JsonArray(until.Select(s => (JsonNode)s).ToArray()),
            ["seed"] = options.Seed,
        };
        foreach ((string k, JsonNode? v) in kwargs) completion[k] = v?.DeepClone();
        response = await endpoint.CompletionsAsync(completion, ct);
        CountUsage(response);
        return new GenerateResponse((string?)response["choices"]?[0]?["text"] ?? "");
    }

    private void CountUsage(JsonNode response)
    {
        if (response["usage"]?["prompt_tokens"] is JsonValue v && v.TryGetValue(out long n)) Interlocked.Add(ref _promptTokens, n);
    }

    private static int? AsInt(JsonNode? node) => node is JsonValue v
        ? v.TryGetValue(out int i) ? i : v.TryGetValue(out long l) ? (int)l : v.TryGetValue(out double d) ? (int)d
        : v.TryGetValue(out System.Text.Json.JsonElement e) && e.TryGetInt32(out int parsed) ? parsed : null
        : null;

    internal static string Invariant(double d) => d.ToString("R", CultureInfo.InvariantCulture);
}
