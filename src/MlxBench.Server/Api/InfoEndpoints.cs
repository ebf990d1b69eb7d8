using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using MlxBench.Server.Engine;
using MlxBench.Server.Scheduling;
using MlxBench.Server.Text;

namespace MlxBench.Server.Api;

/// <summary>
/// The small routes: <c>/health</c>, <c>/v1/models</c>, <c>/metrics</c>, and vLLM's tokenizer routes
/// (<c>/tokenize</c>, <c>/detokenize</c>, <c>/tokenizer_info</c>) in the shapes lm-eval's remote tokenizer reads, so it
/// needs no HuggingFace tokenizer download.
/// </summary>
internal static class InfoEndpoints
{
    public static IResult Health(ModelHost host) => host.State switch
    {
        HostState.Ready => Json(w => w.WriteString("status", "ok")),
        HostState.Loading => Json(w => w.WriteString("status", "loading"), 503),
        _ => Json(w => { w.WriteString("status", "failed"); w.WriteString("message", host.FailureMessage); }, 500),
    };

    public static IResult Models(ModelHost host)
    {
        host.Require(null);
        return Json(w =>
        {
            w.WriteString("object", "list");
            w.WriteStartArray("data");
            w.WriteStartObject();
            w.WriteString("id", host.ModelId);
            w.WriteString("object", "model");
            w.WriteNumber("created", host.Created.ToUnixTimeSeconds());
            w.WriteString("owned_by", "mlxbench");
            w.WriteNumber("max_model_len", host.Scheduler.ContextSize);
            w.WriteEndObject();
            w.WriteEndArray();
        });
    }

    /// <summary><c>POST /tokenize</c>: <c>{prompt, add_special_tokens = true}</c> or <c>{messages, add_generation_prompt}</c>
    /// → <c>{count, max_model_len, tokens, token_strs}</c>.</summary>
    public static async Task<IResult> TokenizeAsync(HttpContext http, ModelHost host)
    {
        JsonFields f = await JsonFields.ReadBodyAsync(http.Request, http.RequestAborted);
        host.Require(f.String("model"));
        EngineModel model = host.Model;
        bool addSpecial = f.Bool("add_special_tokens") ?? true;
        bool returnStrings = f.Bool("return_token_strs") ?? false;
        string text;
        if (f.Has("messages"))
        {
            if (f.Get("messages") is not { ValueKind: JsonValueKind.Array } list) throw ApiError.BadRequest("'messages' must be a list of messages.", "messages");
            var messages = list.EnumerateArray().Select(m => m.ValueKind == JsonValueKind.Object
                ? new ChatMessage(new JsonFields(m).String("role") ?? "user", new JsonFields(m).String("content") ?? "")
                : throw JsonFields.WrongType("messages[]", "an object", m)).ToList();
            try
            {
                text = host.ChatTemplate.Render(messages, f.Bool("add_generation_prompt") ?? true);
            }
            catch (JinjaException e)
            {
                throw ApiError.BadRequest($"The chat template refused these messages: {e.Message}", "messages");
            }
            addSpecial = addSpecial && !(model.BosText is { Length: > 0 } bos && text.StartsWith(bos, StringComparison.Ordinal));
        }
        else text = f.String("prompt") ?? throw ApiError.BadRequest("'prompt' (a string) or 'messages' is required.", "prompt");
        int[] tokens = model.Tokenize(text, addSpecial && model.AddBos, parseSpecial: true);
        return Json(w =>
        {
            w.WriteNumber("count", tokens.Length);
            w.WriteNumber("max_model_len", host.Scheduler.ContextSize);
            w.WriteStartArray("tokens");
            foreach (int t in tokens) w.WriteNumberValue(t);
            w.WriteEndArray();
            if (returnStrings)
            {
                w.WriteStartArray("token_strs");
                foreach (int t in tokens) w.WriteStringValue(model.DisplayText(t));
                w.WriteEndArray();
            }
            else w.WriteNull("token_strs");
        });
    }

    /// <summary><c>POST /detokenize</c>: <c>{tokens}</c> → <c>{prompt}</c>.</summary>
    public static async Task<IResult> DetokenizeAsync(HttpContext http, ModelHost host)
    {
        JsonFields f = await JsonFields.ReadBodyAsync(http.Request, http.RequestAborted);
        host.Require(f.String("model"));
        EngineModel model = host.Model;
        if (f.Get("tokens") is not { ValueKind: JsonValueKind.Array } list) throw ApiError.BadRequest("'tokens' (a list of token ids) is required.", "tokens");
        var tokens = new int[list.GetArrayLength()];
        int i = 0;
        foreach (JsonElement t in list.EnumerateArray())
        {
            if (t.ValueKind != JsonValueKind.Number || !t.TryGetInt32(out int id) || !model.IsValidToken(id))
                throw ApiError.BadRequest($"'tokens' entry {i} is not a token id of this model (0..{model.VocabSize - 1}).", "tokens");
            tokens[i++] = id;
        }
        string text = model.Detokenize(tokens, stripLeading: true);
        return Json(w => w.WriteString("prompt", text));
    }

    /// <summary><c>GET /tokenizer_info</c>: what lm-eval's <c>tokenizer_backend=auto</c> probes for (<c>eos_token</c>).</summary>
    public static IResult TokenizerInfo(ModelHost host)
    {
        host.Require(null);
        EngineModel model = host.Model;
        return Json(w =>
        {
            w.WriteString("tokenizer_class", model.Meta("tokenizer.ggml.model") is "gpt2" ? "GPT2TokenizerFast" : "LlamaTokenizerFast");
            WriteOptional(w, "bos_token", model.BosText);
            WriteOptional(w, "eos_token", model.EosText);
            w.WriteNull("pad_token");
            w.WriteBoolean("add_bos_token", model.AddBos);
            w.WriteNumber("model_max_length", host.Scheduler.ContextSize);
            w.WriteNumber("vocab_size", model.VocabSize);
            w.WriteString("chat_template", host.ChatTemplate.Text);
            w.WriteString("chat_template_source", host.ChatTemplate.Source);
        });
    }

    /// <summary><c>GET /metrics</c>: scheduler counters in Prometheus text format.</summary>
    public static IResult Metrics(ModelHost host)
    {
        var sb = new StringBuilder();
        void Metric(string name, string type, double value, string help)
        {
            sb.Append("# HELP mlxbench_").Append(name).Append(' ').Append(help).Append('\n');
            sb.Append("# TYPE mlxbench_").Append(name).Append(' ').Append(type).Append('\n');
            sb.Append("mlxbench_").Append(name).Append(' ').Append(value.ToString(CultureInfo.InvariantCulture)).Append('\n');
        }
        if (host.State == HostState.Ready)
        {
            SchedulerCounters c = host.Scheduler.Counters;
            Metric("prompt_tokens_evaluated_total", "counter", c.PromptTokensEvaluated, "Prompt tokens run through the model.");
            Metric("prompt_tokens_reused_total", "counter", c.PromptTokensReused, "Prompt tokens taken from a cached prefix instead.");
            Metric("generation_tokens_total", "counter", c.GeneratedTokens, "Tokens generated.");
            Metric("decode_steps_total", "counter", c.DecodeSteps, "Engine decode calls.");
            Metric("batch_sequences_max", "gauge", c.MaxSequencesPerStep, "Most sequences decoded in one step.");
            Metric("decode_seconds_total", "counter", c.DecodeTicks / (double)System.Diagnostics.Stopwatch.Frequency, "Time the engine thread spent in mlxb_decode.");
            Metric("step_seconds_total", "counter", c.StepTicks / (double)System.Diagnostics.Stopwatch.Frequency, "Time the engine thread spent in steps (decode, sampling, scoring, handing events on).");
            Metric("sample_seconds_total", "counter", c.SampleTicks / (double)System.Diagnostics.Stopwatch.Frequency, "Time the engine thread spent sampling generated tokens.");
            Metric("emit_seconds_total", "counter", c.EmitTicks / (double)System.Diagnostics.Stopwatch.Frequency, "Time the engine thread spent handing generated tokens on (for a stream, its SSE writer runs inline).");
            Metric("relay_seconds_total", "counter", host.Scheduler.RelaySeconds, "Time the stream relay thread spent sending streamed tokens (formatting and writing their SSE chunks).");
            Metric("scored_rows_total", "counter", host.Scheduler.ScoredRows.All, "Prompt positions whose log-probabilities were computed.");
            Metric("scored_rows_helper_total", "counter", host.Scheduler.ScoredRows.ByHelper, "Of those, computed by the scoring helper thread beside the engine thread.");
            Metric("requests_running", "gauge", c.Running, "Sequences holding a KV slot.");
            Metric("requests_waiting", "gauge", c.Waiting, "Sequences waiting for a slot.");
            Metric("sequences_cancelled_total", "counter", c.Cancelled, "Sequences dropped because their client went away.");
        }
        return Results.Text(sb.ToString(), "text/plain; version=0.0.4");
    }

    private static void WriteOptional(Utf8JsonWriter w, string name, string? value)
    {
        if (value is null) w.WriteNull(name); else w.WriteString(name, value);
    }

    private static IResult Json(Action<Utf8JsonWriter> body, int status = 200)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var w = new Utf8JsonWriter(buffer, JsonBytesResult.WriterOptions))
        {
            w.WriteStartObject();
            body(w);
            w.WriteEndObject();
        }
        return new JsonBytesResult(buffer.WrittenSpan.ToArray(), status);
    }
}
