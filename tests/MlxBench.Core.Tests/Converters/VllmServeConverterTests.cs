using System.Globalization;
using System.Text.Json.Nodes;
using MlxBench.Core.Converters;
using MlxBench.Core.Envelopes;
using MlxBench.Testing;

namespace MlxBench.Core.Tests.Converters;

[TestClass]
public sealed class VllmServeConverterTests
{
    private const string BenchServe = "er0080_vllm-benchmarking__bench_serve_v0.25.1.json";
    private const string LegacySweep = "nerdalert_vllm-bench-automation__vllm-benchmark-graphs_results.jsonl";
    private const string LlmPerf = "ray-project_llmperf-leaderboard__raw_data_summary_anyscale_70b.json";

    private static readonly VllmServeConverter s_converter = new();

    private static Envelope Convert(string text, params (string, string)[] extraTags) =>
        s_converter.Convert(text, Contexts.For("throughput", "facebook/opt-125m", extraTags));

    private static BenchmarkResult Metric(Envelope envelope, string metric) => envelope.Results.Single(r => r.Metric == metric);

    [TestMethod]
    public void UpstreamSample_PassesUpstreamsFixtureCheck()
    {
        Envelope envelope = Convert(SharedData.ReadFixture("upstream", "vllm_benchmark_serving_sample.json"), ("run_tag", "x"));

        Assert.IsTrue(envelope.Results.All(r => r.Name == "benchmark_serving"));
        Assert.IsTrue(envelope.Results.All(r => r.DurationSeconds == 60.12), "duration_seconds == raw duration on every result");
        foreach (BenchmarkResult result in envelope.Results)
        {
            Assert.AreEqual("x", result.Tags!["run_tag"]);
            Assert.AreEqual("100", result.Tags["completed_requests"]);
            Assert.AreEqual("25600", result.Tags["total_input_tokens"]);
            Assert.AreEqual("25600", result.Tags["total_output_tokens"]);
            Assert.AreEqual("run_tag", result.Tags.Keys.First(), "extra tags come first, as upstream writes them");
        }
        // Upstream's nine metrics, with upstream's names, units and the raw values.
        (string Metric, double Value, string Unit)[] upstream =
        [
            ("throughput_output_toks_per_s", 42.5, "tok/s"),
            ("throughput_total_toks_per_s", 85.1, "tok/s"),
            ("throughput_requests_per_s", 1.664, "req/s"),
            ("ttft_p50_ms", 42.1, "ms"), ("ttft_p99_ms", 89.2, "ms"),
            ("itl_p50_ms", 11.8, "ms"), ("itl_p99_ms", 19.2, "ms"),
            ("tpot_p50_ms", 11.8, "ms"), ("tpot_p99_ms", 19.2, "ms"),
        ];
        foreach ((string metric, double value, string unit) in upstream)
        {
            BenchmarkResult result = Metric(envelope, metric);
            Assert.AreEqual(value, result.Value, metric);
            Assert.AreEqual(unit, result.Unit, metric);
        }
        Assert.AreEqual("2026-05-04T12:30:15Z", envelope.Timestamp, "upstream stamps vLLM results with the clock, not a raw date");
        Assert.IsNull(envelope.GenKwargs);
        Assert.IsEmpty(envelope.Errors!);
        Contracts.AssertValidUnderBoth(envelope, "the converted upstream vLLM sample");
    }

    [TestMethod]
    public void UpstreamSample_AlsoKeepsWhatUpstreamIgnores_UnderTheSameNaming()
    {
        Envelope envelope = Convert(SharedData.ReadFixture("upstream", "vllm_benchmark_serving_sample.json"));

        Assert.AreEqual(45.6, Metric(envelope, "ttft_mean_ms").Value);
        Assert.AreEqual(8.3, Metric(envelope, "ttft_std_ms").Value);
        Assert.AreEqual(3845.2, Metric(envelope, "e2el_p50_ms").Value);
        Assert.AreEqual(5120.0, Metric(envelope, "e2el_p99_ms").Value);
        Assert.AreEqual(envelope.Results.Count, envelope.Results.Select(r => r.Metric).Distinct().Count(), "one result per metric");
    }

    [TestMethod]
    public void CurrentBenchServeOutput_MapsEveryStatistic_AndTagsTheRunParameters()
    {
        string text = SharedData.ReadFixture("serving", BenchServe);
        Envelope envelope = Convert(text);
        JsonObject raw = JsonNode.Parse(text)!.AsObject();

        Assert.AreEqual(82.89297074037474, Metric(envelope, "throughput_output_toks_per_s").Value);
        Assert.AreEqual(248.6789122211242, Metric(envelope, "throughput_total_toks_per_s").Value);
        Assert.AreEqual(5.180810671273421, Metric(envelope, "throughput_requests_per_s").Value);
        Assert.AreEqual(55.68139649994919, Metric(envelope, "ttft_p50_ms").Value);
        Assert.AreEqual(734.4049174101428, Metric(envelope, "ttft_p99_ms").Value);
        Assert.AreEqual(11.20450286665194, Metric(envelope, "tpot_p50_ms").Value);
        Assert.AreEqual(10.492878499917424, Metric(envelope, "itl_p50_ms").Value);
        Assert.AreEqual(85.0, Metric(envelope, "throughput_output_toks_per_s_peak").Value);
        Assert.AreEqual("tok/s", Metric(envelope, "throughput_output_toks_per_s_peak").Unit);
        Assert.AreEqual(6.0, Metric(envelope, "concurrency_peak").Value);
        Assert.AreEqual("count", Metric(envelope, "concurrency_peak").Unit);
        Assert.IsFalse(envelope.Results.Any(r => r.Metric.StartsWith("goodput", StringComparison.Ordinal)), "request_goodput is null: no SLO was given");
        // Every number in the file that is a metric became exactly one result; nothing else did.
        int latencyKeys = raw.Count(p => p.Key.EndsWith("_ms", StringComparison.Ordinal));
        Assert.AreEqual(latencyKeys + 5, envelope.Results.Count, string.Join(", ", envelope.Results.Select(r => r.Metric)));

        BenchmarkResult any = envelope.Results[0];
        Assert.AreEqual(1.5441598830002476, any.DurationSeconds);
        Assert.AreEqual("8", any.Tags!["completed_requests"]);
        Assert.AreEqual("256", any.Tags["total_input_tokens"]);
        Assert.AreEqual("128", any.Tags["total_output_tokens"]);
        Assert.AreEqual("8", any.Tags["num_prompts"]);
        Assert.AreEqual("inf", any.Tags["request_rate"]);
        Assert.AreEqual("1.0", any.Tags["burstiness"]);
        Assert.AreEqual("2", any.Tags["max_concurrency"]);
        Assert.AreEqual("vllm", any.Tags["backend"]);
        Assert.AreEqual("0", any.Tags["failed"]);
        Assert.IsTrue(envelope.Results.All(r => r.Tags!.Values.All(v => v is not null)));
        Contracts.AssertValidUnderBoth(envelope, BenchServe);
    }

    [TestMethod]
    public void LegacySweepJsonLines_GivesEveryRunsMetrics_EachWithItsOwnCounts()
    {
        string text = SharedData.ReadFixture("serving", LegacySweep);
        List<JsonObject> runs = text.Split('\n').Where(l => l.Trim().Length > 0).Select(l => JsonNode.Parse(l)!.AsObject()).ToList();
        Assert.HasCount(9, runs);

        Envelope envelope = Convert(text);

        List<BenchmarkResult> throughput = envelope.Results.Where(r => r.Metric == "throughput_output_toks_per_s").ToList();
        Assert.HasCount(9, throughput);
        for (int i = 0; i < runs.Count; i++)
        {
            BenchmarkResult result = throughput.Single(r => r.Value == runs[i]["output_throughput"]!.GetValue<double>());
            Assert.AreEqual(runs[i]["duration"]!.GetValue<double>(), result.DurationSeconds);
            Assert.AreEqual(runs[i]["total_output_tokens"]!.GetValue<long>().ToString(CultureInfo.InvariantCulture), result.Tags!["total_output_tokens"]);
            Assert.AreEqual(runs[i]["completed"]!.GetValue<long>().ToString(CultureInfo.InvariantCulture), result.Tags["completed_requests"]);
            Assert.AreEqual(runs[i]["num_prompts"]!.GetValue<long>().ToString(CultureInfo.InvariantCulture), result.Tags["num_prompts"]);
            Assert.IsFalse(result.Tags.ContainsKey("max_concurrency"), "max_concurrency: null is not a tag");
        }
        // Runs stay distinguishable in the dataset: no two results share metric and tags.
        Assert.AreEqual(envelope.Results.Count, envelope.Results.Select(r => r.Metric + "|" + string.Join(",", r.Tags!)).Distinct().Count());
        int expected = runs.Sum(r => r.Count(p => p.Key.EndsWith("_ms", StringComparison.Ordinal)) + 3);
        Assert.AreEqual(expected, envelope.Results.Count, "per run: 3 throughputs and every latency statistic");
        Contracts.AssertValidUnderBoth(envelope, LegacySweep);
    }

    [TestMethod]
    public void LegacyGoodputKey_WithItsStrayColon_IsRead()
    {
        string line = SharedData.ReadFixture("serving", LegacySweep).Split('\n')[0];
        Assert.Contains("\"request_goodput:\": null", line);

        Envelope envelope = Convert(line.Replace("\"request_goodput:\": null", "\"request_goodput:\": 7.5"));

        BenchmarkResult goodput = Metric(envelope, "goodput_requests_per_s");
        Assert.AreEqual(7.5, goodput.Value);
        Assert.AreEqual("req/s", goodput.Unit);
        Contracts.AssertValidUnderBoth(envelope);
    }

    [TestMethod]
    public void CurrentGoodputKey_IsRead()
    {
        Envelope envelope = Convert(SharedData.ReadFixture("serving", BenchServe).Replace("\"request_goodput\": null", "\"request_goodput\": 4.25"));

        Assert.AreEqual(4.25, Metric(envelope, "goodput_requests_per_s").Value);
    }

    [TestMethod]
    public void MissingMetrics_AreSkipped_NotZeroed()
    {
        JsonObject raw = JsonNode.Parse(SharedData.ReadFixture("upstream", "vllm_benchmark_serving_sample.json"))!.AsObject();
        raw.Remove("p99_ttft_ms");
        raw.Remove("output_throughput");
        raw["median_itl_ms"] = "N/A";

        Envelope envelope = Convert(raw.ToJsonString());

        string[] metrics = envelope.Results.Select(r => r.Metric).ToArray();
        CollectionAssert.DoesNotContain(metrics, "ttft_p99_ms");
        CollectionAssert.DoesNotContain(metrics, "throughput_output_toks_per_s");
        CollectionAssert.DoesNotContain(metrics, "itl_p50_ms");
        CollectionAssert.Contains(metrics, "ttft_p50_ms");
    }

    [TestMethod]
    public void LlmPerfSummary_IsRejected_AsNotAVllmResult()
    {
        ConversionException e = Assert.ThrowsExactly<ConversionException>(() => Convert(SharedData.ReadFixture("serving", LlmPerf)));

        StringAssert.Contains(e.Message, "duration");
        StringAssert.Contains(e.Message, "vllm bench serve");
    }

    [TestMethod]
    public void LmEvalResultsGivenToVllm_AreRejected()
    {
        Assert.ThrowsExactly<ConversionException>(() => Convert(SharedData.ReadFixture("upstream", "lm_eval_results_sample.json")));
    }

    [TestMethod]
    public void TruncatedFile_IsAConversionException_ThatSaysItIsNotJson()
    {
        string text = SharedData.ReadFixture("serving", BenchServe);

        ConversionException e = Assert.ThrowsExactly<ConversionException>(() => Convert(text[..(text.Length / 2)]));

        StringAssert.Contains(e.Message, "not valid JSON");
        Assert.IsFalse(e.Message.StartsWith("line 1:", StringComparison.Ordinal), "a pretty-printed file is not JSON Lines: " + e.Message);
    }

    [TestMethod]
    public void BrokenLineInJsonLines_IsNamedByItsNumber()
    {
        string[] lines = SharedData.ReadFixture("serving", LegacySweep).Split('\n');
        lines[3] = lines[3][..40];

        ConversionException e = Assert.ThrowsExactly<ConversionException>(() => Convert(string.Join('\n', lines)));

        StringAssert.StartsWith(e.Message, "line 4:");
    }

    [TestMethod]
    public void EmptyFile_IsAConversionException()
    {
        Assert.ThrowsExactly<ConversionException>(() => Convert(""));
        Assert.ThrowsExactly<ConversionException>(() => Convert("[]"));
    }
}
