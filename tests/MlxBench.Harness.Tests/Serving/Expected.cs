using System.Diagnostics;

namespace MlxBench.Harness.Tests.Serving;

/// <summary>
/// What a request's metrics must be, worked out from when the client sent it and when the scripted server wrote each
/// message (the server's own stamps, same Stopwatch). TTFT and E2EL start at the send, as vLLM defines them, so the
/// only difference a correct client may show is the response path from the server's write to its read.
/// </summary>
public sealed record ExpectedRequest(double TtftMs, double E2elMs, double[] ItlMs, int OutputTokens, int PromptTokens)
{
    /// <summary>vLLM: (E2EL − TTFT)/(output − 1), only for outputs of more than one token.</summary>
    public double? TpotMs => OutputTokens > 1 ? (E2elMs - TtftMs) / (OutputTokens - 1) : null;

    public static ExpectedRequest From(ServedRequest served, long sentTicks)
    {
        double Ms(long ticks) => (ticks - sentTicks) * 1000.0 / Stopwatch.Frequency;
        long[] writes = [.. served.ChoiceWriteTicks];
        double[] itl = writes.Zip(writes.Skip(1), (a, b) => (b - a) * 1000.0 / Stopwatch.Frequency).ToArray();
        return new ExpectedRequest(Ms(writes[0]), Ms(writes[^1]), itl, served.OutputTokens, served.PromptTokens);
    }
}

/// <summary>numpy's statistics, written out plainly: mean, population std, linear percentiles; empty gives 0.</summary>
public static class Numpy
{
    public static double Mean(IReadOnlyCollection<double> v) => v.Count == 0 ? 0 : v.Sum() / v.Count;

    public static double Std(IReadOnlyCollection<double> v)
    {
        if (v.Count == 0) return 0;
        double mean = Mean(v);
        return Math.Sqrt(v.Sum(x => (x - mean) * (x - mean)) / v.Count);
    }

    public static double Percentile(IReadOnlyCollection<double> v, double p)
    {
        if (v.Count == 0) return 0;
        double[] s = v.Order().ToArray();
        double rank = p / 100 * (s.Length - 1);
        int lo = (int)rank;
        int hi = Math.Min(lo + 1, s.Length - 1);
        return s[lo] + (s[hi] - s[lo]) * (rank - lo);
    }
}
