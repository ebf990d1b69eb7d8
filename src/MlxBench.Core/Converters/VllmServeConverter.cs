using System.Text.Json.Nodes;
using MlxBench.Core.Envelopes;

namespace MlxBench.Core.Converters;

/// <summary>
/// Converts serving-benchmark results: <c>vllm bench serve</c> JSON, the legacy <c>benchmark_serving.py</c> JSON, and
/// JSON Lines holding several legacy runs. The metrics upstream maps keep upstream's names; the statistics upstream
/// ignores (mean, std, other percentiles, E2EL, goodput, peaks) are added under the same naming scheme.
/// MlxBench's serving harness writes a sweep as JSON Lines, one result object per level, each with an
/// <c>mlxbench.tags</c> object (level, workload, …) whose strings become tags of every result of that level.
/// </summary>
public sealed class VllmServeConverter : IResultConverter
{
    public const string ResultName = "benchmark_serving";

    private static readonly (string Key, string Metric, string Unit)[] s_scalars =
    [
        ("output_throughput", "throughput_output_toks_per_s", "tok/s"),
        ("total_token_throughput", "throughput_total_toks_per_s", "tok/s"),
        ("request_throughput", "throughput_requests_per_s", "req/s"),
        ("request_goodput", "goodput_requests_per_s", "req/s"),
        // Legacy benchmark_serving.py wrote this key with a stray colon; vLLM fixed it later.
        ("request_goodput:", "goodput_requests_per_s", "req/s"),
        ("max_output_tokens_per_s", "throughput_output_toks_per_s_peak", "tok/s"),
        ("max_concurrent_requests", "concurrency_peak", "count"),
    ];

    /// <summary>vLLM's latency metrics, then its client-queue ones (written with --max-concurrency), then MlxBench's send lag.</summary>
    private static readonly string[] s_latencies = ["ttft", "tpot", "itl", "e2el", "client_queue_time", "e2el_including_client_queue", "send_lag"];

    /// <summary>Run parameters copied into tags when present, so rows of a sweep can be told apart.</summary>
    private static readonly string[] s_runTags = ["num_prompts", "request_rate", "burstiness", "max_concurrency", "backend", "failed"];

    public string Kind => "vllm";

    public Envelope Convert(string rawText, ConverterContext context)
    {
        List<JsonObject> runs = ReadRuns(rawText);
        Envelope envelope = context.NewEnvelope(context.TimestampOr(() => null));
        for (int i = 0; i < runs.Count; i++)
            AddRun(envelope, runs[i], context, runs.Count > 1 ? i : null);
        return envelope;
    }

    private static List<JsonObject> ReadRuns(string rawText)
    {
        List<JsonNode> values;
        try
        {
            JsonNode whole = LenientJson.Parse(rawText);
            values = whole is JsonArray array ? array.Where(v => v is not null).Select(v => v!).ToList() : [whole];
        }
        catch (ConversionException) when (FirstLineIsJson(rawText))
        {
            // Legacy sweeps append one JSON object per run to the same file.
            values = LenientJson.ParseLines(rawText);
        }

        var runs = values.OfType<JsonObject>().ToList();
        if (runs.Count == 0 || runs.Any(r => r["duration"] is null && r["completed"] is null))
            throw new ConversionException("no \"duration\"/\"completed\" keys: this is not a vllm bench serve or benchmark_serving result");
        return runs;
    }

    /// <summary>Only a file whose first line is a JSON value on its own is JSON Lines; otherwise the whole-file error stands.</summary>
    private static bool FirstLineIsJson(string rawText)
    {
        string? first = rawText.Split('\n').FirstOrDefault(line => !string.IsNullOrWhiteSpace(line));
        try
        {
            return first is not null && LenientJson.Parse(first) is not null;
        }
        catch (ConversionException)
        {
            return false;
        }
    }

    private static void AddRun(Envelope envelope, JsonObject run, ConverterContext context, int? runIndex)
    {
        double? duration = JsonValues.TryGetNumber(run["duration"], out double d) ? d : null;
        foreach ((string key, string metric, string unit) in s_scalars)
            Add(key, metric, unit);
        foreach (string latency in s_latencies)
        {
            string prefix = $"_{latency}_ms";
            Add($"mean{prefix}", $"{latency}_mean_ms", "ms");
            Add($"median{prefix}", $"{latency}_p50_ms", "ms");
            Add($"std{prefix}", $"{latency}_std_ms", "ms");
            foreach ((string key, _) in run)
                if (key.StartsWith('p') && key.EndsWith(prefix, StringComparison.Ordinal) && key.Length > prefix.Length + 1)
                    Add(key, $"{latency}_{key[..^prefix.Length]}_ms", "ms");
        }

        void Add(string key, string metric, string unit)
        {
            if (!JsonValues.TryGetNumber(run[key], out double value)) return;
            var result = new BenchmarkResult { Name = ResultName, Metric = metric, Value = value, Unit = unit, DurationSeconds = duration };
            context.AddExtraTags(result);
            if (JsonValues.IntegerString(run["completed"]) is { } completed) result.WithTag("completed_requests", completed);
            if (JsonValues.IntegerString(run["total_input_tokens"]) is { } input) result.WithTag("total_input_tokens", input);
            if (JsonValues.IntegerString(run["total_output_tokens"]) is { } output) result.WithTag("total_output_tokens", output);
            foreach (string tag in s_runTags)
                if (JsonValues.PythonStr(run[tag]) is { } text) result.WithTag(tag, text);
            if (runIndex is { } index) result.WithTag("run_index", index.ToString(System.Globalization.CultureInfo.InvariantCulture));
            if (run["mlxbench"] is JsonObject mlxbench && mlxbench["tags"] is JsonObject tags)
                foreach ((string tag, JsonNode? tagValue) in tags)
                    if (JsonValues.GetString(tagValue) is { } text) result.WithTag(tag, text);
            envelope.Results.Add(result);
        }
    }
}
