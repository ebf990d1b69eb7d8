using System.Globalization;
using System.Text;
using MlxBench.Harness.Serving.Metrics;

namespace MlxBench.Harness.Serving.Results;

/// <summary>The one line per level a person reads in the build log; invariant culture, fixed units.</summary>
public static class SummaryLine
{
    public static string Format(LevelMetrics m, bool stream)
    {
        CultureInfo c = CultureInfo.InvariantCulture;
        var line = new StringBuilder();
        line.Append(c, $"summary: {m.Run.Level.Label}: {m.Completed}/{m.Completed + m.Failed} ok in {m.Duration:0.00} s | ");
        line.Append(c, $"{m.RequestThroughput:0.00} req/s, {m.OutputThroughput:0.0} out tok/s | ");
        line.Append(c, $"TTFT p50 {m.Ttft.Ms.Median:0.00} p99 {m.Ttft.Ms.Percentile(99):0.00} ms | ");
        if (stream) line.Append(c, $"TPOT p50 {m.Tpot.Ms.Median:0.00} ms | ITL p50 {m.Itl.Ms.Median:0.00} p99 {m.Itl.Ms.Percentile(99):0.00} ms | ");
        line.Append(c, $"E2EL p50 {m.E2el.Ms.Median:0.00} p99 {m.E2el.Ms.Percentile(99):0.00} ms | ");
        line.Append(c, $"peak concurrency {m.MaxConcurrentRequests} | client CPU {m.Run.ClientCpuCores:0.00} of {Environment.ProcessorCount} cores");
        if (m.Run.Level.MaxConcurrency is not null) line.Append(c, $" | queue p99 {m.ClientQueueTime.Ms.Percentile(99):0.00} ms");
        if (!double.IsPositiveInfinity(m.Run.Level.RequestRate))
            line.Append(c, $" | sent {m.SendRate:0.00} of {m.IntendedRate:0.00} req/s, lag p99 {m.SendLag.Ms.Percentile(99):0.00} ms");
        return line.ToString();
    }
}
