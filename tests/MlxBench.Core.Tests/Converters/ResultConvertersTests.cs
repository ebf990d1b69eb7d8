using MlxBench.Core.Converters;
using MlxBench.Core.Envelopes;
using MlxBench.Testing;

namespace MlxBench.Core.Tests.Converters;

[TestClass]
public sealed class ResultConvertersTests
{
    /// <summary>Every fixture file and the converter test class that reads it. A new fixture without a test fails
    /// <see cref="EveryFixtureFile_IsReadByAConverterTest"/>; schema and example files are read by the schema tests.</summary>
    private static readonly Dictionary<string, string> s_fixtureReaders = new(StringComparer.Ordinal)
    {
        ["lm-eval/DanielKluev__pyFade__results_gsm8k_local-chat-completions_lmeval0.4.9.1.json"] = nameof(LmEvalConverterTests),
        ["lm-eval/DanielKluev__pyFade__samples_gsm8k_local-chat-completions_lmeval0.4.9.1.jsonl"] = nameof(LmEvalConverterTests),
        ["lm-eval/antonsoo__errorbars__samples_arc_easy_dummy_lmeval0.4.x.jsonl"] = nameof(LmEvalConverterTests),
        ["lm-eval/trustification__EvalGuard__results_truthfulqa_mc1_lmeval0.4.9.json"] = nameof(LmEvalConverterTests),
        ["lm-eval/trustification__EvalGuard__results_winogender_lmeval0.4.9.json"] = nameof(LmEvalConverterTests),
        ["serving/er0080_vllm-benchmarking__bench_serve_v0.25.1.json"] = nameof(VllmServeConverterTests),
        ["serving/nerdalert_vllm-bench-automation__vllm-benchmark-graphs_results.jsonl"] = nameof(VllmServeConverterTests),
        ["serving/ray-project_llmperf-leaderboard__raw_data_summary_anyscale_70b.json"] = nameof(VllmServeConverterTests),
        ["upstream/envelope.cluster.later.json"] = nameof(EnvelopePassthroughConverterTests),
        ["upstream/envelope.invalid.json"] = nameof(ResultConvertersTests),
        ["upstream/envelope.valid.json"] = nameof(EnvelopePassthroughConverterTests),
        ["upstream/framework_eval_sample.json"] = nameof(FrameworkEvalConverterTests),
        ["upstream/lm_eval_results_sample.json"] = nameof(LmEvalConverterTests),
        ["upstream/lm_eval_with_samples_results.json"] = nameof(LmEvalConverterTests),
        ["upstream/lm_eval_with_samples_samples_gsm8k_cot_zeroshot.jsonl"] = nameof(LmEvalConverterTests),
        ["upstream/schema.v0.6.1.json"] = "Envelopes.SchemaValidatorTests",
        ["upstream/vllm_benchmark_serving_sample.json"] = nameof(VllmServeConverterTests),
    };

    [TestMethod]
    public void EveryFixtureFile_IsReadByAConverterTest()
    {
        string root = SharedData.Fixture();
        string[] files = Directory.GetFiles(root, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(root, f).Replace('\\', '/'))
            .Where(f => f != "README.md")
            .Order(StringComparer.Ordinal)
            .ToArray();

        CollectionAssert.AreEquivalent(s_fixtureReaders.Keys.ToArray(), files, "fixtures without a converter test: " + string.Join(", ", files.Except(s_fixtureReaders.Keys)));
        foreach ((string file, string reader) in s_fixtureReaders)
        {
            string testFile = Path.Combine(SharedData.RepoRoot, "tests", "MlxBench.Core.Tests", reader.Contains('.') ? reader.Replace('.', '/') : "Converters/" + reader) + ".cs";
            Assert.Contains(Path.GetFileName(file), File.ReadAllText(testFile), $"{reader} is listed as reading {file} but does not name it");
        }
    }

    [TestMethod]
    public void Kinds_AreTheFourUsersCanName()
    {
        CollectionAssert.AreEqual(new[] { "lm-eval", "vllm", "framework-eval", "envelope" }, ResultConverters.Kinds.ToArray());
    }

    [TestMethod]
    [DataRow("lm-eval", typeof(LmEvalConverter))]
    [DataRow("LM-EVAL", typeof(LmEvalConverter))]
    [DataRow("vllm", typeof(VllmServeConverter))]
    [DataRow("framework-eval", typeof(FrameworkEvalConverter))]
    [DataRow("envelope", typeof(EnvelopePassthroughConverter))]
    public void TryGet_FindsEachKind_IgnoringCase(string kind, Type type)
    {
        Assert.IsTrue(ResultConverters.TryGet(kind, out IResultConverter converter));
        Assert.IsInstanceOfType(converter, type);
    }

    [TestMethod]
    [DataRow("lighteval")]
    [DataRow("")]
    [DataRow("lm_eval")]
    public void UnknownKind_IsNotFound(string kind)
    {
        Assert.IsFalse(ResultConverters.TryGet(kind, out _));
    }

    [TestMethod]
    public void UpstreamInvalidExample_IsRefusedByPassthrough_AndWhatIsPresentIsCaughtByValidation()
    {
        // A command that writes a broken envelope gets an error, never a silently repaired envelope.
        string text = SharedData.ReadFixture("upstream", "envelope.invalid.json");
        var converter = new EnvelopePassthroughConverter();

        StringAssert.Contains(Assert.ThrowsExactly<ConversionException>(() => converter.Convert(text, Contexts.For("reasoning"))).Message, "memory_gb");

        Envelope withMemory = converter.Convert(text.Replace("\"chip\": \"Apple M4 Max\"", "\"chip\": \"Apple M4 Max\", \"memory_gb\": 128"), Contexts.For("reasoning"));
        CollectionAssert.AreEquivalent(
            new[] { "$.git_sha", "$.git_sha", "$.schema_version", "$.suite", "$.timestamp", "$.trigger" },
            SchemaValidator.Default.Validate(withMemory).Select(e => e.Path).ToArray());
    }
}
