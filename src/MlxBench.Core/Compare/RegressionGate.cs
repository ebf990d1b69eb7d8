using MlxBench.Core.Envelopes;

namespace MlxBench.Core.Compare;

/// <summary>What became of one metric against its baseline.</summary>
public enum Verdict { New, Unchanged, Improved, Regressed, NoDirection }

/// <summary>One metric of this run next to the latest earlier published value of the same model, suite, task and metric.</summary>
public sealed record MetricComparison(string Cell, string Name, string Metric, string? Unit, double Current, double? Baseline, string? BaselineTimestamp,
    double? RelativeChange, double Allowed, Verdict Verdict);

/// <summary>
/// The regression gate. A metric regresses when it moved the wrong way by more than the larger of the suite's relative
/// threshold and the noise: twice the combined standard error of the two runs when both report one (lm-eval's
/// <c>stderr</c> tag), so a rerun within its own error bars never fails a build.
/// </summary>
public sealed class RegressionGate(IReadOnlyList<PublishedRow> published)
{
    public const double DefaultThreshold = 0.05;

    public IReadOnlyList<MetricComparison> Compare(string cell, Envelope envelope, double threshold)
    {
        var comparisons = new List<MetricComparison>();
        foreach (BenchmarkResult result in envelope.Results)
        {
            double? stderr = result.Tags?.TryGetValue("stderr", out string? s) == true && double.TryParse(s, System.Globalization.CultureInfo.InvariantCulture, out double e) && double.IsFinite(e) && e >= 0 ? e : null;
            bool? declared = result.Tags?.TryGetValue("higher_is_better", out string? h) == true && bool.TryParse(h, out bool b) ? b : null;
            string? fingerprint = result.Tags?.GetValueOrDefault("fingerprint");
            PublishedRow? baseline = published
                .Where(r => r.Model == envelope.Model && r.Suite == envelope.Suite && r.Name == result.Name && r.Metric == result.Metric
                    && IsEarlierRun(r, envelope.Timestamp, fingerprint))
                .MaxBy(r => Instant(r.Timestamp));
            bool? higherIsBetter = MetricDirection.HigherIsBetter(result.Metric, result.Unit, declared ?? baseline?.HigherIsBetter);

            if (baseline is null)
            {
                comparisons.Add(new(cell, result.Name, result.Metric, result.Unit, result.Value, null, null, null, 0, Verdict.New));
                continue;
            }
            double delta = result.Value - baseline.Value;
            double? relative = baseline.Value != 0 ? delta / Math.Abs(baseline.Value) : null;
            double noise = stderr is { } se1 && baseline.Stderr is { } se2 ? 2 * Math.Sqrt(se1 * se1 + se2 * se2) : 0;
            double allowed = Math.Max(threshold * Math.Abs(baseline.Value), noise);
            Verdict verdict = higherIsBetter switch
            {
                null => Verdict.NoDirection,
                _ when Math.Abs(delta) <= allowed => Verdict.Unchanged,
                true => delta > 0 ? Verdict.Improved : Verdict.Regressed,
                false => delta < 0 ? Verdict.Improved : Verdict.Regressed,
            };
            comparisons.Add(new(cell, result.Name, result.Metric, result.Unit, result.Value, baseline.Value, baseline.Timestamp, relative, allowed, verdict));
        }
        return comparisons;
    }

    /// <summary>A published row of another run: not later than this one, and not this run's own shard (timestamps have
    /// whole seconds, so the same second and the same cell fingerprint means the very same run).</summary>
    private static bool IsEarlierRun(PublishedRow row, string timestamp, string? fingerprint)
    {
        int order = Instant(row.Timestamp).CompareTo(Instant(timestamp));
        return order < 0 || (order == 0 && row.Fingerprint != fingerprint);
    }

    private static DateTimeOffset Instant(string timestamp) =>
        DateTimeOffset.TryParse(timestamp, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal, out DateTimeOffset t)
            ? t : DateTimeOffset.MinValue;
}
