using System.Globalization;
using System.Text.Json.Nodes;
using MlxBench.Core.Converters;
using MlxBench.Harness.Eval.Output;
using MlxBench.Harness.Eval.Python;
using MlxBench.Harness.Eval.Scoring;
using MlxBench.Harness.Eval.Tasks;
using MlxBench.Testing;

namespace MlxBench.Harness.Tests.Eval;

/// <summary>Re-scores real lm-eval samples from their recorded responses and compares every field lm-eval wrote.</summary>
[TestClass]
public sealed class ScoringParityTests
{
    private static LoglikelihoodResponse LlResponse(JsonNode pair) =>
        new(double.Parse((string)pair[0]!, CultureInfo.InvariantCulture), (string)pair[1]! == "True");

    [TestMethod]
    public void ArcEasySamplesRescoreToTheSameLinesByteForByte()
    {
        string path = SharedData.Fixture("lm-eval", EvalFixtures.ArcSamples);
        string[] lines = File.ReadAllLines(path).Where(l => l.Length > 0).ToArray();
        EvalTask task = BuiltInTasks.ArcEasy();
        var builder = new PromptBuilder(task, null, new PromptOptions());
        var docs = new List<DocRequests>();
        var scores = new List<DocScore>();
        foreach (string line in lines)
        {
            JsonObject sample = JsonNode.Parse(line)!.AsObject();
            DocRequests doc = builder.Build((int)sample["doc_id"]!, (JsonObject)sample["doc"]!.DeepClone());
            List<EvalResponse> responses = sample["resps"]!.AsArray().Select(r => (EvalResponse)LlResponse(r![0]!)).ToList();
            DocScore score = new DocScorer(task).Score(doc, responses).Single();
            Assert.AreEqual((double)sample["acc"]!, score.Metrics.Single(m => m.Key == "acc").Value.Value, $"doc {doc.DocId} acc");
            Assert.AreEqual((double)sample["acc_norm"]!, score.Metrics.Single(m => m.Key == "acc_norm").Value.Value, $"doc {doc.DocId} acc_norm");
            docs.Add(doc);
            scores.Add(score);
        }
        var result = new TaskResult(task, 2376, 0, docs, scores, Aggregation.DefaultBootstrapIters);
        string[] ours = result.SampleLines().Select(l => PyJson.Dumps(l, ensureAscii: false)).ToArray();
        CollectionAssert.AreEqual(lines, ours, "the samples lines we write equal lm-eval's");

        (string metric, string filter, AggregateValue acc) = result.Aggregates[0];
        Assert.AreEqual(("acc", "none"), (metric, filter));
        double expected = lines.Select(l => (double)JsonNode.Parse(l)!["acc"]!).Average();
        Assert.AreEqual(expected, acc.Value, 1e-15);
        Assert.AreEqual(Math.Sqrt(expected * (1 - expected) / (lines.Length - 1)), acc.Stderr!.Value, 1e-15);
    }

    [TestMethod]
    public void Gsm8kSamplesRefilterToTheSameAnswersAndExactMatch()
    {
        string path = SharedData.Fixture("lm-eval", EvalFixtures.Gsm8kSamples);
        string[] lines = File.ReadAllLines(path).Where(l => l.Length > 0).ToArray();
        EvalTask task = BuiltInTasks.Gsm8k();
        var builder = new PromptBuilder(task, new FewshotSampler(new EvalFixtures.SparseGsm8kTrain()),
            new PromptOptions { ApplyChatTemplate = true, DoubleSampleChatFewshot = true, ChatMessageTypeField = true });
        List<JsonObject> test = EvalFixtures.Task("openai__grade-school-math__gsm8k_test.jsonl");
        var built = Enumerable.Range(0, 19).Select(d => builder.Build(d, test[d])).ToList();
        foreach (string line in lines)
        {
            JsonObject sample = JsonNode.Parse(line)!.AsObject();
            DocRequests doc = built[(int)sample["doc_id"]!];
            var response = new GenerateResponse((string)sample["resps"]![0]![0]!);
            IReadOnlyList<DocScore> scores = new DocScorer(task).Score(doc, [response]);
            DocScore strict = scores.Single(s => s.Filter == (string)sample["filter"]!);
            Assert.AreEqual(sample["filtered_resps"]!.ToJsonString(), strict.FilteredResps.ToJsonString());
            Assert.AreEqual((double)sample["exact_match"]!, strict.Metrics.Single().Value.Value);

            var result = new TaskResult(task, 1319, 5, [doc], scores, 0);
            Assert.AreEqual(line, PyJson.Dumps(result.SampleLines().First(l => (string)l["filter"]! == "strict-match"), ensureAscii: false),
                "the whole samples line, hashes and chat arguments included");
        }
    }

    [TestMethod]
    public void FlexibleExtractTakesTheLastNumberAndStrictNeedsTheMarker()
    {
        EvalTask task = BuiltInTasks.Gsm8k();
        var doc = new DocRequests(0, new JsonObject { ["question"] = "q", ["answer"] = "so\n#### 1,200" }, [new GenerateRequest(new Prompt("p"), [])]);
        IReadOnlyList<DocScore> scores = new DocScorer(task).Score(doc, [new GenerateResponse("He pays $1,200 in total, i.e. 1200.")]);
        Assert.AreEqual("[\"[invalid]\"]", scores[0].FilteredResps.ToJsonString());
        Assert.AreEqual(0.0, scores[0].Metrics[0].Value.Value);
        Assert.AreEqual("[\"1200.\"]", scores[1].FilteredResps.ToJsonString(), "the last match of (-?[$0-9.,]{2,})|(-?[0-9]+), first non-empty group");
        Assert.AreEqual(1.0, scores[1].Metrics[0].Value.Value, "ignore ',', '$', and the trailing '.'");
    }

    /// <summary>Every aggregate in the real results files is a binary mean over its effective sample count; our mean and
    /// closed-form stderr reproduce value and stderr (the documents' order is not recorded, so within one ulp-scale bound).</summary>
    [TestMethod]
    [DataRow("trustification__EvalGuard__results_truthfulqa_mc1_lmeval0.4.9.json")]
    [DataRow("trustification__EvalGuard__results_winogender_lmeval0.4.9.json")]
    [DataRow(EvalFixtures.Gsm8kResults)]
    public void BinaryMeanAggregatesAndStderrsMatchTheResultsFiles(string file)
    {
        const double MaxRoundingError = 1e-15;
        JsonObject raw = LenientJson.Parse(SharedData.ReadFixture("lm-eval", file)).AsObject();
        int checkedCount = 0;
        foreach ((string task, JsonNode? entry) in raw["results"]!.AsObject())
        {
            int n = (int)raw["n-samples"]![task]!["effective"]!;
            foreach ((string key, JsonNode? value) in entry!.AsObject())
            {
                if (!key.Contains(',') || key.Contains("_stderr")) continue;
                double p = (double)value!;
                int ones = (int)Math.Round(p * n);
                var items = Enumerable.Range(0, n).Select(i => new MetricValue(i < ones ? 1.0 : 0.0)).ToList();
                AggregateValue ours = Aggregation.Aggregate("mean", items);
                Assert.AreEqual(p, ours.Value, MaxRoundingError, $"{task} {key}");
                double stderr = (double)entry[key.Replace(",", "_stderr,", StringComparison.Ordinal)]!;
                Assert.AreEqual(stderr, ours.Stderr!.Value, MaxRoundingError, $"{task} {key} stderr");
                checkedCount++;
            }
        }
        Assert.IsGreaterThan(0, checkedCount);
    }

    [TestMethod]
    public void OneDocumentHasNoStderrAndWeightedAggregationsHaveNone()
    {
        Assert.IsNull(Aggregation.Aggregate("mean", [new MetricValue(1)]).Stderr);
        AggregateValue bpb = Aggregation.Aggregate("bits_per_byte", [new MetricValue(-10, 5), new MetricValue(-20, 10)]);
        Assert.AreEqual(2 / Math.Log(2), bpb.Value, 1e-15);
        Assert.IsNull(bpb.Stderr);
        Assert.AreEqual(Math.Exp(2), Aggregation.Aggregate("weighted_perplexity", [new MetricValue(-10, 5), new MetricValue(-20, 10)]).Value, 1e-12);
    }

    /// <summary>Perplexity's stderr is lm-eval's bootstrap; with a CPython RNG port it is deterministic, so a small
    /// replication in the test (the same chunks, seeds and draws) must agree exactly.</summary>
    [TestMethod]
    public void PerplexityStderrIsLmEvalsSeededBootstrap()
    {
        double[] lls = [-1.5, -0.25, -3.0, -0.75, -2.0];
        double expected;
        {
            var replicates = new List<double>();
            for (int chunk = 0; chunk < 2; chunk++)
            {
                var rnd = new PyRandom(chunk);
                for (int r = 0; r < 1000; r++)
                {
                    double[] s = lls.Select(_ => lls[(int)Math.Floor(rnd.Random() * lls.Length)]).ToArray();
                    replicates.Add(Math.Exp(-s.Sum() / s.Length));
                }
            }
            expected = Aggregation.SampleStddev(replicates);
        }
        AggregateValue ppl = Aggregation.Aggregate("perplexity", lls.Select(l => new MetricValue(l)).ToList(), bootstrapIters: 2000);
        Assert.AreEqual(Math.Exp(1.5), ppl.Value, 1e-12);
        Assert.AreEqual(expected, ppl.Stderr);
    }
}
