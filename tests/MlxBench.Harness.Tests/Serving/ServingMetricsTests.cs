using System.Diagnostics;
using System.Text.Json.Nodes;
using MlxBench.Harness.Serving;
using MlxBench.Harness.Serving.Client;
using MlxBench.Harness.Serving.Metrics;

namespace MlxBench.Harness.Tests.Serving;

/// <summary>
/// Every metric against what the scripted server actually did: latencies within <see cref="MaxLatencyErrorMs"/>
/// (the loopback and parsing delay between the server's write and the client's stamp), counts exact.
/// </summary>
[TestClass]
public sealed class ServingMetricsTests
{
    /// <summary>Client stamps trail the server's by the request and response paths over loopback (~0.1 ms).</summary>
    private const double MaxLatencyErrorMs = 1.0;

    /// <summary>Sanity bound on client send → server handler (Kestrel parsing a burst on two shared cores).</summary>
    private const double MaxRequestPathMs = 20.0;

    /// <summary>Request i: TTFT 25 + 6i ms, then gaps of 4, 7 or 10 ms; output lengths include a single token (no TPOT); the last request fails.</summary>
    private static readonly int[] s_outputs = [4, 1, 3, 5, 2, 4];

    private static Script ScriptFor(string id)
    {
        int i = int.Parse(id[(id.LastIndexOf('-') + 1)..], System.Globalization.CultureInfo.InvariantCulture);
        if (i >= s_outputs.Length) return new Script([], Status: 500);
        double[] gaps = Enumerable.Range(0, s_outputs[i] - 1).Select(j => 4.0 + (i + j) % 3 * 3).ToArray();
        return Script.Tokens(25 + 6 * i, gaps);
    }

    [TestMethod]
    [DataRow(ServingApi.Completions, true)]
    [DataRow(ServingApi.Chat, true)]
    [DataRow(ServingApi.Completions, false)]
    [DataRow(ServingApi.Chat, false)]
    public async Task EveryMetric_MatchesTheServersSchedule(ServingApi api, bool stream)
    {
        await TimingAttempts.RunAsync(async () =>
        {
            await using ScriptedServer server = await ScriptedServer.StartAsync(ScriptFor);
            ServingOptions options = ServingTestRun.Options(requests: s_outputs.Length + 1) with
            {
                Api = api, Stream = stream, Goodput = new GoodputSlo(40, 8, null),
            };

            ServingTestRun run = await ServingTestRun.RunAsync(server, options);

            LevelMetrics m = run.Levels.Single().Metrics;
            ServedRequest[] served = server.Measured(0, s_outputs.Length);
            RequestRecord[] records = m.Run.Records;
            ExpectedRequest[] expected = served.Select((s, i) => ExpectedRequest.From(s, records[i].StartTicks)).ToArray();
            Assert.AreEqual(s_outputs.Length, m.Completed, run.Log);
            Assert.AreEqual(1, m.Failed, run.Log);
            Assert.IsFalse(records[^1].Success);
            StringAssert.Contains(records[^1].Error, "HTTP 500");
            Assert.AreEqual(expected.Sum(e => (long)e.PromptTokens), m.TotalInputTokens);
            Assert.AreEqual(s_outputs.Sum(), m.TotalOutputTokens);
            Assert.AreEqual(s_outputs.Sum(), expected.Sum(e => e.OutputTokens));
            Assert.AreEqual(8 * s_outputs.Length, m.TotalInputTokens, "token-id prompts of exactly InputTokens");
            Assert.IsTrue(served.All(s => s.TokenIdPrompt == (api == ServingApi.Completions)), "completions get token ids, chat gets detokenized text");

            string paths = string.Join("\n", served.Select((s, i) => $"request {i}: start->arrival {Ms(s.ArrivalTicks - records[i].StartTicks):0.000} ms, first write->stamp {Ms(records[i].FirstChunkTicks - s.ChoiceWriteTicks[0]):0.000} ms, last {Ms(records[i].LastChunkTicks - s.ChoiceWriteTicks[^1]):0.000} ms"));
            for (int i = 0; i < expected.Length; i++)
            {
                string at = $"request {i}\n{paths}\n{run.Log}";
                // The send stamp is taken before the request leaves: it precedes the server's arrival by the request path.
                Assert.IsTrue(records[i].StartTicks < served[i].ArrivalTicks && Ms(served[i].ArrivalTicks - records[i].StartTicks) < MaxRequestPathMs, "send of " + at);
                Assert.AreEqual(expected[i].TtftMs, Ms(records[i].FirstChunkTicks - records[i].StartTicks), MaxLatencyErrorMs, "TTFT of " + at);
                Assert.AreEqual(expected[i].E2elMs, Ms(records[i].LastChunkTicks - records[i].StartTicks), MaxLatencyErrorMs, "E2EL of " + at);
                Assert.AreEqual(stream ? expected[i].ItlMs.Length + 1 : 1, records[i].ChunkCount, "messages of " + at);
            }

            double[] ttft = expected.Select(e => e.TtftMs).ToArray();
            double[] e2el = expected.Select(e => e.E2elMs).ToArray();
            AssertStatistics(m.Ttft, ttft);
            AssertStatistics(m.E2el, e2el);
            if (stream)
            {
                AssertStatistics(m.Tpot, expected.Where(e => e.TpotMs is not null).Select(e => e.TpotMs!.Value).ToArray());
                AssertStatistics(m.Itl, expected.SelectMany(e => e.ItlMs).ToArray());
            }
            else
            {
                Assert.AreEqual(0, m.Itl.ValuesSeconds.Count, "no gaps are observable without streaming");
                CollectionAssert.AreEqual(m.Ttft.ValuesSeconds.ToArray(), m.E2el.ValuesSeconds.ToArray(), "without streaming the first token arrives with the last");
            }

            // The whole level takes well under a second, so the peak 1-s bin holds every message (vLLM counts messages).
            Assert.IsTrue(m.Duration < 1, $"duration {m.Duration}");
            Assert.AreEqual(records.Where(r => r.Success).Sum(r => r.ChunkCount), m.MaxOutputTokensPerSecond);
            Assert.AreEqual(s_outputs.Length, m.MaxConcurrentRequests, "all successful requests overlap");
            Assert.AreEqual(expected.Sum(e => (double)e.OutputTokens) / m.Duration, m.OutputThroughput, 1e-9);
            Assert.AreEqual(s_outputs.Length / m.Duration, m.RequestThroughput, 1e-9);

            // Goodput: a request is good when TTFT <= 40 ms and TPOT <= 8 ms (TPOT 0 for a single token).
            int good = records.Where(r => r.Success).Count(r =>
            {
                double t = Ms(r.FirstChunkTicks - r.StartTicks), e = Ms(r.LastChunkTicks - r.StartTicks);
                double tpot = r.OutputTokens > 1 ? (e - t) / (r.OutputTokens - 1) : 0;
                return t <= 40 && tpot <= 8;
            });
            Assert.AreEqual(good / m.Duration, m.RequestGoodput!.Value, 1e-9);

            JsonObject json = run.Json(0);
            Assert.AreEqual(api == ServingApi.Chat ? "openai-chat" : "openai", (string)json["backend"]!);
            Assert.AreEqual(m.Ttft.Ms.Mean, (double)json["mean_ttft_ms"]!, 1e-9);
            Assert.AreEqual(m.E2el.Ms.Percentile(99), (double)json["p99_e2el_ms"]!, 1e-9);
            Assert.AreEqual(stream, json.ContainsKey("mean_tpot_ms"), "TPOT/ITL keys only when streaming");
            Assert.AreEqual(0, (int)json["mlxbench"]!["tokens"]!["usage_mismatches"]!, run.Log);
        });
    }

    [TestMethod]
    public async Task CappedConcurrency_QueuesRequests_AndReportsQueueTimeApartFromLatency()
    {
        await TimingAttempts.RunAsync(async () =>
        {
            await using ScriptedServer server = await ScriptedServer.StartAsync(id => Script.Tokens(30, 5, 5, 5));
            ServingOptions options = ServingTestRun.Options(requests: 6) with { Concurrencies = [2] };

            ServingTestRun run = await ServingTestRun.RunAsync(server, options);

            LevelMetrics m = run.Levels.Single().Metrics;
            ServedRequest[] served = server.Measured(0, 6);
            RequestRecord[] records = m.Run.Records;
            long firstArrival = served.Min(s => s.ArrivalTicks);
            for (int i = 0; i < served.Length; i++)
            {
                // Everything is released at t=0, so the wait for a slot is how much later the server saw the request.
                double expectedQueue = Ms(served[i].ArrivalTicks - firstArrival);
                Assert.AreEqual(expectedQueue, m.ClientQueueTime.ValuesSeconds[i] * 1000, MaxLatencyErrorMs, $"queue of request {i}\n{run.Log}");
                // Latencies start at the send, not at the release: the queue is not in them.
                Assert.AreEqual(ExpectedRequest.From(served[i], records[i].StartTicks).TtftMs, m.Ttft.ValuesSeconds[i] * 1000, MaxLatencyErrorMs, $"TTFT of request {i}");
            }
            Assert.AreEqual(2, m.MaxConcurrentRequests);
            Assert.IsTrue(m.ClientQueueTime.Ms.Max > 80, "the last pair waited for two earlier pairs of ~45 ms");

            JsonObject json = run.Json(0);
            Assert.AreEqual(2, (int)json["max_concurrency"]!);
            Assert.AreEqual(m.ClientQueueTime.Ms.Mean, (double)json["mean_client_queue_time_ms"]!, 1e-9);
            Assert.IsFalse(json.ContainsKey("mean_e2el_including_client_queue_ms"), "vLLM reports it only for a finite rate");
            Assert.AreEqual(6, json["queue_times"]!.AsArray().Count);
        });
    }

    [TestMethod]
    public async Task FiniteRateWithCap_RecordsIntendedDispatchAndSendTimes()
    {
        await TimingAttempts.RunAsync(async () =>
        {
            // 40 req/s with constant gaps (25 ms) into one slot held 60 ms: each request waits longer than the one before.
            await using ScriptedServer server = await ScriptedServer.StartAsync(id => Script.Tokens(40, 10, 10));
            ServingOptions options = ServingTestRun.Options(requests: 5) with { Concurrencies = [1], RequestRates = [40], Burstiness = double.PositiveInfinity };

            ServingTestRun run = await ServingTestRun.RunAsync(server, options);

            LevelMetrics m = run.Levels.Single().Metrics;
            RequestRecord[] records = m.Run.Records;
            ServedRequest[] served = server.Measured(0, 5);
            for (int i = 0; i < records.Length; i++)
            {
                Assert.AreEqual(25.0 * (i + 1), Ms(records[i].IntendedTicks - m.Run.StartTicks), 1e-6, "schedule: last arrival at N/rate");
                // Dispatch precision is held to percentiles in ScheduleAccuracyTests; here only its stamps are used.
                double expectedQueue = Ms(served[i].ArrivalTicks - served[0].ArrivalTicks) - Ms(records[i].DispatchedTicks - records[0].DispatchedTicks);
                Assert.AreEqual(expectedQueue, m.ClientQueueTime.ValuesSeconds[i] * 1000, MaxLatencyErrorMs, $"queue of request {i}\n{run.Log}");
                Assert.AreEqual(m.E2el.ValuesSeconds[i] + m.ClientQueueTime.ValuesSeconds[i], m.E2elIncludingClientQueue.ValuesSeconds[i], 1e-12);
            }
            Assert.IsTrue(m.ClientQueueTime.ValuesSeconds[^1] * 1000 > 100, "queueing grows by ~35 ms per request");
            Assert.IsTrue(run.Json(0).ContainsKey("p99_e2el_including_client_queue_ms"));
            Assert.AreEqual(40.0, (double)run.Json(0)["request_rate"]!);
        });
    }

    private static void AssertStatistics(LatencyMetric metric, double[] expectedMs)
    {
        Assert.AreEqual(expectedMs.Length, metric.ValuesSeconds.Count, metric.Key);
        Assert.AreEqual(Numpy.Mean(expectedMs), metric.Ms.Mean, MaxLatencyErrorMs, metric.Key + " mean");
        Assert.AreEqual(Numpy.Percentile(expectedMs, 50), metric.Ms.Median, MaxLatencyErrorMs, metric.Key + " median");
        Assert.AreEqual(Numpy.Std(expectedMs), metric.Ms.StdDev, MaxLatencyErrorMs, metric.Key + " std");
        Assert.AreEqual(Numpy.Percentile(expectedMs, 90), metric.Ms.Percentile(90), MaxLatencyErrorMs, metric.Key + " p90");
        Assert.AreEqual(Numpy.Percentile(expectedMs, 99), metric.Ms.Percentile(99), MaxLatencyErrorMs, metric.Key + " p99");
    }

    private static double Ms(long ticks) => ticks * 1000.0 / Stopwatch.Frequency;
}
