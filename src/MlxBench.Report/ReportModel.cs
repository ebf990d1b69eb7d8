using System.Text.RegularExpressions;

namespace MlxBench.Report;

/// <summary>A value in a chart or table: where it came from and when.</summary>
public sealed record ReportValue(string Series, double Value, string Unit, DateTimeOffset Timestamp);

public sealed record TrendPoint(DateTimeOffset Timestamp, double Value, string GitSha);

public sealed record TrendSeries(string Series, IReadOnlyList<TrendPoint> Points);

public sealed record XyPoint(double X, double Y);

public sealed record XySeries(string Series, IReadOnlyList<XyPoint> Points);

/// <summary>A model x task pivot for one metric, latest run per cell; null where a model has no run of a task.</summary>
public sealed record SummaryTable(string Metric, IReadOnlyList<string> Models, IReadOnlyList<string> Tasks, double?[,] Values);

/// <summary>Latency percentiles of one kind (TTFT, TPOT, ITL, E2EL) per serving run: groups are p50, p90, ...</summary>
public sealed record LatencyChart(string Kind, IReadOnlyList<string> Percentiles, IReadOnlyList<string> Series, double?[,] Values);

/// <summary>
/// What the page shows, computed once from the rows; the HTML writer only formats it. Charts follow the upstream
/// viewer (<c>space/app.py</c>): the latest run per model for a (suite, task, metric), a trend per model over time,
/// and a model x task summary for a (suite, metric); serving suites add latency percentiles and throughput against
/// concurrency.
/// </summary>
public sealed partial class ReportModel
{
    private readonly IReadOnlyList<ReportRow> _rows;

    public ReportModel(IReadOnlyList<ReportRow> rows, int shardCount)
    {
        _rows = rows;
        ShardCount = shardCount;
        Suites = rows.Select(r => r.Suite).Distinct().Order(StringComparer.Ordinal).ToList();
    }

    public int ShardCount { get; }
    public int RowCount => _rows.Count;
    public int ModelCount => _rows.Select(r => r.Model).Distinct().Count();
    public IReadOnlyList<string> Suites { get; }

    public IReadOnlyList<string> Tasks(string suite) =>
        _rows.Where(r => r.Suite == suite).Select(r => r.Task).Distinct().Order(StringComparer.Ordinal).ToList();

    public IReadOnlyList<string> Metrics(string suite, string? task = null) =>
        _rows.Where(r => r.Suite == suite && (task is null || r.Task == task)).Select(r => r.Metric).Distinct().Order(StringComparer.Ordinal).ToList();

    /// <summary>The selection the page opens on: the viewer's defaults (reasoning / exact_match_flexible) where they
    /// exist, otherwise the (suite, task, metric) with the most models, as the later viewer picks.</summary>
    public (string Suite, string Task, string Metric) DefaultSelection()
    {
        var candidates = _rows.GroupBy(r => (r.Suite, r.Task, r.Metric))
            .Select(g => (g.Key, Models: g.Select(r => r.Model).Distinct().Count()))
            .OrderByDescending(c => c.Key.Suite == "reasoning" && c.Key.Metric == "exact_match_flexible")
            .ThenByDescending(c => c.Models)
            .ThenBy(c => c.Key.Suite, StringComparer.Ordinal).ThenBy(c => c.Key.Task, StringComparer.Ordinal).ThenBy(c => c.Key.Metric, StringComparer.Ordinal);
        return candidates.Select(c => c.Key).FirstOrDefault(("", "", ""));
    }

    /// <summary>The metric a suite opens on: the headline serving throughput for serving suites, the viewer's
    /// exact_match_flexible where the suite has it, else the suite's most common metric.</summary>
    public (string Task, string Metric) DefaultFor(string suite)
    {
        (string Suite, string Task, string Metric) overall = DefaultSelection();
        if (overall.Suite == suite) return (overall.Task, overall.Metric);
        var rows = _rows.Where(r => r.Suite == suite).ToList();
        foreach (string preferred in (string[])["throughput_output_toks_per_s", "exact_match_flexible", "accuracy"])
            if (rows.FirstOrDefault(r => r.Metric == preferred) is { } row) return (row.Task, row.Metric);
        var common = rows.GroupBy(r => (r.Task, r.Metric)).OrderByDescending(g => g.Select(r => r.Model).Distinct().Count())
            .ThenBy(g => g.Key.Task, StringComparer.Ordinal).ThenBy(g => g.Key.Metric, StringComparer.Ordinal).First().Key;
        return common;
    }

    /// <summary>The latest row per model (per model and concurrency for sweeps), sorted by value, largest first.</summary>
    public IReadOnlyList<ReportValue> Latest(string suite, string task, string metric) =>
        Select(suite, task, metric).GroupBy(SeriesName)
            .Select(g => Newest(g))
            .Select(r => new ReportValue(SeriesName(r), r.Value, r.Unit, r.Timestamp))
            .OrderByDescending(v => v.Value).ThenBy(v => v.Series, StringComparer.Ordinal).ToList();

    /// <summary>Every run per model in time order (one point per run; a run repeated in several shards counts once).</summary>
    public IReadOnlyList<TrendSeries> Trend(string suite, string task, string metric) =>
        Select(suite, task, metric).GroupBy(SeriesName).OrderBy(g => g.First().ModelShort, StringComparer.Ordinal).ThenBy(g => g.First().Concurrency ?? 0)
            .Select(g => new TrendSeries(g.Key, g.GroupBy(r => r.Timestamp).OrderBy(t => t.Key)
                .Select(t => Newest(t)).Select(r => new TrendPoint(r.Timestamp, r.Value, r.GitSha)).ToList()))
            .ToList();

    public SummaryTable Table(string suite, string metric)
    {
        var rows = _rows.Where(r => r.Suite == suite && r.Metric == metric).ToList();
        var models = rows.OrderBy(r => r.ModelShort, StringComparer.Ordinal).ThenBy(r => r.Concurrency ?? 0).Select(SeriesName).Distinct().ToList();
        var tasks = rows.Select(r => r.Task).Distinct().Order(StringComparer.Ordinal).ToList();
        var values = new double?[models.Count, tasks.Count];
        foreach (var cell in rows.GroupBy(r => (Series: SeriesName(r), r.Task)))
            values[models.IndexOf(cell.Key.Series), tasks.IndexOf(cell.Key.Task)] = Newest(cell).Value;
        return new SummaryTable(metric, models, tasks, values);
    }

    /// <summary>Latency percentiles of the latest serving run per model (and per concurrency, for sweeps).</summary>
    public IReadOnlyList<LatencyChart> Latency(string suite)
    {
        var latency = _rows.Where(r => r.Suite == suite).Select(r => (Row: r, Match: LatencyMetric().Match(r.Metric))).Where(x => x.Match.Success).ToList();
        var charts = new List<LatencyChart>();
        foreach (var kind in latency.GroupBy(x => x.Match.Groups["kind"].Value).OrderBy(g => KindOrder(g.Key)))
        {
            var percentiles = kind.Select(x => x.Match.Groups["stat"].Value).Distinct().OrderBy(PercentileOrder).ToList();
            var bySeries = kind.GroupBy(x => SeriesName(x.Row))
                .OrderBy(g => g.First().Row.ModelShort, StringComparer.Ordinal).ThenBy(g => g.First().Row.Concurrency ?? 0).ToList();
            var values = new double?[bySeries.Count, percentiles.Count];
            for (int s = 0; s < bySeries.Count; s++)
                foreach (var stat in bySeries[s].GroupBy(x => x.Match.Groups["stat"].Value))
                    values[s, percentiles.IndexOf(stat.Key)] = Newest(stat.Select(x => x.Row)).Value;
            charts.Add(new LatencyChart(kind.Key.ToUpperInvariant(), percentiles, bySeries.Select(g => g.Key).ToList(), values));
        }
        return charts;
    }

    /// <summary>Throughput metrics against concurrency, latest value per model and concurrency level.</summary>
    public IReadOnlyList<(string Metric, string Unit, IReadOnlyList<XySeries> Series)> ThroughputByConcurrency(string suite) =>
        _rows.Where(r => r.Suite == suite && r.Concurrency is > 0 && IsThroughput(r.Metric))
            .GroupBy(r => r.Metric).OrderBy(g => g.Key == "throughput_output_toks_per_s" ? 0 : 1).ThenBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => (g.Key, g.First().Unit, (IReadOnlyList<XySeries>)g.GroupBy(r => r.ModelShort).OrderBy(m => m.Key, StringComparer.Ordinal)
                .Select(m => new XySeries(m.Key, m.GroupBy(r => r.Concurrency!.Value).OrderBy(c => c.Key)
                    .Select(c => new XyPoint(c.Key, Newest(c).Value)).ToList())).ToList()))
            .ToList();

    public bool IsServing(string suite) => _rows.Any(r => r.Suite == suite && (LatencyMetric().IsMatch(r.Metric) || IsThroughput(r.Metric)));

    private static bool IsThroughput(string metric) =>
        metric.StartsWith("throughput_", StringComparison.Ordinal) || metric.EndsWith("_tokens_per_second", StringComparison.Ordinal);

    private IEnumerable<ReportRow> Select(string suite, string task, string metric) =>
        _rows.Where(r => r.Suite == suite && r.Task == task && r.Metric == metric);

    private static ReportRow Newest(IEnumerable<ReportRow> rows) =>
        rows.OrderByDescending(r => r.Timestamp).ThenByDescending(r => r.Shard, StringComparer.Ordinal).First();

    private static string SeriesName(ReportRow row) => row.Concurrency is { } c
        ? $"{row.ModelShort} @ {c.ToString("0.##", System.Globalization.CultureInfo.InvariantCulture)}"
        : row.ModelShort;

    private static int KindOrder(string kind) => Array.IndexOf(["ttft", "tpot", "itl", "e2el"], kind);

    private static double PercentileOrder(string stat) => stat == "mean" ? 1000
        : double.TryParse(stat.AsSpan(1), System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double p) ? p : 2000;

    // Serving latency metrics as the vllm converter names them: <kind>_p<percentile>_ms (and _mean_ms).
    [GeneratedRegex("^(?<kind>ttft|tpot|itl|e2el)_(?<stat>p\\d+(\\.\\d+)?|mean)_ms$")]
    private static partial Regex LatencyMetric();
}
