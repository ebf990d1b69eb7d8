using System.Buffers;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using MlxBench.Server.Engine;
using MlxBench.Server.Scheduling;
using MlxBench.Server.Text;

namespace MlxBench.Server.Api;

/// <summary>
/// <c>POST /v1/chat/completions</c>: messages rendered with the model's chat template, then generated like a
/// completion. <c>logprobs: true</c> with <c>top_logprobs: N</c> gives the chat shape
/// <c>{"content": [{token, logprob, bytes, top_logprobs}]}</c>.
/// </summary>
internal static class ChatCompletionsEndpoint
{
    public const int MaxMessages = 4096;

    public static async Task<IResult> HandleAsync(HttpContext http, ModelHost host)
    {
        JsonFields f = await JsonFields.ReadBodyAsync(http.Request, http.RequestAborted);
        GenerationParameters g = GenerationParameters.Read(f, "max_completion_tokens");
        host.Require(g.Model);
        EngineModel model = host.Model;
        Scheduler scheduler = host.Scheduler;

        List<ChatMessage> messages = ReadMessages(f);
        bool logprobs = f.Bool("logprobs") ?? false;
        int top = f.Int("top_logprobs", 0, scheduler.MaxLogprobs) ?? 0;
        if (!logprobs && f.Has("top_logprobs") && top > 0) throw ApiError.BadRequest("'top_logprobs' needs 'logprobs': true.", "top_logprobs");
        bool addGenerationPrompt = f.Bool("add_generation_prompt") ?? true;

        string text;
        try
        {
            text = host.ChatTemplate.Render(messages, addGenerationPrompt);
        }
        catch (JinjaException e)
        {
            throw ApiError.BadRequest($"The chat template refused these messages: {e.Message}", "messages");
        }
        bool addBos = model.AddBos && !(model.BosText is { Length: > 0 } bos && text.StartsWith(bos, StringComparison.Ordinal));
        int[] prompt = model.Tokenize(text, addBos, parseSpecial: true);
        int budget = g.BudgetFor(prompt.Length, scheduler.ContextSize, null, "messages");

        var jobs = new List<SequenceJob>();
        var choices = new List<ChoiceResult>();
        for (int j = 0; j < g.N; j++)
        {
            jobs.Add(new SequenceJob
            {
                Prompt = prompt,
                MaxTokens = budget,
                Logprobs = logprobs ? top : -1,
                Sampling = g.SamplingFor(j),
                Stop = g.Stop,
                IgnoreEos = g.IgnoreEos,
                Cancellation = http.RequestAborted,
                Stream = g.Stream,
            });
            choices.Add(new ChoiceResult(j, 0));
        }
        scheduler.Submit(jobs);

        string id = $"chatcmpl-{Guid.NewGuid():N}";
        long created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        if (g.Stream)
            return TypedResults.ServerSentEvents(StreamAsync(jobs, choices, model, id, created, host.ModelId, logprobs, top, g.IncludeUsage, http.RequestAborted));

        await foreach ((int choice, SequenceEvent e) in JobEvents.ReadAllAsync(jobs, http.RequestAborted)) choices[choice].Apply(e);
        if (choices.FirstOrDefault(c => c.Failure is not null) is { } failed)
            throw new ApiError(500, $"Generation failed: {failed.Failure}");

        var buffer = new ArrayBufferWriter<byte>(2048);
        using (var w = new Utf8JsonWriter(buffer, JsonBytesResult.WriterOptions))
        {
            ResponseHead.Write(w, id, "chat.completion", created, host.ModelId);
            foreach (ChoiceResult c in choices)
            {
                w.WriteStartObject();
                w.WriteNumber("index", c.Index);
                w.WriteStartObject("message");
                w.WriteString("role", "assistant");
                w.WriteString("content", c.Text.ToString());
                w.WriteEndObject();
                w.WritePropertyName("logprobs");
                if (logprobs) WriteChatLogprobs(w, model, c.Tokens, top); else w.WriteNullValue();
                w.WriteString("finish_reason", c.Finish == FinishReason.Stop ? "stop" : "length");
                w.WriteEndObject();
            }
            w.WriteEndArray();
            CompletionsEndpoint.WriteUsageChunk(w, choices);
            w.WriteEndObject();
        }
        return Results.Bytes(buffer.WrittenSpan.ToArray(), "application/json");
    }

    private static List<ChatMessage> ReadMessages(JsonFields f)
    {
        if (f.Get("messages") is not { } messages) throw ApiError.BadRequest("'messages' is required: a list of {role, content}.", "messages");
        if (messages.ValueKind != JsonValueKind.Array) throw JsonFields.WrongType("messages", "a list of messages", messages);
        int count = messages.GetArrayLength();
        if (count == 0) throw ApiError.BadRequest("'messages' is empty.", "messages");
        if (count > MaxMessages) throw ApiError.BadRequest($"'messages' holds {count} messages; at most {MaxMessages}.", "messages");
        var list = new List<ChatMessage>(count);
        int i = 0;
        foreach (JsonElement m in messages.EnumerateArray())
        {
            string param = $"messages[{i++}]";
            if (m.ValueKind != JsonValueKind.Object) throw JsonFields.WrongType(param, "an object", m);
            var fields = new JsonFields(m);
            string role = fields.String("role") ?? throw ApiError.BadRequest($"'{param}.role' is required.", param);
            list.Add(new ChatMessage(role, ReadContent(fields.Get("content"), param)));
        }
        return list;
    }

    /// <summary>Content is a string, null, or a list of parts of which the text parts are joined.</summary>
    private static string ReadContent(JsonElement? content, string param)
    {
        if (content is not { } c) return "";
        if (c.ValueKind == JsonValueKind.String) return c.GetString()!;
        if (c.ValueKind != JsonValueKind.Array) throw JsonFields.WrongType(param + ".content", "a string or a list of content parts", c);
        var sb = new StringBuilder();
        foreach (JsonElement part in c.EnumerateArray())
        {
            if (part.ValueKind != JsonValueKind.Object) throw JsonFields.WrongType(param + ".content[]", "an object", part);
            var fields = new JsonFields(part);
            string type = fields.String("type") ?? "text";
            if (type != "text") throw ApiError.BadRequest($"'{param}.content' has a part of type '{type}'; this server takes text only.", param);
            sb.Append(fields.String("text") ?? "");
        }
        return sb.ToString();
    }

    private static void WriteChatLogprobs(Utf8JsonWriter w, EngineModel model, IReadOnlyList<TokenGenerated> tokens, int top)
    {
        w.WriteStartObject();
        w.WriteStartArray("content");
        foreach (TokenGenerated t in tokens)
        {
            if (t.Logprob is not { } lp) continue;
            w.WriteStartObject();
            WriteTokenFields(w, model, lp.Token, lp.Logprob);
            w.WriteStartArray("top_logprobs");
            for (int i = 0; i < Math.Min(top, lp.TopTokens.Length); i++)
            {
                w.WriteStartObject();
                WriteTokenFields(w, model, lp.TopTokens[i], lp.TopLogprobs[i]);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void WriteTokenFields(Utf8JsonWriter w, EngineModel model, int token, float logprob)
    {
        w.WriteString("token", model.DisplayText(token));
        w.WritePropertyName("logprob");
        LogprobJson.Number(w, logprob);
        w.WriteStartArray("bytes");
        foreach (byte b in model.Piece(token)) w.WriteNumberValue(b);
        w.WriteEndArray();
    }

    private static async IAsyncEnumerable<string> StreamAsync(List<SequenceJob> jobs, List<ChoiceResult> choices, EngineModel model, string id, long created,
        string modelId, bool logprobs, int top, bool includeUsage, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var buffer = new ArrayBufferWriter<byte>(1024);
        string Chunk(int index, string? role, string? content, TokenGenerated? token, string? finish)
        {
            buffer.ResetWrittenCount();
            using (var w = new Utf8JsonWriter(buffer, JsonBytesResult.WriterOptions))
            {
                ResponseHead.Write(w, id, "chat.completion.chunk", created, modelId);
                w.WriteStartObject();
                w.WriteNumber("index", index);
                w.WriteStartObject("delta");
                if (role is not null) w.WriteString("role", role);
                if (content is not null) w.WriteString("content", content);
                w.WriteEndObject();
                w.WritePropertyName("logprobs");
                if (logprobs && token is not null) WriteChatLogprobs(w, model, [token], top); else w.WriteNullValue();
                if (finish is null) w.WriteNull("finish_reason"); else w.WriteString("finish_reason", finish);
                w.WriteEndObject();
                w.WriteEndArray();
                if (includeUsage) w.WriteNull("usage");
                w.WriteEndObject();
            }
            return Encoding.UTF8.GetString(buffer.WrittenSpan);
        }

        for (int i = 0; i < choices.Count; i++) yield return Chunk(i, "assistant", "", null, null);
        await foreach ((int choice, SequenceEvent e) in JobEvents.ReadAllAsync(jobs, cancellationToken))
        {
            string delta = choices[choice].Apply(e);
            switch (e)
            {
                case SequenceFailed failed:
                    yield return Encoding.UTF8.GetString(new ApiError(500, $"Generation failed: {failed.Message}").ToJson());
                    yield break;
                case TokenGenerated t:
                    yield return Chunk(choice, null, delta, t, null);
                    break;
                case SequenceFinished f:
                    // The last token and the finish reason in one chunk (as vLLM sends them): one chunk per token.
                    yield return Chunk(choice, null, f.Last is not null || delta.Length > 0 ? delta : null, f.Last, choices[choice].Finish == FinishReason.Stop ? "stop" : "length");
                    break;
            }
        }
        // Every token has been sent (inline, by the engine thread); what is left (usage, [DONE], ending the response and
        // perhaps reading the connection's next request) is done on the thread pool, not while other streams wait.
        await Task.Yield();
        if (includeUsage)
        {
            buffer.ResetWrittenCount();
            using (var w = new Utf8JsonWriter(buffer, JsonBytesResult.WriterOptions))
            {
                ResponseHead.Write(w, id, "chat.completion.chunk", created, modelId);
                w.WriteEndArray();
                CompletionsEndpoint.WriteUsageChunk(w, choices);
                w.WriteEndObject();
            }
            yield return Encoding.UTF8.GetString(buffer.WrittenSpan);
        }
        yield return "[DONE]";
    }
}
