using MlxBench.Core.Converters;
using MlxBench.Core.Envelopes;
using MlxBench.Testing;

namespace MlxBench.Core.Tests;

[TestClass]
public sealed class VllmServeConverterTests
{
    private static readonly ConverterContext s_context = new()
    {
        Suite = "throughput", Model = "facebook/opt-125m", GitSha = "0123456789abcdef0123456789abcdef01234567",
        TimestampOverride = "2026-08-16T16:08:53Z", System = new SystemInfo { Os = "Linux", Chip = "x86_64", MemoryGb = 24 },
    };

    private static Envelope Convert(string raw) => new VllmServeConverter().Convert(raw, s_context);

    [TestMethod]
    public void BenchServeFixture_GivesEveryStatistic_WithRunTags_AndNoSweepTags()
    {
        Envelope envelope = Convert(SharedData.ReadFixture("serving", "er0080_vllm-benchmarking__bench_serve_v0.25.1.json"));

        string[] expected =
        [
            "throughput_output_toks_per_s tok/s", "throughput_total_toks_per_s tok/s", "throughput_requests_per_s req/s",
            "throughput_output_toks_per_s_peak tok/s", "concurrency_peak count",
            "ttft_mean_ms ms", "ttft_p50_ms ms", "ttft_std_ms ms", "ttft_p99_ms ms",
            "tpot_mean_ms ms", "tpot_p50_ms ms", "tpot_std_ms ms", "tpot_p99_ms ms",
            "itl_mean_ms ms", "itl_p50_ms ms", "itl_std_ms ms", "itl_p99_ms ms",
        ];
        CollectionAssert.AreEqual(expected, envelope.Results.Select(r => $"{r.Metric} {r.Unit}").ToArray());
        BenchmarkResult ttft = envelope.Results.Single(r => r.Metric == "ttft_p50_ms");
        Assert.AreEqual(55.68139649994919, ttft.Value);
        Assert.AreEqual(1.5441598830002476, ttft.DurationSeconds);
        CollectionAssert.AreEqual(
            new[] { "completed_requests=8", "total_input_tokens=256", "total_output_tokens=128", "num_prompts=8", "request_rate=inf", "burstiness=1.0", "max_concurrency=2", "backend=vllm", "failed=0" },
            ttft.Tags!.Select(t => $"{t.Key}={t.Value}").ToArray());
    }

    [TestMethod]
    public void LegacyJsonLines_KeepOneRunIndexPerLine_AndGetNoLevelTags()
    {
        Envelope envelope = Convert(SharedData.ReadFixture("serving", "nerdalert_vllm-bench-automation__vllm-benchmark-graphs_results.jsonl"));

        CollectionAssert.AreEqual(Enumerable.Range(0, 9).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray(),
            envelope.Results.Select(r => r.Tags!["run_index"]).Distinct().ToArray());
        Assert.IsTrue(envelope.Results.All(r => !r.Tags!.ContainsKey("level") && !r.Tags.ContainsKey("workload")));
        Assert.IsFalse(envelope.Results.Any(r => r.Metric == "goodput_requests_per_s"), "\"request_goodput:\" is null in every line");
        Assert.AreEqual(9 * 15, envelope.Results.Count, "15 statistics per legacy run");
    }

    /// <summary>Two levels of an MlxBench sweep, as the serving harness writes them (trimmed to the keys the converter reads).</summary>
    private const string Sweep = """
        {"date":"20260101-120000","backend":"openai","num_prompts":4,"request_rate":"inf","burstiness":1.0,"max_concurrency":1,"duration":2.0,"completed":4,"failed":0,"total_input_tokens":32,"total_output_tokens":16,"request_throughput":2.0,"request_goodput":null,"output_throughput":8.0,"total_token_throughput":24.0,"max_output_tokens_per_s":9.0,"max_concurrent_requests":1,"rtfx":0.0,"mean_ttft_ms":10.0,"median_ttft_ms":10.0,"std_ttft_ms":0.0,"p99_ttft_ms":10.0,"mean_client_queue_time_ms":500.0,"median_client_queue_time_ms":500.0,"std_client_queue_time_ms":1.0,"p99_client_queue_time_ms":900.0,"mean_send_lag_ms":500.0,"median_send_lag_ms":500.0,"std_send_lag_ms":1.0,"p99_send_lag_ms":900.0,"mlxbench":{"harness_version":"1","tags":{"level":"concurrency=1,rate=inf","workload":"random","endpoint":"completions"}}}
        {"date":"20260101-120005","backend":"openai","num_prompts":4,"request_rate":"inf","burstiness":1.0,"max_concurrency":4,"duration":0.5,"completed":4,"failed":0,"total_input_tokens":32,"total_output_tokens":16,"request_throughput":8.0,"request_goodput":null,"output_throughput":32.0,"total_token_throughput":96.0,"max_output_tokens_per_s":16.0,"max_concurrent_requests":4,"rtfx":0.0,"mean_ttft_ms":12.0,"median_ttft_ms":12.0,"std_ttft_ms":0.0,"p99_ttft_ms":12.0,"mlxbench":{"harness_version":"1","tags":{"level":"concurrency=4,rate=inf","workload":"random","endpoint":"completions"}}}
        """;

    [TestMethod]
    public void Sweep_GivesOneResultPerMetricAndLevel_TaggedWithLevelAndWorkload()
    {
        Envelope envelope = Convert(Sweep);

        var byLevel = envelope.Results.GroupBy(r => r.Tags!["level"]).ToDictionary(g => g.Key, g => g.ToList());
        CollectionAssert.AreEquivalent(new[] { "concurrency=1,rate=inf", "concurrency=4,rate=inf" }, byLevel.Keys.ToArray());
        Assert.IsTrue(envelope.Results.All(r => r.Tags!["workload"] == "random" && r.Tags["endpoint"] == "completions"));
        foreach (List<BenchmarkResult> level in byLevel.Values)
            Assert.AreEqual(level.Count, level.Select(r => r.Metric).Distinct().Count(), "one result per metric and level");

        BenchmarkResult Metric(string level, string metric) => byLevel[level].Single(r => r.Metric == metric);
        Assert.AreEqual(2.0, Metric("concurrency=1,rate=inf", "throughput_requests_per_s").Value);
        Assert.AreEqual(8.0, Metric("concurrency=4,rate=inf", "throughput_requests_per_s").Value);
        Assert.AreEqual(0.5, Metric("concurrency=4,rate=inf", "ttft_p50_ms").DurationSeconds);
        Assert.AreEqual("4", Metric("concurrency=4,rate=inf", "ttft_p50_ms").Tags!["max_concurrency"]);
        Assert.AreEqual(900.0, Metric("concurrency=1,rate=inf", "client_queue_time_p99_ms").Value);
        Assert.AreEqual("ms", Metric("concurrency=1,rate=inf", "send_lag_mean_ms").Unit);
        Assert.AreEqual(0, SchemaValidator.Default.Validate(EnvelopeJson.Serialize(envelope)).Count);
    }
}
