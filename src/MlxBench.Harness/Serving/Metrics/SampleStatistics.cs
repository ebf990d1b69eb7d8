namespace MlxBench.Harness.Serving.Metrics;

/// <summary>
/// The statistics vLLM reports for one latency list, computed once: numpy's mean, median, population standard
/// deviation (ddof = 0) and linearly interpolated percentiles. An empty list gives zeros, as <c>np.mean([] or 0)</c> does.
/// Values keep the unit they came in; nothing here formats.
/// </summary>
public sealed class SampleStatistics
{
    private readonly double[] _sorted;

    public SampleStatistics(IEnumerable<double> values)
    {
        _sorted = values.ToArray();
        Array.Sort(_sorted);
        Count = _sorted.Length;
        if (Count == 0) return;
        double sum = 0;
        foreach (double v in _sorted) sum += v;
        Mean = sum / Count;
        double squares = 0;
        foreach (double v in _sorted) squares += (v - Mean) * (v - Mean);
        StdDev = Math.Sqrt(squares / Count);
        Median = Percentile(50);
        Min = _sorted[0];
        Max = _sorted[^1];
    }

    public int Count { get; }
    public double Mean { get; }
    public double Median { get; }
    public double StdDev { get; }
    public double Min { get; }
    public double Max { get; }

    /// <summary>numpy's default ("linear") percentile: rank p/100·(n−1), interpolated between its neighbours.</summary>
    public double Percentile(double p)
    {
        if (Count == 0) return 0;
        double rank = p / 100.0 * (Count - 1);
        int low = (int)Math.Floor(rank);
        int high = Math.Min(low + 1, Count - 1);
        double fraction = rank - low;
        return _sorted[low] + (_sorted[high] - _sorted[low]) * fraction;
    }
}
