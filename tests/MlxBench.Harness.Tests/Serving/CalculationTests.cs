using System.Diagnostics;
using MlxBench.Harness.Serving;
using MlxBench.Harness.Serving.Client;
using MlxBench.Harness.Serving.Load;
using MlxBench.Harness.Serving.Metrics;

namespace MlxBench.Harness.Tests.Serving;

/// <summary>The calculations on their own, from stamps and numbers worked out by hand.</summary>
[TestClass]
public sealed class CalculationTests
{
    private static long Ticks(double ms) => (long)Math.Round(ms * Stopwatch.Frequency / 1000);

    private static RequestRecord Request(double startMs, double[] chunkMs, int? prompt, int? completion, bool success = true)
    {
        var r = new RequestRecord(0, prompt ?? 9, completion ?? 0, 4) { IntendedTicks = 0, DispatchedTicks = 0, StartTicks = Ticks(startMs) };
        foreach (double c in chunkMs) r.AddChunk(Ticks(c), hasText: true);
        r.UsagePromptTokens = prompt;
        r.UsageCompletionTokens = completion;
        r.Success = success;
        r.EndTicks = Ticks(chunkMs.Length > 0 ? chunkMs[^1] : startMs);
        return r;
    }

    [TestMethod]
    public void LevelMetrics_FollowVllmsDefinitions()
    {
        // A: sent at 0, messages at 10, 12, 15 ms, 3 tokens. B: sent at 1 ms, one message at 21 ms. C: failed.
        RequestRecord[] records =
        [
            Request(0, [10, 12, 15], prompt: 5, completion: 3),
            Request(1, [21], prompt: 7, completion: 1),
            Request(2, [], prompt: null, completion: null, success: false),
        ];
        var run = new LevelRun(new LoadLevel(4, double.PositiveInfinity), records, 0, Ticks(100));

        var m = new LevelMetrics(run, new GoodputSlo(TtftMs: 12, TpotMs: null, E2elMs: null));

        Assert.AreEqual(2, m.Completed);
        Assert.AreEqual(1, m.Failed);
        Assert.AreEqual(12, m.TotalInputTokens);
        Assert.AreEqual(4, m.TotalOutputTokens);
        Assert.AreEqual(20.0, m.RequestThroughput, 1e-9);
        Assert.AreEqual(40.0, m.OutputThroughput, 1e-9);
        Assert.AreEqual(160.0, m.TotalTokenThroughput, 1e-9);
        Assert.AreEqual(15.0, m.Ttft.Ms.Mean, 1e-9);
        Assert.AreEqual(5.0, m.Ttft.Ms.StdDev, 1e-9);
        Assert.AreEqual(19.9, m.Ttft.Ms.Percentile(99), 1e-9);
        CollectionAssert.AreEqual(new[] { 2.5 }, m.Tpot.ValuesSeconds.Select(v => Math.Round(v * 1000, 9)).ToArray(), "TPOT excludes the first token and single-token outputs");
        CollectionAssert.AreEqual(new[] { 2.0, 3.0 }, m.Itl.ValuesSeconds.Select(v => Math.Round(v * 1000, 9)).ToArray());
        Assert.AreEqual(17.5, m.E2el.Ms.Mean, 1e-9);
        Assert.AreEqual(10.0, m.RequestGoodput!.Value, 1e-9, "only A meets TTFT <= 12 ms; B's TPOT counts as 0");
        Assert.AreEqual(2, m.MaxConcurrentRequests);
        Assert.AreEqual(4, m.MaxOutputTokensPerSecond, "messages in the busiest 1-s bin");
        CollectionAssert.AreEqual(new[] { 0.0, 1.0 }, m.ClientQueueTime.ValuesSeconds.Select(v => Math.Round(v * 1000, 9)).ToArray());
        Assert.IsNull(new LevelMetrics(run, GoodputSlo.None).RequestGoodput, "vLLM writes null without SLOs");
    }

    [TestMethod]
    public void Timeline_CountsEachSecondOfTheLevel()
    {
        // Sent at 0.1 s and 1.2 s; the first streams until 1.5 s (messages at 0.5, 1.0, 1.5 s), the second fails at 2.1 s.
        RequestRecord[] records =
        [
            Request(100, [500, 1000, 1500], 1, 3),
            Request(1200, [], null, null, success: false),
        ];
        records[1].EndTicks = Ticks(2100);
        var timeline = new LevelTimeline(new LevelRun(new LoadLevel(null, 2), records, 0, Ticks(2100)));

        CollectionAssert.AreEqual(new[] { 1, 1, 0, 0 }, timeline.Sent);
        CollectionAssert.AreEqual(new[] { 0, 1, 0, 0 }, timeline.Finished);
        CollectionAssert.AreEqual(new[] { 0, 0, 1, 0 }, timeline.FailedRequests);
        CollectionAssert.AreEqual(new[] { 1, 2, 0, 0 }, timeline.Messages);
        CollectionAssert.AreEqual(new[] { 1, 1, 0, 0 }, timeline.InFlight, "in flight at each second's end");
    }

    [TestMethod]
    public void PeakConcurrency_LetsADepartureGoBeforeAnArrivalAtTheSameInstant()
    {
        RequestRecord[] records = [Request(0, [10], 1, 1), Request(10, [20], 1, 1), Request(20, [30], 1, 1)];
        var m = new LevelMetrics(new LevelRun(new LoadLevel(null, double.PositiveInfinity), records, 0, Ticks(30)), GoodputSlo.None);
        Assert.AreEqual(1, m.MaxConcurrentRequests);
    }

    [TestMethod]
    public void Statistics_AreNumpys()
    {
        var s = new SampleStatistics([4, 1, 3, 2]);
        Assert.AreEqual(2.5, s.Mean);
        Assert.AreEqual(2.5, s.Median);
        Assert.AreEqual(1.118033988749895, s.StdDev, 1e-15, "population std (ddof = 0)");
        Assert.AreEqual(3.97, s.Percentile(99), 1e-12, "np.percentile([1,2,3,4], 99)");
        Assert.AreEqual(1.03, s.Percentile(1), 1e-12);
        Assert.AreEqual(3.7, s.Percentile(90), 1e-12);
        var empty = new SampleStatistics([]);
        Assert.AreEqual(0, empty.Mean + empty.Median + empty.StdDev + empty.Percentile(99), "np.mean([] or 0) is 0");
        Assert.AreEqual(7, new SampleStatistics([7]).Percentile(99));
    }

    [TestMethod]
    public void Schedule_InfiniteRateSendsAllAtOnce_ConstantGapsWithInfiniteBurstiness()
    {
        CollectionAssert.AreEqual(new double[5], ArrivalSchedule.Create(5, double.PositiveInfinity, 1, 0));
        double[] constant = ArrivalSchedule.Create(4, 2, double.PositiveInfinity, 0);
        CollectionAssert.AreEqual(new[] { 0.5, 1.0, 1.5, 2.0 }, constant.Select(v => Math.Round(v, 12)).ToArray());
    }

    [TestMethod]
    [DataRow(1.0)]
    [DataRow(4.0)]
    [DataRow(0.25)]
    public void Schedule_IsGamma_RescaledToEndAtNOverRate_AndSeeded(double burstiness)
    {
        const int n = 20_000;
        double[] t = ArrivalSchedule.Create(n, 100, burstiness, seed: 7);
        Assert.AreEqual(n / 100.0, t[^1], 1e-9, "last arrival at N/rate");
        double[] gaps = t.Zip(t.Skip(1), (a, b) => b - a).Prepend(t[0]).ToArray();
        Assert.IsTrue(gaps.All(g => g >= 0));
        double mean = gaps.Average();
        double cv = Math.Sqrt(gaps.Average(g => (g - mean) * (g - mean))) / mean;
        Assert.AreEqual(1 / Math.Sqrt(burstiness), cv, 0.05 / Math.Sqrt(burstiness), "coefficient of variation 1/sqrt(k)");
        CollectionAssert.AreEqual(t, ArrivalSchedule.Create(n, 100, burstiness, seed: 7));
        CollectionAssert.AreNotEqual(t, ArrivalSchedule.Create(n, 100, burstiness, seed: 8));
    }

    [TestMethod]
    public void ChunkReader_FindsChoicesTextAndUsage_InEveryShape()
    {
        ChunkInfo role = ChunkReader.Read("""{"choices":[{"index":0,"delta":{"role":"assistant"},"logprobs":{"content":[{"token":"x"}]}}],"usage":null}"""u8);
        Assert.IsTrue(role.HasChoices);
        Assert.IsFalse(role.HasText, "a role-only delta is a message without text");
        Assert.IsTrue(ChunkReader.Read("""{"choices":[{"delta":{"content":"hi"}}]}"""u8).HasText);
        Assert.IsTrue(ChunkReader.Read("""{"choices":[{"delta":{"content":null,"reasoning_content":"hmm"}}]}"""u8).HasText);
        Assert.IsFalse(ChunkReader.Read("""{"choices":[{"text":"","finish_reason":"stop"}]}"""u8).HasText);
        Assert.IsTrue(ChunkReader.Read("""{"choices":[{"message":{"role":"assistant","content":"done"}}],"usage":{"prompt_tokens":3,"completion_tokens":2}}"""u8) is { HasText: true, PromptTokens: 3, CompletionTokens: 2 });
        ChunkInfo usage = ChunkReader.Read("""{"id":"x","choices":[],"usage":{"prompt_tokens":11,"total_tokens":15,"completion_tokens":4,"prompt_tokens_details":{"cached_tokens":0}}}"""u8);
        Assert.IsFalse(usage.HasChoices);
        Assert.AreEqual(4, usage.CompletionTokens);
        Assert.AreEqual(11, usage.PromptTokens);
        Assert.AreEqual("out of memory", ChunkReader.Read("""{"error":{"message":"out of memory","code":500}}"""u8).Error);
        Assert.Throws<System.Text.Json.JsonException>(() => ChunkReader.Read("""{"choices":[{"text":"x"""u8));
    }
}
