using System.Text.Json.Nodes;
using MlxBench.Core.Converters;
using MlxBench.Core.Envelopes;
using MlxBench.Testing;

namespace MlxBench.Core.Tests.Converters;

[TestClass]
public sealed class LmEvalConverterTests
{
    private const string TruthfulQa = "trustification__EvalGuard__results_truthfulqa_mc1_lmeval0.4.9.json";
    private const string Winogender = "trustification__EvalGuard__results_winogender_lmeval0.4.9.json";
    private const string Gsm8kChat = "DanielKluev__pyFade__results_gsm8k_local-chat-completions_lmeval0.4.9.1.json";

    private static readonly LmEvalConverter s_converter = new();

    private static Envelope Convert(string text, params (string, string)[] extraTags) =>
        s_converter.Convert(text, Contexts.For("reasoning", extraTags: extraTags));

    private static string[] TagKeys(BenchmarkResult result) => result.Tags!.Keys.ToArray();

    [TestMethod]
    public void UpstreamSample_GivesUpstreamsExpectedEnvelope()
    {
        Envelope envelope = Convert(SharedData.ReadFixture("upstream", "lm_eval_results_sample.json"), ("run_tag", "x"));

        Assert.AreEqual("2025-12-25T05:20:00Z", envelope.Timestamp, "date 1766640000.0 as a UTC timestamp");
        Assert.AreEqual("1", envelope.SchemaVersion);
        Assert.AreEqual("deadbeef", envelope.GitSha);
        Assert.AreEqual("local", envelope.Trigger);
        Assert.AreEqual("reasoning", envelope.Suite);
        Assert.AreEqual("mlx-community/Qwen3.5-9B-MLX-4bit", envelope.Model);
        Assert.IsNotNull(envelope.Errors);
        Assert.IsEmpty(envelope.Errors);
        Assert.IsNull(envelope.PrNumber);
        Assert.IsNull(envelope.Seed, "config.seed is a list in the fixture, so upstream sets no seed");
        Assert.IsNull(envelope.ModelRevision);
        Assert.IsNull(envelope.Quantization);
        Assert.IsNull(envelope.Skipped);
        Assert.IsNotNull(envelope.GenKwargs);
        Assert.AreEqual(4096L, envelope.GenKwargs.MaxGenToks);
        Assert.AreEqual(0.0, envelope.GenKwargs.Temperature);
        Assert.IsNull(envelope.GenKwargs.TopP);
        Assert.IsNull(envelope.GenKwargs.TopK);

        CollectionAssert.AreEqual(
            new[] { "gsm8k_cot_zeroshot exact_match_flexible 0.7 ratio", "gsm8k_cot_zeroshot exact_match_strict 0.5 ratio" },
            envelope.Results.Select(r => $"{r.Name} {r.Metric} {r.Value.ToString(System.Globalization.CultureInfo.InvariantCulture)} {r.Unit}").ToArray());
        string[] upstreamTags = ["lm_eval_key", "run_tag", "total_eval_time_s", "n_limit", "max_gen_toks"];
        foreach ((BenchmarkResult result, string key, string stderr) in new[]
        {
            (envelope.Results[0], "exact_match,flexible-extract", "0.145"),
            (envelope.Results[1], "exact_match,strict-match", "0.158"),
        })
        {
            Assert.IsNull(result.DurationSeconds, "the fixture has no total_evaluation_time_seconds_per_task");
            // Upstream's tags come first and in upstream's order; the stderr upstream drops is kept after them.
            CollectionAssert.AreEqual(upstreamTags.Append("stderr").ToArray(), TagKeys(result));
            CollectionAssert.AreEqual(new[] { key, "x", "123.45", "10", "4096", stderr }, result.Tags!.Values.ToArray());
        }
        Contracts.AssertValidUnderBoth(envelope, "the converted upstream sample");
    }

    [TestMethod]
    public void UpstreamSample_SerializesGenKwargsAndNoFieldsUpstreamLeavesOut()
    {
        JsonObject json = JsonNode.Parse(EnvelopeJson.Serialize(Convert(SharedData.ReadFixture("upstream", "lm_eval_results_sample.json"))))!.AsObject();

        Assert.AreEqual("""{"max_gen_toks":4096,"temperature":0}""", json["gen_kwargs"]!.ToJsonString());
        foreach (string absent in new[] { "seed", "model_revision", "quantization", "pr_number", "skipped", "memory_snapshots" })
            Assert.IsFalse(json.ContainsKey(absent), $"{absent} must not be written");
        foreach (JsonNode? result in json["results"]!.AsArray())
            Assert.IsFalse(result!.AsObject().ContainsKey("duration_seconds"));
    }

    [TestMethod]
    public void LaterUpstreamFixture_TakesDurationFromThePerTaskTimes()
    {
        Envelope envelope = Convert(SharedData.ReadFixture("upstream", "lm_eval_with_samples_results.json"));

        BenchmarkResult result = envelope.Results.Single();
        Assert.AreEqual("exact_match_flexible", result.Metric);
        Assert.AreEqual(0.6, result.Value);
        Assert.AreEqual(100.0, result.DurationSeconds);
        Assert.AreEqual("2026-05-13T15:30:00Z", envelope.Timestamp);
        Assert.AreEqual("5", result.Tags!["n_limit"]);
        Assert.AreEqual("256", result.Tags["max_gen_toks"]);
        Assert.AreEqual("100.0", result.Tags["total_eval_time_s"]);
        Assert.AreEqual("0.155", result.Tags["stderr"]);
        Contracts.AssertValidUnderBoth(envelope, "lm_eval_with_samples_results.json");
    }

    [TestMethod]
    public void RealTruthfulQaRun_KeepsStderrFewShotSamplesAndDirection()
    {
        Envelope envelope = Convert(SharedData.ReadFixture("lm-eval", TruthfulQa));

        Assert.AreEqual("2025-06-25T23:38:52Z", envelope.Timestamp, "date 1750894732.76 truncated to the second");
        Assert.AreEqual("0.4.9", envelope.System.LmEvalVersion);
        Assert.IsNull(envelope.ModelRevision, "model_args (a string here) names no revision; the backend name is not a revision");
        Assert.IsNull(envelope.GenKwargs, "gen_kwargs is null in the file");
        BenchmarkResult result = envelope.Results.Single();
        Assert.AreEqual("truthfulqa_mc1", result.Name);
        Assert.AreEqual("accuracy", result.Metric);
        Assert.AreEqual(0.4467564259485924, result.Value);
        Assert.AreEqual("ratio", result.Unit);
        CollectionAssert.AreEqual(
            new[] { "lm_eval_key", "total_eval_time_s", "n_limit", "stderr", "num_fewshot", "n_samples", "higher_is_better" },
            TagKeys(result));
        Assert.AreEqual("acc,none", result.Tags!["lm_eval_key"]);
        Assert.AreEqual("848.5278227490016", result.Tags["total_eval_time_s"]);
        Assert.AreEqual("5000.0", result.Tags["n_limit"], "lm-eval writes limit as a float and upstream keeps str(float)");
        Assert.AreEqual("0.017403977522557217", result.Tags["stderr"]);
        Assert.AreEqual("0", result.Tags["num_fewshot"]);
        Assert.AreEqual("817", result.Tags["n_samples"]);
        Assert.AreEqual("true", result.Tags["higher_is_better"]);
        Contracts.AssertValidUnderBoth(envelope, TruthfulQa);
    }

    [TestMethod]
    public void RealWinogenderRun_GivesOneAccuracyPerTask()
    {
        Envelope envelope = Convert(SharedData.ReadFixture("lm-eval", Winogender));

        CollectionAssert.AreEqual(
            new[] { "winogender_all", "winogender_female", "winogender_gotcha", "winogender_gotcha_female", "winogender_gotcha_male", "winogender_male", "winogender_neutral" },
            envelope.Results.Select(r => r.Name).ToArray());
        Assert.IsTrue(envelope.Results.All(r => r.Metric == "accuracy" && r.Unit == "ratio"));
        Assert.AreEqual(0.7263888888888889, envelope.Results[0].Value);
        Assert.AreEqual("0.016625970894617575", envelope.Results[0].Tags!["stderr"]);
        Assert.AreEqual("120", envelope.Results.Single(r => r.Name == "winogender_gotcha_male").Tags!["n_samples"]);
        Assert.IsFalse(envelope.Results.Any(r => r.Tags!.ContainsKey("lm_eval_group")), "empty group_subtasks lists make no group");
        Contracts.AssertValidUnderBoth(envelope, Winogender);
    }

    [TestMethod]
    public void RealChatCompletionsGsm8kRun_MapsStrictAndFlexibleMatch()
    {
        Envelope envelope = Convert(SharedData.ReadFixture("lm-eval", Gsm8kChat));

        CollectionAssert.AreEqual(new[] { "exact_match_strict 0.75", "exact_match_flexible 0.78" },
            envelope.Results.Select(r => $"{r.Metric} {r.Value.ToString(System.Globalization.CultureInfo.InvariantCulture)}").ToArray());
        Assert.AreEqual("2025-09-09T13:25:33Z", envelope.Timestamp);
        Assert.AreEqual("0.4.9.1", envelope.System.LmEvalVersion);
        Assert.IsTrue(envelope.Results.All(r => r.Tags!["num_fewshot"] == "5" && r.Tags["n_samples"] == "100" && r.Tags["n_limit"] == "100.0"));
        Assert.AreEqual("0.04351941398892446", envelope.Results[0].Tags!["stderr"]);
        Assert.AreEqual("exact_match,strict-match", envelope.Results[0].Tags!["lm_eval_key"]);
        Contracts.AssertValidUnderBoth(envelope, Gsm8kChat);
    }

    [TestMethod]
    public void ModelOf_FollowsUpstreamsFallbackOrder_ForStringAndObjectModelArgs()
    {
        Assert.AreEqual("gemma3:12b-u1", ModelArgs.ModelOf(JsonNode.Parse(SharedData.ReadFixture("lm-eval", Gsm8kChat))!.AsObject()));
        Assert.AreEqual("mlx-community/Qwen3.5-9B-MLX-4bit", ModelArgs.ModelOf(JsonNode.Parse(SharedData.ReadFixture("upstream", "lm_eval_results_sample.json"))!.AsObject()));
        Assert.AreEqual("org/from-args", ModelArgs.ModelOf(JsonNode.Parse("""{"config":{"model_args":"pretrained=org/from-args,dtype=auto"}}""")!.AsObject()));
        Assert.AreEqual("org/from-object", ModelArgs.ModelOf(JsonNode.Parse("""{"config":{"model_args":{"model":"org/from-object"}}}""")!.AsObject()));
        Assert.AreEqual("unknown", ModelArgs.ModelOf(new JsonObject()));
    }

    [TestMethod]
    [DataRow("""{"model": "m", "revision": "a1b2c3d", "max_length": 32768}""", DisplayName = "object")]
    [DataRow("\"pretrained=m,revision=a1b2c3d,dtype=auto\"", DisplayName = "string")]
    public void ModelRevision_IsReadFromModelArgs_WhetherStringOrObject(string modelArgs)
    {
        string text = SharedData.ReadFixture("upstream", "lm_eval_results_sample.json");
        JsonObject raw = JsonNode.Parse(text)!.AsObject();
        raw["config"]!["model_args"] = JsonNode.Parse(modelArgs);

        Envelope envelope = Convert(raw.ToJsonString());

        Assert.AreEqual("a1b2c3d", envelope.ModelRevision);
        Contracts.AssertValidUnderBoth(envelope);
    }

    [TestMethod]
    public void GenKwargsWrittenAsAString_AreParsed()
    {
        string text = SharedData.ReadFixture("lm-eval", Gsm8kChat).Replace("\"gen_kwargs\": null", "\"gen_kwargs\": \"max_gen_toks=8192,temperature=0.6,top_p=0.95,top_k=20,do_sample=True\"");
        Assert.AreNotEqual(SharedData.ReadFixture("lm-eval", Gsm8kChat), text, "the fixture has gen_kwargs: null");

        Envelope envelope = Convert(text);

        Assert.AreEqual(8192L, envelope.GenKwargs!.MaxGenToks);
        Assert.AreEqual(0.6, envelope.GenKwargs.Temperature);
        Assert.AreEqual(0.95, envelope.GenKwargs.TopP);
        Assert.AreEqual(20L, envelope.GenKwargs.TopK);
        Assert.IsTrue(envelope.Results.All(r => r.Tags!["max_gen_toks"] == "8192"));
        Contracts.AssertValidUnderBoth(envelope);
    }

    [TestMethod]
    public void BareNaNTokens_AreReadAndNonFiniteValuesSkipped()
    {
        // Python's json.dump writes NaN unquoted when a metric could not be computed (a stderr over one sample).
        string text = SharedData.ReadFixture("lm-eval", TruthfulQa)
            .Replace("\"acc_stderr,none\": 0.017403977522557217", "\"acc_stderr,none\": NaN,\n      \"acc_norm,none\": NaN,\n      \"brier_score,none\": -Infinity");

        Envelope envelope = Convert(text);

        BenchmarkResult result = envelope.Results.Single();
        Assert.AreEqual("accuracy", result.Metric);
        Assert.IsFalse(result.Tags!.ContainsKey("stderr"), "a NaN error bar is no error bar");
        Assert.IsTrue(SharedData.ReadFixture("lm-eval", TruthfulQa).Contains("N/A", StringComparison.Ordinal), "the fixture's pretty_env_info holds N/A inside strings");
        Contracts.AssertValidUnderBoth(envelope);
    }

    [TestMethod]
    public void NotAvailableValues_AreSkipped_AndSoIsAnNAStderr()
    {
        // lm-eval writes "N/A" for a group's stderr it could not aggregate, and for metrics a task does not produce.
        string text = SharedData.ReadFixture("lm-eval", Gsm8kChat)
            .Replace("\"exact_match,strict-match\": 0.75", "\"exact_match,strict-match\": \"N/A\"")
            .Replace("\"exact_match_stderr,flexible-extract\": 0.04163331998932261", "\"exact_match_stderr,flexible-extract\": \"N/A\"");

        Envelope envelope = Convert(text);

        BenchmarkResult result = envelope.Results.Single();
        Assert.AreEqual("exact_match_flexible", result.Metric);
        Assert.IsFalse(result.Tags!.ContainsKey("stderr"));
        Contracts.AssertValidUnderBoth(envelope);
    }

    [TestMethod]
    public void Groups_BecomeResults_AndSubtasksNameTheirGroupAndAlias()
    {
        // The shape lm-eval 0.4.x writes for a group (mmlu): the aggregate in results and in the older "groups" object,
        // subtasks with indented aliases, and group_subtasks naming the members.
        const string text = """
        {
          "results": {
            "mmlu": {"acc,none": 0.6, "acc_stderr,none": "N/A", "alias": "mmlu"},
            "mmlu_stem": {"acc,none": 0.5, "acc_stderr,none": 0.02, "alias": " - stem"},
            "mmlu_abstract_algebra": {"alias": "  - abstract_algebra", "acc,none": 0.31, "acc_stderr,none": 0.0465}
          },
          "groups": {
            "mmlu": {"acc,none": 0.6, "acc_stderr,none": "N/A", "alias": "mmlu"},
            "mmlu_humanities": {"acc,none": 0.7, "acc_stderr,none": 0.01, "alias": " - humanities"}
          },
          "group_subtasks": {"mmlu_stem": ["mmlu_abstract_algebra"], "mmlu": ["mmlu_stem", "mmlu_humanities"]},
          "n-shot": {"mmlu_abstract_algebra": 5},
          "higher_is_better": {"mmlu_abstract_algebra": {"acc": true}},
          "config": {"model": "hf", "model_args": "pretrained=m", "limit": null},
          "date": 1750000000.5
        }
        """;

        Envelope envelope = Convert(text);

        CollectionAssert.AreEqual(new[] { "mmlu", "mmlu_stem", "mmlu_abstract_algebra", "mmlu_humanities" }, envelope.Results.Select(r => r.Name).ToArray());
        BenchmarkResult algebra = envelope.Results.Single(r => r.Name == "mmlu_abstract_algebra");
        Assert.AreEqual("mmlu_stem", algebra.Tags!["lm_eval_group"]);
        Assert.AreEqual("abstract_algebra", algebra.Tags["alias"], "the display indent and dash are not part of the alias");
        Assert.AreEqual("5", algebra.Tags["num_fewshot"]);
        Assert.AreEqual("0.0465", algebra.Tags["stderr"]);
        Assert.AreEqual("mmlu", envelope.Results.Single(r => r.Name == "mmlu_humanities").Tags!["lm_eval_group"]);
        Assert.AreEqual("humanities", envelope.Results.Single(r => r.Name == "mmlu_humanities").Tags!["alias"]);
        BenchmarkResult group = envelope.Results[0];
        Assert.IsFalse(group.Tags!.ContainsKey("alias"), "an alias equal to the task name says nothing");
        Assert.IsFalse(group.Tags.ContainsKey("lm_eval_group"));
        Assert.IsFalse(group.Tags.ContainsKey("stderr"), "the group's stderr is N/A");
        Assert.IsFalse(group.Tags.ContainsKey("n_limit"), "limit: null gives no n_limit tag");
        Contracts.AssertValidUnderBoth(envelope);
    }

    [TestMethod]
    [DataRow("acc,none", "accuracy", "ratio")]
    [DataRow("acc_norm,none", "accuracy_normalized", "ratio")]
    [DataRow("exact_match,flexible-extract", "exact_match_flexible", "ratio")]
    [DataRow("exact_match,strict-match", "exact_match_strict", "ratio")]
    [DataRow("pass@1,none", "pass_at_1", "ratio")]
    [DataRow("exact_match,none", "exact_match_none", "ratio")]
    [DataRow("pass@1,create_test", "pass@1_create_test", "ratio")]
    [DataRow("latency_seconds", "latency_seconds", "seconds")]
    [DataRow("ttft,ms", "ttft_ms", "ms")]
    [DataRow("bleu,none", "bleu_none", "ratio")]
    public void MetricNamesAndUnits_FollowUpstream(string key, string metric, string unit)
    {
        Assert.AreEqual(metric, LmEvalConverter.MetricName(key));
        Assert.AreEqual(unit, LmEvalConverter.UnitOf(key));
    }

    [TestMethod]
    [DataRow("\"2025-12-25T05:20:00Z\"", "2025-12-25T05:20:00Z")]
    [DataRow("\"2025-12-25T05:20:00.123Z\"", "2025-12-25T05:20:00.123Z")]
    [DataRow("1766640000.999", "2025-12-25T05:20:00Z")]
    [DataRow("\"2025-12-25 05:20:00\"", "2026-05-04T12:30:15Z")]
    [DataRow("\"20251225-052000\"", "2026-05-04T12:30:15Z")]
    [DataRow("null", "2026-05-04T12:30:15Z")]
    public void Timestamp_IsTheRawDateWhenUpstreamWouldKeepIt_ElseTheClock(string date, string expected)
    {
        string text = SharedData.ReadFixture("upstream", "lm_eval_results_sample.json").Replace("\"date\": 1766640000.0", "\"date\": " + date);

        Assert.AreEqual(expected, Convert(text).Timestamp);
    }

    [TestMethod]
    [DataRow("1e20")]
    [DataRow("-1e20")]
    public void OutOfRangeDate_FallsBackToTheClock(string date)
    {
        string text = SharedData.ReadFixture("upstream", "lm_eval_results_sample.json").Replace("\"date\": 1766640000.0", "\"date\": " + date);

        Assert.AreEqual("2026-05-04T12:30:15Z", Convert(text).Timestamp);
    }

    [TestMethod]
    public void OddlyShapedOptionalSections_AreIgnored_NotFatal()
    {
        JsonObject raw = JsonNode.Parse(SharedData.ReadFixture("lm-eval", Gsm8kChat))!.AsObject();
        raw["n-shot"] = new JsonArray(5);
        raw["n-samples"] = new JsonObject { ["gsm8k"] = 100 };
        raw["higher_is_better"] = new JsonObject { ["gsm8k"] = true };
        raw["total_evaluation_time_seconds_per_task"] = "381.8";
        raw["group_subtasks"] = new JsonObject { ["gsm8k"] = "none" };
        raw["config"]!["model_args"] = new JsonArray();
        raw["results"]!["gsm8k"]!["exact_match,flexible-extract"] = JsonNode.Parse("1e400");

        Envelope envelope = Convert(raw.ToJsonString());

        BenchmarkResult result = envelope.Results.Single();
        Assert.AreEqual("exact_match_strict", result.Metric, "a value that does not fit a double is skipped like NaN");
        foreach (string absent in new[] { "num_fewshot", "n_samples", "higher_is_better", "lm_eval_group" })
            Assert.IsFalse(result.Tags!.ContainsKey(absent), absent);
        Assert.IsNull(result.DurationSeconds);
        Contracts.AssertValidUnderBoth(envelope);
    }

    [TestMethod]
    public void TimestampOverride_WinsOverTheRawDate()
    {
        ConverterContext context = Contexts.For("reasoning") with { TimestampOverride = "2026-01-02T03:04:05Z" };

        Assert.AreEqual("2026-01-02T03:04:05Z", s_converter.Convert(SharedData.ReadFixture("upstream", "lm_eval_results_sample.json"), context).Timestamp);
    }

    [TestMethod]
    public void Converting_NeverChangesTheCallersSystemInfo()
    {
        // One SystemInfo is shared by every cell of a Bench run; an lm-eval cell must not leak lm_eval_version into the others.
        ConverterContext context = Contexts.For("reasoning");

        Envelope envelope = s_converter.Convert(SharedData.ReadFixture("lm-eval", TruthfulQa), context);

        Assert.AreEqual("0.4.9", envelope.System.LmEvalVersion);
        Assert.IsNull(context.System!.LmEvalVersion);
        Assert.AreNotSame(context.System, envelope.System);
    }

    [TestMethod]
    public void ConvertingTheSameFileTwice_GivesTheSameEnvelope()
    {
        string text = SharedData.ReadFixture("lm-eval", Winogender);

        Assert.AreEqual(EnvelopeJson.Serialize(Convert(text)), EnvelopeJson.Serialize(Convert(text)));
    }

    [TestMethod]
    [DataRow("DanielKluev__pyFade__samples_gsm8k_local-chat-completions_lmeval0.4.9.1.jsonl", "lm-eval")]
    [DataRow("antonsoo__errorbars__samples_arc_easy_dummy_lmeval0.4.x.jsonl", "lm-eval")]
    [DataRow("lm_eval_with_samples_samples_gsm8k_cot_zeroshot.jsonl", "upstream")]
    public void SamplesFile_IsRejected_WithAPointerToTheResultsFile(string file, string folder)
    {
        ConversionException e = Assert.ThrowsExactly<ConversionException>(() => Convert(SharedData.ReadFixture(folder, file)));

        StringAssert.Contains(e.Message, "samples");
        StringAssert.Contains(e.Message, "results_");
    }

    [TestMethod]
    [DataRow("", "not valid JSON")]
    [DataRow("{\"results\": {\"gsm8k\": {\"acc,none\": 0.5}", "not valid JSON")]
    [DataRow("[1, 2]", "no \"results\" object")]
    [DataRow("{\"results\": [0.5]}", "no \"results\" object")]
    [DataRow("null", "JSON null")]
    public void MalformedInput_IsAConversionException_SayingWhatIsWrong(string text, string expected)
    {
        ConversionException e = Assert.ThrowsExactly<ConversionException>(() => Convert(text));

        StringAssert.Contains(e.Message, expected);
    }

    [TestMethod]
    public void ServingResultGivenToLmEval_IsRejected()
    {
        ConversionException e = Assert.ThrowsExactly<ConversionException>(() => Convert(SharedData.ReadFixture("upstream", "vllm_benchmark_serving_sample.json")));

        StringAssert.Contains(e.Message, "lm-eval");
    }
}
