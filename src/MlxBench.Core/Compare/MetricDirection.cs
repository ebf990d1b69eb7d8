namespace MlxBench.Core.Compare;

/// <summary>
/// Which way a metric should move. A result's own <c>higher_is_better</c> tag (lm-eval reports it per metric) wins;
/// otherwise latencies, times and perplexities are lower-is-better, rates, accuracies and scores higher-is-better,
/// and plain counts have no direction (they are not compared).
/// </summary>
public static class MetricDirection
{
    private static readonly string[] s_lowerIsBetter =
        ["ttft", "tpot", "itl", "e2el", "latency", "perplexity", "bits_per_byte", "bpb", "queue", "error", "_ms", "_seconds"];

    private static readonly string[] s_lowerUnits = ["ms", "s", "seconds", "us", "ns"];

    public static bool? HigherIsBetter(string metric, string? unit, bool? declared)
    {
        if (declared is { } d) return d;
        string m = metric.ToLowerInvariant();
        if (s_lowerUnits.Contains(unit?.ToLowerInvariant()) || s_lowerIsBetter.Any(m.Contains)) return false;
        if (unit is "count") return null;
        return true;
    }
}
