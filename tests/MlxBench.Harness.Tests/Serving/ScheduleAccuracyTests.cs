using System.Diagnostics;
using MlxBench.Harness.Serving;
using MlxBench.Harness.Serving.Client;
using MlxBench.Harness.Serving.Metrics;

namespace MlxBench.Harness.Tests.Serving;

/// <summary>
/// An open-loop rate must be held: vLLM's legacy loop sent 183.5 req/s for a 200 req/s target (vllm#21104). Checked on
/// the recorded intended and actual send times of every request, not on the wall clock of the run, so a loaded CI
/// machine slows the test without making it fail.
/// </summary>
[TestClass]
public sealed class ScheduleAccuracyTests
{
    private const double MaxRateError = 0.01;
    private const double MaxMedianLagMs = 1.0;
    /// <summary>
    /// "Within 1% of the schedule": 99% of requests leave within 1% of the run's span (10 s → 100 ms) of their
    /// intended time. Lateness never accumulates (absolute deadlines), so only a stalled machine reaches this; an
    /// idle one stays under a millisecond, which the median bound checks.
    /// </summary>
    private const double MaxP99LagFraction = 0.01;

    [TestMethod]
    public async Task TwoHundredRequestsPerSecond_AreSentOnSchedule_OverTwoThousandRequests()
    {
        await using ScriptedServer server = await ScriptedServer.StartAsync(_ => Script.Instant(1), new ServerFeatures());
        await TimingAttempts.RunAsync(async () =>
        {
            ServingOptions options = ServingTestRun.Options(requests: 2000, outputTokens: 1) with { RequestRates = [200], ProgressIntervalSeconds = 2 };

            ServingTestRun run = await ServingTestRun.RunAsync(server, options);

            LevelMetrics m = run.Levels.Single().Metrics;
            RequestRecord[] records = m.Run.Records;
            Assert.AreEqual(2000, m.Completed, run.Log);
            double lastIntended = (records[^1].IntendedTicks - m.Run.StartTicks) / (double)Stopwatch.Frequency;
            Assert.AreEqual(10.0, lastIntended, 1e-6, "the schedule is rescaled so the last arrival is at N/rate");
            double intendedRate = m.IntendedRate, sentRate = m.SendRate;
            Assert.AreEqual(intendedRate, sentRate, intendedRate * MaxRateError, $"sent {sentRate:0.00} req/s for {intendedRate:0.00}\n{run.Log}");
            Assert.IsTrue(m.SendLag.Ms.Median < MaxMedianLagMs, $"median send lag {m.SendLag.Ms.Median:0.000} ms\n{run.Log}");
            Assert.IsTrue(m.SendLag.Ms.Percentile(99) < lastIntended * 1000 * MaxP99LagFraction, $"p99 send lag {m.SendLag.Ms.Percentile(99):0.000} ms\n{run.Log}");
            Assert.IsTrue(records.All(r => r.StartTicks >= r.IntendedTicks), "no request goes out early");
            StringAssert.Contains(run.Log, "progress: concurrency=unlimited,rate=200: ", "progress lines while it runs");
        }, maxAttempts: 2);
    }
}
