namespace MlxBench.Harness.Serving.Load;

/// <summary>
/// When each request is meant to be sent, in seconds from the start of a level, computed before the first one goes
/// out (vLLM's current <c>get_request</c>): gaps drawn from Gamma(shape = burstiness, scale = 1/(rate·burstiness)),
/// accumulated, then rescaled so the last arrival lands at exactly N/rate. An infinite rate sends everything at 0;
/// an infinite burstiness gives constant gaps of 1/rate. The random source is seeded, so a level replays exactly;
/// it is not numpy's generator, so the draws differ from vLLM's for the same seed (the distribution does not).
/// </summary>
public static class ArrivalSchedule
{
    public static double[] Create(int count, double rate, double burstiness, int seed)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rate);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(burstiness);
        var offsets = new double[count];
        if (double.IsPositiveInfinity(rate)) return offsets;

        var random = new Random(seed);
        double total = 0;
        for (int i = 0; i < count; i++)
        {
            double gap = double.IsPositiveInfinity(burstiness)
                ? 1.0 / rate
                : Gamma.Sample(random, burstiness, 1.0 / (rate * burstiness));
            total += gap;
            offsets[i] = total;
        }
        if (total > 0)
        {
            // Raw sums miss N/rate by 1-2%; rescaling keeps throughput comparable across seeds.
            double factor = count / rate / total;
            for (int i = 0; i < count; i++) offsets[i] *= factor;
        }
        return offsets;
    }
}

/// <summary>Gamma variates by Marsaglia and Tsang's method (shape &lt; 1 boosted through shape + 1).</summary>
internal static class Gamma
{
    public static double Sample(Random random, double shape, double scale)
    {
        if (shape < 1)
        {
            double u = 1.0 - random.NextDouble();
            return Sample(random, shape + 1, scale) * Math.Pow(u, 1.0 / shape);
        }
        double d = shape - 1.0 / 3.0;
        double c = 1.0 / Math.Sqrt(9.0 * d);
        while (true)
        {
            double x, v;
            do
            {
                x = StandardNormal(random);
                v = 1.0 + c * x;
            }
            while (v <= 0);
            v = v * v * v;
            double u = 1.0 - random.NextDouble();
            if (u < 1.0 - 0.0331 * x * x * x * x) return d * v * scale;
            if (Math.Log(u) < 0.5 * x * x + d * (1.0 - v + Math.Log(v))) return d * v * scale;
        }
    }

    private static double StandardNormal(Random random)
    {
        // Box-Muller; one of the pair is enough here.
        double u1 = 1.0 - random.NextDouble();
        double u2 = random.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
    }
}
