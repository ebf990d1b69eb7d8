using System.Buffers;
using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using System.Text.Json;
using MlxBench.Server.Engine;
using MlxBench.Server.Scheduling;

namespace MlxBench.Server.Api;

/// <summary>
/// <c>POST /v1/completions</c> with the whole contract lm-eval's <c>local-completions</c> relies on: <c>prompt</c> as
/// text, token ids, or a list of either; <c>echo</c> with <c>max_tokens</c> 0 or more; <c>logprobs: N</c> with
/// <c>tokens</c>, <c>token_logprobs</c> (first null), <c>top_logprobs</c> and <c>text_offset</c> for prompt and
/// completion tokens. Choice <c>i * n + j</c> is choice j of prompt i.
/// <para>Extension (MlxBench's evaluator; no other client sends it): <c>echo_logprobs_from</c>, a position or one per
/// prompt. With <c>echo</c> and <c>logprobs</c>, prompt positions before it get <c>null</c> in <c>token_logprobs</c>
/// and <c>top_logprobs</c> and are decoded without logits; the response keeps its shape and every other value (a
/// log-likelihood reads only its continuation's positions, so a context's rows are never computed).</para>
/// </summary>
internal static class CompletionsEndpoint
{
    public const int MaxPrompts = 1024;
    private const int DefaultMaxTokens = 16;   // OpenAI's and vLLM's default for this endpoint

    private sealed record Prompt(int[] Tokens, string? Text);

    public static async Task<IResult> HandleAsync(HttpContext http, ModelHost host)
    {
        JsonFields f = await JsonFields.ReadBodyAsync(http.Request, http.RequestAborted);
        GenerationParameters g = GenerationParameters.Read(f, "max_tokens");
        host.Require(g.Model);
        EngineModel model = host.Model;
        Scheduler scheduler = host.Scheduler;

        bool echo = f.Bool("echo") ?? false;
        int? logprobs = f.Get("logprobs") is { ValueKind: JsonValueKind.True or JsonValueKind.False } b
            ? (b.GetBoolean() ? 1 : null)
            : f.Int("logprobs", 0, scheduler.MaxLogprobs);
        if (f.String("suffix") is { Length: > 0 }) throw ApiError.BadRequest("'suffix' (insertion) is not supported by this server.", "suffix");
        f.Int("best_of", 1, GenerationParameters.MaxChoices);
        List<Prompt> prompts = ReadPrompts(f, model);
        int[] logprobsFrom = ReadLogprobsFrom(f, prompts.Count);

        var jobs = new List<SequenceJob>();
        var choices = new List<ChoiceResult>();
        for (int p = 0; p < prompts.Count; p++)
        {
            int budget = g.BudgetFor(prompts[p].Tokens.Length, scheduler.ContextSize, DefaultMaxTokens, "prompt");
            for (int j = 0; j < g.N; j++)
            {
                jobs.Add(new SequenceJob
                {
                    Prompt = prompts[p].Tokens,
                    MaxTokens = budget,
                    ScorePrompt = echo && logprobs is not null,
                    ScoreFrom = Math.Max(1, logprobsFrom[p]),
                    Logprobs = logprobs ?? -1,
                    Sampling = g.SamplingFor(j),
                    Stop = g.Stop,
                    IgnoreEos = g.IgnoreEos,
                    Cancellation = http.RequestAborted,
                    Stream = g.Stream,
                });
                choices.Add(new ChoiceResult(choices.Count, p));
            }
        }
        scheduler.Submit(jobs);

        var response = new ResponseInfo($"cmpl-{Guid.NewGuid():N}", DateTimeOffset.UtcNow.ToUnixTimeSeconds(), host.ModelId, echo, logprobs is not null);
        if (g.Stream)
            return TypedResults.ServerSentEvents(StreamAsync(jobs, choices, prompts, model, response, g.IncludeUsage, http.RequestAborted));

        await foreach ((int choice, SequenceEvent e) in JobEvents.ReadAllAsync(jobs, http.RequestAborted)) choices[choice].Apply(e);
        if (choices.FirstOrDefault(c => c.Failure is not null) is { } failed)
            throw new ApiError(500, $"Generation failed: {failed.Failure}");
        return Results.Bytes(WriteResponse(choices, prompts, model, response), "application/json");
    }

    private sealed record ResponseInfo(string Id, long Created, string Model, bool Echo, bool Logprobs);

    /// <summary><c>echo_logprobs_from</c>: a position for every prompt, or a list with one per prompt; 1 when absent.</summary>
    private static int[] ReadLogprobsFrom(JsonFields f, int promptCount)
    {
        const string name = "echo_logprobs_from";
        var from = new int[promptCount];
        if (f.Get(name) is not { } e)
        {
            Array.Fill(from, 1);
            return from;
        }
        static int Position(JsonElement item, string param) => item.ValueKind == JsonValueKind.Number && item.TryGetInt32(out int v) && v >= 0
            ? v : throw ApiError.BadRequest($"'{param}' must be a non-negative integer position, got {item.GetRawText()}.", name);
        if (e.ValueKind != JsonValueKind.Array)
        {
            Array.Fill(from, Position(e, name));
            return from;
        }
        if (e.GetArrayLength() != promptCount)
            throw ApiError.BadRequest($"'{name}' holds {e.GetArrayLength()} positions for {promptCount} prompts; give one per prompt or a single one.", name);
        int i = 0;
        foreach (JsonElement item in e.EnumerateArray()) from[i] = Position(item, $"{name}[{i++}]");
        return from;
    }

    private static List<Prompt> ReadPrompts(JsonFields f, EngineModel model)
    {
        if (f.Get("prompt") is not { } prompt) throw ApiError.BadRequest("'prompt' is required: a string, a list of token ids, or a list of either.", "prompt");
        Prompt FromText(string text) => new(model.Tokenize(text, model.AddBos, parseSpecial: true), text);
        Prompt FromIds(JsonElement ids, string param)
        {
            var tokens = new int[ids.GetArrayLength()];
            int i = 0;
            foreach (JsonElement id in ids.EnumerateArray())
            {
                if (id.ValueKind != JsonValueKind.Number || !id.TryGetInt32(out int token))
                    throw ApiError.BadRequest($"'{param}' must hold integer token ids; entry {i} is {id.GetRawText()}.", "prompt");
                if (!model.IsValidToken(token))
                    throw ApiError.BadRequest($"'{param}' entry {i} is token id {token}, outside this model's vocabulary (0..{model.VocabSize - 1}).", "prompt");
                tokens[i++] = token;
            }
            return new Prompt(tokens, null);
        }

        switch (prompt.ValueKind)
        {
            case JsonValueKind.String:
                return [FromText(prompt.GetString()!)];
            case JsonValueKind.Array:
                int count = prompt.GetArrayLength();
                if (count == 0) throw ApiError.BadRequest("'prompt' is an empty list.", "prompt");
                JsonValueKind first = prompt[0].ValueKind;
                if (first == JsonValueKind.Number) return [FromIds(prompt, "prompt")];
                if (count > MaxPrompts) throw ApiError.BadRequest($"'prompt' holds {count} prompts; at most {MaxPrompts} per request.", "prompt");
                var list = new List<Prompt>(count);
                int index = 0;
                foreach (JsonElement item in prompt.EnumerateArray())
                {
                    if (item.ValueKind != first)
                        throw ApiError.BadRequest("'prompt' mixes kinds: give a list of strings or a list of token-id lists.", "prompt");
                    list.Add(item.ValueKind switch
                    {
                        JsonValueKind.String => FromText(item.GetString()!),
                        JsonValueKind.Array => FromIds(item, $"prompt[{index}]"),
                        _ => throw JsonFields.WrongType($"prompt[{index}]", "a string or a list of token ids", item),
                    });
                    index++;
                }
                return list;
            default:
                throw JsonFields.WrongType("prompt", "a string, a list of token ids, or a list of either", prompt);
        }
    }

    private static byte[] WriteResponse(List<ChoiceResult> choices, List<Prompt> prompts, EngineModel model, ResponseInfo info)
    {
        var buffer = new ArrayBufferWriter<byte>(4096);
        using (var w = new Utf8JsonWriter(buffer, JsonBytesResult.WriterOptions))
        {
            ResponseHead.Write(w, info.Id, "text_completion", info.Created, info.Model);
            foreach (ChoiceResult c in choices)
            {
                Prompt prompt = prompts[c.PromptIndex];
                w.WriteStartObject();
                w.WriteNumber("index", c.Index);
                w.WriteString("text", (info.Echo ? EchoText(prompt, model) : "") + c.Text);
                w.WritePropertyName("logprobs");
                if (info.Logprobs) WriteLogprobs(w, c, info.Echo ? prompt : null, model, c.Tokens, new TextOffsets(model));
                else w.WriteNullValue();
                w.WriteString("finish_reason", Reason(c.Finish));
                w.WriteEndObject();
            }
            w.WriteEndArray();
            WriteUsage(w, choices);
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    private static string EchoText(Prompt prompt, EngineModel model) => prompt.Text ?? model.Detokenize(prompt.Tokens, stripLeading: true);

    /// <summary>The legacy shape: parallel arrays over the echoed prompt tokens (when <paramref name="prompt"/> is
    /// given) and the generated tokens.</summary>
    private static void WriteLogprobs(Utf8JsonWriter w, ChoiceResult c, Prompt? prompt, EngineModel model, IReadOnlyList<TokenGenerated> generated, TextOffsets offsets)
    {
        int[] promptOffsets = prompt is null ? [] : offsets.ForPrompt(prompt.Tokens);
        // When the echoed prompt is the client's own text, completion offsets continue from its length.
        if (prompt?.Text is { } text) offsets.MoveTo(text.EnumerateRunes().Count());
        var generatedOffsets = new int[generated.Count];
        for (int i = 0; i < generated.Count; i++) generatedOffsets[i] = offsets.Next(generated[i].Token);

        w.WriteStartObject();
        w.WriteStartArray("tokens");
        if (prompt is not null) foreach (int t in prompt.Tokens) w.WriteStringValue(model.DisplayText(t));
        foreach (TokenGenerated t in generated) w.WriteStringValue(model.DisplayText(t.Token));
        w.WriteEndArray();

        w.WriteStartArray("token_logprobs");
        if (prompt is not null)
            for (int i = 0; i < prompt.Tokens.Length; i++)
                if (c.PromptLogprobs?[i] is { } lp) LogprobJson.Number(w, lp.Logprob); else w.WriteNullValue();
        foreach (TokenGenerated t in generated)
            if (t.Logprob is { } lp) LogprobJson.Number(w, lp.Logprob); else w.WriteNullValue();
        w.WriteEndArray();

        w.WriteStartArray("top_logprobs");
        if (prompt is not null)
            for (int i = 0; i < prompt.Tokens.Length; i++)
                if (c.PromptLogprobs?[i] is { } lp) LogprobJson.TopDictionary(w, model, lp); else w.WriteNullValue();
        foreach (TokenGenerated t in generated)
            if (t.Logprob is { } lp) LogprobJson.TopDictionary(w, model, lp); else w.WriteNullValue();
        w.WriteEndArray();

        w.WriteStartArray("text_offset");
        foreach (int o in promptOffsets) w.WriteNumberValue(o);
        foreach (int o in generatedOffsets) w.WriteNumberValue(o);
        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static string Reason(FinishReason? reason) => reason == FinishReason.Stop ? "stop" : "length";

    private static void WriteUsage(Utf8JsonWriter w, IReadOnlyList<ChoiceResult> choices)
    {
        // A prompt counts once however many choices it has (as vLLM and OpenAI count).
        var perPrompt = choices.GroupBy(c => c.PromptIndex).Select(g => g.First()).ToList();
        int prompt = perPrompt.Sum(c => c.PromptTokens);
        int cached = perPrompt.Sum(c => c.CachedTokens);
        int completion = choices.Sum(c => c.CompletionTokens);
        w.WriteStartObject("usage");
        w.WriteNumber("prompt_tokens", prompt);
        w.WriteNumber("completion_tokens", completion);
        w.WriteNumber("total_tokens", prompt + completion);
        w.WriteStartObject("prompt_tokens_details");
        w.WriteNumber("cached_tokens", cached);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    internal static void WriteUsageChunk(Utf8JsonWriter w, IReadOnlyList<ChoiceResult> choices) => WriteUsage(w, choices);

    private static async IAsyncEnumerable<string> StreamAsync(List<SequenceJob> jobs, List<ChoiceResult> choices, List<Prompt> prompts, EngineModel model,
        ResponseInfo info, bool includeUsage, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var sentEcho = new bool[choices.Count];
        TextOffsets[] offsets = choices.Select(_ => new TextOffsets(model)).ToArray();
        var buffer = new ArrayBufferWriter<byte>(1024);
        await foreach ((int choice, SequenceEvent e) in JobEvents.ReadAllAsync(jobs, cancellationToken))
        {
            ChoiceResult c = choices[choice];
            Prompt prompt = prompts[c.PromptIndex];
            string delta = c.Apply(e);
            if (e is SequenceFailed failed)
            {
                yield return System.Text.Encoding.UTF8.GetString(new ApiError(500, $"Generation failed: {failed.Message}").ToJson());
                yield break;
            }
            if (e is PromptScored) continue;   // sent with the echo chunk below
            buffer.ResetWrittenCount();
            using (var w = new Utf8JsonWriter(buffer, JsonBytesResult.WriterOptions))
            {
                ResponseHead.Write(w, info.Id, "text_completion", info.Created, info.Model);
                w.WriteStartObject();
                w.WriteNumber("index", choice);
                string echo = info.Echo && !sentEcho[choice] ? EchoText(prompt, model) : "";
                w.WriteString("text", echo + delta);
                w.WritePropertyName("logprobs");
                // One event per generated token: a TokenGenerated, or the SequenceFinished that carries the last one.
                TokenGenerated? token = e switch { TokenGenerated t => t, SequenceFinished f => f.Last, _ => null };
                if (info.Logprobs && (token is not null || (info.Echo && !sentEcho[choice])))
                    WriteLogprobs(w, c, info.Echo && !sentEcho[choice] ? prompt : null, model, token is null ? [] : [token], offsets[choice]);
                else w.WriteNullValue();
                sentEcho[choice] = true;
                if (e is SequenceFinished) w.WriteString("finish_reason", Reason(c.Finish));
                else w.WriteNull("finish_reason");
                w.WriteEndObject();
                w.WriteEndArray();
                if (includeUsage) w.WriteNull("usage");
                w.WriteEndObject();
            }
            yield return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
        }
        // Every token has been sent (inline, by the engine thread); what is left (usage, [DONE], ending the response and
        // perhaps reading the connection's next request) is done on the thread pool, not while other streams wait.
        await Task.Yield();
        if (includeUsage)
        {
            buffer.ResetWrittenCount();
            using (var w = new Utf8JsonWriter(buffer, JsonBytesResult.WriterOptions))
            {
                ResponseHead.Write(w, info.Id, "text_completion", info.Created, info.Model);
                w.WriteEndArray();
                WriteUsage(w, choices);
                w.WriteEndObject();
            }
            yield return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
        }
        yield return "[DONE]";
    }
}
