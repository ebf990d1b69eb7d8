using System.Globalization;
using System.Text.Json;
using MlxBench.Harness.Serving.Client;
using MlxBench.Harness.Serving.Metrics;

namespace MlxBench.Harness.Serving.Results;

/// <summary>What a result object says about the run besides its metrics.</summary>
public sealed record RunDescription(string ModelId, ServingOptions Options, string PromptMode, string HarnessVersion, DateTime LocalTime);

/// <summary>
/// Writes one level as a <c>vllm bench serve</c> result object, keys in vLLM's order (date … total_token_throughput,
/// latencies, queue_times, max_output_tokens_per_s, max_concurrent_requests, rtfx, then mean/median/std/pXX per
/// metric in ms, <c>request_rate</c> as the string "inf", <c>request_goodput</c> null without SLOs), so tools that
/// read vLLM results read ours. What vLLM does not have goes under one <c>mlxbench</c> key, including the tags the
/// converter puts on every result of the level.
/// </summary>
public static class VllmResultWriter
{
    public static void Write(Utf8JsonWriter json, LevelMetrics metrics, RunDescription run)
    {
        ServingOptions options = run.Options;
        LoadLevel level = metrics.Run.Level;
        RequestRecord[] records = metrics.Run.Records;
        double Rel(long ticks) => LevelMetrics.Seconds(ticks - metrics.Run.StartTicks);

        json.WriteStartObject();
        json.WriteString("date", run.LocalTime.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture));
        json.WriteString("endpoint_type", options.Backend);
        json.WriteString("backend", options.Backend);
        json.WriteNull("label");
        json.WriteString("model_id", run.ModelId);
        json.WriteNull("tokenizer_id");
        json.WriteNumber("num_prompts", records.Length);
        if (double.IsPositiveInfinity(level.RequestRate)) json.WriteString("request_rate", "inf");
        else WriteFloat(json, "request_rate", level.RequestRate);
        if (double.IsPositiveInfinity(options.Burstiness)) json.WriteString("burstiness", "inf");
        else WriteFloat(json, "burstiness", options.Burstiness);
        if (level.MaxConcurrency is { } c) json.WriteNumber("max_concurrency", c);
        else json.WriteNull("max_concurrency");

        json.WriteNumber("duration", metrics.Duration);
        json.WriteNumber("completed", metrics.Completed);
        json.WriteNumber("failed", metrics.Failed);
        json.WriteNumber("total_input_tokens", metrics.TotalInputTokens);
        json.WriteNumber("total_output_tokens", metrics.TotalOutputTokens);
        json.WriteNumber("request_throughput", metrics.RequestThroughput);
        if (metrics.RequestGoodput is { } goodput) json.WriteNumber("request_goodput", goodput);
        else json.WriteNull("request_goodput");
        json.WriteNumber("output_throughput", metrics.OutputThroughput);
        json.WriteNumber("total_token_throughput", metrics.TotalTokenThroughput);

        if (options.SaveDetailed)
        {
            WriteArray(json, "input_lens", records.Select(r => (double)r.PromptTokens));
            WriteArray(json, "output_lens", records.Select(r => r.Success ? (double)r.OutputTokens : 0));
            WriteArray(json, "ttfts", records.Select(r => r.Success ? LevelMetrics.Seconds(r.FirstChunkTicks - r.StartTicks) : 0));
            json.WriteStartArray("itls");
            foreach (RequestRecord r in records)
            {
                json.WriteStartArray();
                ReadOnlySpan<long> chunks = r.Success ? r.ChunkTicks : [];
                for (int i = 1; i < chunks.Length; i++) json.WriteNumberValue(LevelMetrics.Seconds(chunks[i] - chunks[i - 1]));
                json.WriteEndArray();
            }
            json.WriteEndArray();
            WriteArray(json, "start_times", records.Select(r => Rel(r.StartTicks)));
            json.WriteStartArray("errors");
            foreach (RequestRecord r in records) json.WriteStringValue(r.Error ?? "");
            json.WriteEndArray();
        }
        WriteArray(json, "latencies", records.Select(r => r.Success ? LevelMetrics.Seconds(r.LastChunkTicks - r.StartTicks) : 0));
        WriteArray(json, "queue_times", records.Select(r => LevelMetrics.Seconds(r.StartTicks - r.DispatchedTicks)));
        json.WriteNumber("max_output_tokens_per_s", metrics.MaxOutputTokensPerSecond);
        json.WriteNumber("max_concurrent_requests", metrics.MaxConcurrentRequests);
        WriteFloat(json, "rtfx", 0.0);

        WriteLatency(json, metrics.Ttft, options.Percentiles);
        if (options.Stream)
        {
            // Without streaming, time per token and gaps between tokens are not observable.
            WriteLatency(json, metrics.Tpot, options.Percentiles);
            WriteLatency(json, metrics.Itl, options.Percentiles);
        }
        WriteLatency(json, metrics.E2el, options.Percentiles);
        if (level.MaxConcurrency is not null)
        {
            WriteLatency(json, metrics.ClientQueueTime, options.Percentiles);
            if (!double.IsPositiveInfinity(level.RequestRate)) WriteLatency(json, metrics.E2elIncludingClientQueue, options.Percentiles);
        }
        WriteLatency(json, metrics.SendLag, options.Percentiles);

        WriteExtras(json, metrics, run, Rel);
        json.WriteEndObject();
    }

    /// <summary>The tags every envelope result of this level carries (read by the vllm converter from <c>mlxbench.tags</c>).</summary>
    public static IReadOnlyList<KeyValuePair<string, string>> Tags(LoadLevel level, RunDescription run) =>
    [
        new("level", level.Label),
        new("workload", run.Options.WorkloadName),
        new("endpoint", run.Options.Api == ServingApi.Chat ? "chat" : "completions"),
        new("stream", run.Options.Stream ? "true" : "false"),
        new("input_tokens", run.Options.InputTokens.ToString(CultureInfo.InvariantCulture)),
        new("output_tokens", run.Options.OutputTokens.ToString(CultureInfo.InvariantCulture)),
        new("prompt_mode", run.PromptMode),
    ];

    private static void WriteExtras(Utf8JsonWriter json, LevelMetrics metrics, RunDescription run, Func<long, double> rel)
    {
        ServingOptions options = run.Options;
        json.WriteStartObject("mlxbench");
        json.WriteString("harness_version", run.HarnessVersion);
        json.WriteStartObject("tags");
        foreach ((string key, string value) in Tags(metrics.Run.Level, run)) json.WriteString(key, value);
        json.WriteEndObject();
        json.WriteString("level", metrics.Run.Level.Label);
        json.WriteString("workload", options.WorkloadName);
        json.WriteString("prompt_mode", run.PromptMode);
        json.WriteBoolean("ignore_eos", options.EffectiveIgnoreEos);
        json.WriteNumber("range_ratio", options.RangeRatio);
        json.WriteNumber("seed", options.Seed);
        WriteNumberOrNull(json, "client_cpu_cores", metrics.Run.ClientCpuCores);
        json.WriteNumber("client_cores", Environment.ProcessorCount);
        WriteNumberOrNull(json, "send_rate", metrics.SendRate);
        WriteNumberOrNull(json, "intended_rate", metrics.IntendedRate);
        json.WriteStartObject("dispatch_lag_ms");
        json.WriteNumber("median", metrics.DispatchLag.Median);
        json.WriteNumber("p99", metrics.DispatchLag.Percentile(99));
        json.WriteNumber("max", metrics.DispatchLag.Max);
        json.WriteEndObject();
        json.WriteStartObject("tokens");
        json.WriteNumber("input_client", metrics.ClientInputTokens);
        json.WriteNumber("input_server", metrics.ServerInputTokens);
        json.WriteNumber("output_client", metrics.ClientOutputTokens);
        json.WriteNumber("output_server", metrics.ServerOutputTokens);
        json.WriteNumber("usage_missing", metrics.UsageMissing);
        json.WriteNumber("usage_mismatches", metrics.UsageMismatches);
        json.WriteEndObject();
        json.WriteStartObject("timeline");
        WriteArray(json, "sent", metrics.Timeline.Sent.Select(v => (double)v));
        WriteArray(json, "finished", metrics.Timeline.Finished.Select(v => (double)v));
        WriteArray(json, "failed", metrics.Timeline.FailedRequests.Select(v => (double)v));
        WriteArray(json, "messages", metrics.Timeline.Messages.Select(v => (double)v));
        WriteArray(json, "in_flight", metrics.Timeline.InFlight.Select(v => (double)v));
        json.WriteEndObject();
        if (options.SaveDetailed)
        {
            WriteArray(json, "intended_times", metrics.Run.Records.Select(r => rel(r.IntendedTicks)));
            WriteArray(json, "dispatch_times", metrics.Run.Records.Select(r => rel(r.DispatchedTicks)));
        }
        json.WriteEndObject();
    }

    private static void WriteLatency(Utf8JsonWriter json, LatencyMetric metric, IReadOnlyList<double> percentiles)
    {
        json.WriteNumber($"mean_{metric.Key}_ms", metric.Ms.Mean);
        json.WriteNumber($"median_{metric.Key}_ms", metric.Ms.Median);
        json.WriteNumber($"std_{metric.Key}_ms", metric.Ms.StdDev);
        foreach (double p in percentiles)
            json.WriteNumber($"p{PercentileWord(p)}_{metric.Key}_ms", metric.Ms.Percentile(p));
    }

    /// <summary>vLLM's <c>str(int(p)) if int(p) == p else str(p)</c>: 99 → "99", 99.9 → "99.9".</summary>
    public static string PercentileWord(double p) =>
        p == Math.Floor(p) ? ((long)p).ToString(CultureInfo.InvariantCulture) : p.ToString("R", CultureInfo.InvariantCulture);

    private static void WriteArray(Utf8JsonWriter json, string name, IEnumerable<double> values)
    {
        json.WriteStartArray(name);
        foreach (double v in values) json.WriteNumberValue(v);
        json.WriteEndArray();
    }

    /// <summary>A float the way Python's json writes it: 1.0 stays "1.0" (so tags read "1.0", as from vLLM's files).</summary>
    private static void WriteFloat(Utf8JsonWriter json, string name, double value)
    {
        if (value == Math.Floor(value) && Math.Abs(value) < 1e15)
        {
            json.WritePropertyName(name);
            json.WriteRawValue(((long)value).ToString(CultureInfo.InvariantCulture) + ".0", skipInputValidation: true);
        }
        else json.WriteNumber(name, value);
    }

    private static void WriteNumberOrNull(Utf8JsonWriter json, string name, double value)
    {
        if (double.IsFinite(value)) json.WriteNumber(name, value);
        else json.WriteNull(name);
    }
}
