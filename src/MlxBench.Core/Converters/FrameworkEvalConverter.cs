using System.Text.Json.Nodes;
using MlxBench.Core.Envelopes;

namespace MlxBench.Core.Converters;

/// <summary>
/// Converts the one-object output of upstream's framework-eval scripts (tool-calling agents), following upstream's
/// converter proposal: a pass/fail <c>score</c>, the <c>latency</c>, and token and step counts when present.
/// </summary>
public sealed class FrameworkEvalConverter : IResultConverter
{
    private static readonly string[] s_failedAnswerPrefixes = ["Error:", "(empty)", "(max steps reached)"];

    public string Kind => "framework-eval";

    public Envelope Convert(string rawText, ConverterContext context)
    {
        if (LenientJson.Parse(rawText) is not JsonObject raw || (raw["framework"] is null && raw["answer"] is null))
            throw new ConversionException("no \"framework\"/\"answer\" keys: this is not framework-eval output");

        Envelope envelope = context.NewEnvelope(context.TimestampOr(() => null));
        string name = JsonValues.GetString(raw["framework"]) ?? "unknown";
        double? latency = JsonValues.TryGetNumber(raw["latency"], out double l) ? l : null;

        string answer = JsonValues.GetString(raw["answer"]) ?? "";
        bool passed = answer.Trim().Length > 0 && !s_failedAnswerPrefixes.Any(p => answer.StartsWith(p, StringComparison.Ordinal));
        Add("score", passed ? 1 : 0, "bool");
        if (latency is { } seconds) Add("latency", seconds, "seconds");
        if (JsonValues.TryGetNumber(raw["tokens"], out double tokens)) Add("tokens", tokens, "count");
        if (JsonValues.TryGetNumber(raw["steps"], out double steps)) Add("steps", steps, "count");
        return envelope;

        void Add(string metric, double value, string unit)
        {
            var result = new BenchmarkResult { Name = name, Metric = metric, Value = value, Unit = unit, DurationSeconds = latency };
            context.AddExtraTags(result);
            if (raw["tool_calls"] is JsonArray calls) result.WithTag("tool_calls", calls.Count.ToString(System.Globalization.CultureInfo.InvariantCulture));
            envelope.Results.Add(result);
        }
    }
}
