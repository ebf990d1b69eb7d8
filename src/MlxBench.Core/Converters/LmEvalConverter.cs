using System.Globalization;
using System.Text.Json.Nodes;
using MlxBench.Core.Envelopes;

namespace MlxBench.Core.Converters;

/// <summary>
/// Converts lm-evaluation-harness 0.4.x <c>results_*.json</c>. Metric names, units and the first tags follow upstream
/// mlx-benchmarks' converter exactly, so rows line up with theirs; what upstream drops (stderr, aliases, group
/// membership, few-shot count, sample count) is kept as extra tags.
/// </summary>
public sealed class LmEvalConverter : IResultConverter
{
    private static readonly Dictionary<string, string> s_knownMetrics = new(StringComparer.Ordinal)
    {
        ["exact_match,flexible-extract"] = "exact_match_flexible",
        ["exact_match,strict-match"] = "exact_match_strict",
        ["acc,none"] = "accuracy",
        ["acc_norm,none"] = "accuracy_normalized",
        ["pass@1,none"] = "pass_at_1",
    };

    public string Kind => "lm-eval";

    public Envelope Convert(string rawText, ConverterContext context)
    {
        JsonNode parsed;
        try
        {
            parsed = LenientJson.Parse(rawText);
        }
        catch (ConversionException) when (IsSamplesFile(rawText))
        {
            throw SamplesFileGiven();
        }
        if (parsed is JsonObject single && IsSampleLine(single)) throw SamplesFileGiven();
        if (parsed is not JsonObject raw || raw["results"] is not JsonObject results)
            throw new ConversionException("no \"results\" object: this is not an lm-eval results_*.json file");

        JsonObject? config = raw["config"] as JsonObject;
        Envelope envelope = context.NewEnvelope(context.TimestampOr(() => TimestampFrom(raw["date"])));
        envelope.GenKwargs = GenKwargsFrom(config?["gen_kwargs"]);
        if (JsonValues.TryGetInteger(config?["seed"], out long seed)) envelope.Seed = seed;
        if (ModelArgs.Parse(config?["model_args"]).TryGetValue("revision", out string? revision)) envelope.ModelRevision = revision;
        if (JsonValues.GetString(raw["lm_eval_version"]) is { } version)
            envelope.System.LmEvalVersion ??= version;

        Dictionary<string, string> parentGroup = ParentGroups(raw["group_subtasks"] as JsonObject);
        foreach ((string task, JsonNode? metrics) in TasksWithMetrics(results, raw["groups"] as JsonObject))
        {
            if (metrics is not JsonObject metricMap) continue;
            foreach ((string key, JsonNode? value) in metricMap)
            {
                if (key == "alias" || key.Contains("stderr", StringComparison.Ordinal)) continue;
                if (!JsonValues.TryGetNumber(value, out double number)) continue;

                var result = new BenchmarkResult { Name = task, Metric = MetricName(key), Value = number, Unit = UnitOf(key) };
                result.WithTag("lm_eval_key", key);
                context.AddExtraTags(result);
                if (JsonValues.PythonStr(raw["total_evaluation_time_seconds"]) is { } total) result.WithTag("total_eval_time_s", total);
                if (JsonValues.PythonStr(config?["limit"]) is { } limit) result.WithTag("n_limit", limit);
                if (envelope.GenKwargs?.MaxGenToks is { } max) result.WithTag("max_gen_toks", max.ToString(CultureInfo.InvariantCulture));
                AddLmEvalContextTags(result, raw, task, key, metricMap, parentGroup);
                if (JsonValues.Member(raw["total_evaluation_time_seconds_per_task"], task) is { } perTask && JsonValues.TryGetNumber(perTask, out double seconds))
                    result.DurationSeconds = seconds;
                envelope.Results.Add(result);
            }
        }
        return envelope;
    }

    /// <summary>The tags upstream drops; kept so that error bars, groups and few-shot settings survive the trip.</summary>
    private static void AddLmEvalContextTags(BenchmarkResult result, JsonObject raw, string task, string key,
        JsonObject metricMap, Dictionary<string, string> parentGroup)
    {
        string stderrKey = StderrKeyFor(key);
        // Only a real number: lm-eval writes "N/A" or NaN where it could not compute one, and readers parse this tag.
        if (JsonValues.TryGetNumber(metricMap[stderrKey], out _) && JsonValues.PythonStr(metricMap[stderrKey]) is { } stderrText)
            result.WithTag("stderr", stderrText);
        if (DisplayAlias(metricMap["alias"]) is { } alias && alias != task)
            result.WithTag("alias", alias);
        if (parentGroup.TryGetValue(task, out string? group)) result.WithTag("lm_eval_group", group);
        if (JsonValues.PythonStr(JsonValues.Member(raw["n-shot"], task)) is { } shots) result.WithTag("num_fewshot", shots);
        if (JsonValues.PythonStr(JsonValues.Member(JsonValues.Member(raw["n-samples"], task), "effective")) is { } samples) result.WithTag("n_samples", samples);
        if (JsonValues.PythonStr(JsonValues.Member(JsonValues.Member(raw["higher_is_better"], task), key.Split(',')[0])) is { } better)
            result.WithTag("higher_is_better", better == "True" ? "true" : better == "False" ? "false" : better);
    }

    /// <summary>lm-eval indents a subtask's alias for its printed table (<c>"  - abstract_algebra"</c>); the name is what
    /// follows the indent and dash.</summary>
    private static string? DisplayAlias(JsonNode? alias) =>
        JsonValues.GetString(alias)?.Trim().TrimStart('-').Trim() is { Length: > 0 } name ? name : null;

    /// <summary>lm-eval's <c>--log_samples</c> files hold one JSON document per line, each with a <c>doc_id</c>.</summary>
    private static bool IsSamplesFile(string rawText)
    {
        string? first = rawText.Split('\n').FirstOrDefault(line => !string.IsNullOrWhiteSpace(line));
        try
        {
            return first is not null && LenientJson.Parse(first) is JsonObject line && IsSampleLine(line);
        }
        catch (ConversionException)
        {
            return false;
        }
    }

    private static bool IsSampleLine(JsonObject line) => line.ContainsKey("doc_id") && (line.ContainsKey("arguments") || line.ContainsKey("resps"));

    private static ConversionException SamplesFileGiven() => new(
        "this is an lm-eval samples_<task>_<time>.jsonl file (one line per document), not its results; "
        + "give the converter the results_<time>.json that lm-eval wrote beside it");

    /// <summary><c>acc,none</c> has its error in <c>acc_stderr,none</c>.</summary>
    internal static string StderrKeyFor(string key)
    {
        int comma = key.IndexOf(',');
        return comma < 0 ? key + "_stderr" : key[..comma] + "_stderr" + key[comma..];
    }

    /// <summary>Tasks in <c>results</c>, then group aggregates that only older 0.4.x files keep under <c>groups</c>.</summary>
    private static IEnumerable<KeyValuePair<string, JsonNode?>> TasksWithMetrics(JsonObject results, JsonObject? groups)
    {
        foreach (KeyValuePair<string, JsonNode?> entry in results) yield return entry;
        if (groups is null) yield break;
        foreach (KeyValuePair<string, JsonNode?> entry in groups)
            if (!results.ContainsKey(entry.Key)) yield return entry;
    }

    private static Dictionary<string, string> ParentGroups(JsonObject? groupSubtasks)
    {
        var parents = new Dictionary<string, string>(StringComparer.Ordinal);
        if (groupSubtasks is null) return parents;
        foreach ((string group, JsonNode? children) in groupSubtasks)
            if (children is JsonArray array)
                foreach (JsonNode? child in array)
                    if (JsonValues.GetString(child) is { } name) parents.TryAdd(name, group);
        return parents;
    }

    internal static string MetricName(string key) =>
        s_knownMetrics.TryGetValue(key, out string? mapped) ? mapped : key.Replace(',', '_');

    internal static string UnitOf(string key)
    {
        if (s_knownMetrics.ContainsKey(key)) return "ratio";
        string metric = MetricName(key);
        if (metric.EndsWith("_seconds", StringComparison.Ordinal)) return "seconds";
        if (metric.EndsWith("_ms", StringComparison.Ordinal)) return "ms";
        return "ratio";
    }

    private static string? TimestampFrom(JsonNode? date)
    {
        if (JsonValues.TryGetNumber(date, out double epoch)) return Timestamps.FromUnixSeconds(epoch);
        return JsonValues.GetString(date) is { } text && Timestamps.IsUtcIso(text) ? text : null;
    }

    /// <summary>lm-eval writes <c>gen_kwargs</c> as an object, a <c>k=v,k=v</c> string, or null.</summary>
    private static GenKwargs? GenKwargsFrom(JsonNode? node)
    {
        var kwargs = new GenKwargs();
        if (node is JsonObject map)
        {
            if (JsonValues.TryGetInteger(map["max_gen_toks"], out long max)) kwargs.MaxGenToks = max;
            if (JsonValues.TryGetNumber(map["temperature"], out double temperature)) kwargs.Temperature = temperature;
            if (JsonValues.TryGetNumber(map["top_p"], out double topP)) kwargs.TopP = topP;
            if (JsonValues.TryGetInteger(map["top_k"], out long topK)) kwargs.TopK = topK;
        }
        else if (JsonValues.GetString(node) is { } text)
        {
            Dictionary<string, string> pairs = ModelArgs.ParseString(text);
            if (pairs.TryGetValue("max_gen_toks", out string? max) && long.TryParse(max, CultureInfo.InvariantCulture, out long m)) kwargs.MaxGenToks = m;
            if (pairs.TryGetValue("temperature", out string? t) && double.TryParse(t, CultureInfo.InvariantCulture, out double tv)) kwargs.Temperature = tv;
            if (pairs.TryGetValue("top_p", out string? p) && double.TryParse(p, CultureInfo.InvariantCulture, out double pv)) kwargs.TopP = pv;
            if (pairs.TryGetValue("top_k", out string? k) && long.TryParse(k, CultureInfo.InvariantCulture, out long kv)) kwargs.TopK = kv;
        }
        return kwargs.IsEmpty ? null : kwargs;
    }
}

/// <summary>lm-eval's <c>model_args</c>: an object in newer files, a <c>k=v,k=v</c> string in 0.4.9 and older.</summary>
public static class ModelArgs
{
    public static Dictionary<string, string> Parse(JsonNode? node)
    {
        if (node is JsonObject map)
            return map.Where(p => JsonValues.PythonStr(p.Value) is not null)
                      .ToDictionary(p => p.Key, p => JsonValues.PythonStr(p.Value)!, StringComparer.Ordinal);
        return JsonValues.GetString(node) is { } text ? ParseString(text) : new Dictionary<string, string>(StringComparer.Ordinal);
    }

    public static Dictionary<string, string> ParseString(string text)
    {
        var pairs = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            int eq = part.IndexOf('=');
            if (eq > 0) pairs[part[..eq]] = part[(eq + 1)..];
        }
        return pairs;
    }

    /// <summary>The model an lm-eval file names, by upstream's fallback order, for callers that were not told one.</summary>
    public static string ModelOf(JsonObject raw)
    {
        if (JsonValues.GetString(raw["model_name"]) is { Length: > 0 } name) return name;
        Dictionary<string, string> args = Parse(JsonValues.Member(raw["config"], "model_args"));
        if (args.TryGetValue("model", out string? model)) return model;
        if (args.TryGetValue("pretrained", out string? pretrained)) return pretrained;
        return JsonValues.GetString(raw["model"]) ?? "unknown";
    }
}
