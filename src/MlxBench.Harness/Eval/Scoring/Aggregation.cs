using MlxBench.Harness.Eval.Python;

namespace MlxBench.Harness.Eval.Scoring;

/// <summary>A task-level metric and its standard error (null where lm-eval writes "N/A").</summary>
public readonly record struct AggregateValue(double Value, double? Stderr);

/// <summary>
/// lm-eval's aggregations (<c>lm_eval/api/metrics.py</c>) computed in the same order of floating-point operations:
/// <c>mean</c> with the closed-form stderr (sample stddev, n−1, over sqrt n); <c>perplexity</c> with the bootstrap
/// (chunks of 1000 replicates, chunk i drawn by <c>random.Random(i).choices</c>); the weighted ones without a stderr.
/// </summary>
public static class Aggregation
{
    public const int DefaultBootstrapIters = 100000;

    public static AggregateValue Aggregate(string aggregation, IReadOnlyList<MetricValue> items, int bootstrapIters = DefaultBootstrapIters)
    {
        switch (aggregation)
        {
            case "mean":
            {
                double[] xs = items.Select(i => i.Value).ToArray();
                return new AggregateValue(Mean(xs), xs.Length > 1 && bootstrapIters > 0 ? MeanStderr(xs) : null);
            }
            case "perplexity":
            {
                double[] xs = items.Select(i => i.Value).ToArray();
                return new AggregateValue(Perplexity(xs), xs.Length > 1 && bootstrapIters > 0 ? BootstrapStderr(Perplexity, xs, bootstrapIters) : null);
            }
            case "weighted_perplexity":
                return new AggregateValue(Math.Exp(-WeightedMean(items)), null);
            case "bits_per_byte":
                return new AggregateValue(-WeightedMean(items) / Math.Log(2), null);
            default:
                throw new NotSupportedException($"aggregation \"{aggregation}\" is not supported (supported: mean, perplexity, weighted_perplexity, bits_per_byte)");
        }
    }

    /// <summary>The aggregation lm-eval uses by default for a metric name.</summary>
    public static string DefaultFor(string metric) => metric switch
    {
        "perplexity" => "perplexity",
        "word_perplexity" or "byte_perplexity" => "weighted_perplexity",
        "bits_per_byte" => "bits_per_byte",
        _ => "mean",
    };

    /// <summary><c>sum(arr) / len(arr)</c>, summed left to right as Python's <c>sum</c> does.</summary>
    public static double Mean(IReadOnlyList<double> xs)
    {
        double sum = 0;
        for (int i = 0; i < xs.Count; i++) sum += xs[i];
        return sum / xs.Count;
    }

    public static double SampleStddev(IReadOnlyList<double> xs)
    {
        double mu = Mean(xs), sum = 0;
        for (int i = 0; i < xs.Count; i++)
        {
            double d = xs[i] - mu;
            sum += d * d;
        }
        return Math.Sqrt(sum / (xs.Count - 1));
    }

    public static double MeanStderr(IReadOnlyList<double> xs) => SampleStddev(xs) / Math.Sqrt(xs.Count);

    public static double Perplexity(IReadOnlyList<double> lls) => Math.Exp(-Mean(lls));

    private static double WeightedMean(IReadOnlyList<MetricValue> items)
    {
        double a = 0, b = 0;
        foreach (MetricValue item in items)
        {
            a += item.Value;
            b += item.Weight ?? 1;
        }
        return a / b;
    }

    /// <summary><c>bootstrap_stderr(f, xs, iters)</c>: iters // 1000 chunks of min(1000, iters) replicates.</summary>
    public static double BootstrapStderr(Func<IReadOnlyList<double>, double> statistic, IReadOnlyList<double> xs, int iters)
    {
        int chunkSize = Math.Min(1000, iters);
        int chunks = iters / chunkSize;
        var replicates = new double[chunks * chunkSize];
        Parallel.For(0, chunks, chunk =>
        {
            var random = new PyRandom(chunk);
            var sample = new double[xs.Count];
            for (int r = 0; r < chunkSize; r++)
            {
                random.Choices(xs, sample);
                replicates[chunk * chunkSize + r] = statistic(sample);
            }
        });
        return SampleStddev(replicates);
    }
}
