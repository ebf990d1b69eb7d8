using System.Text.Json.Nodes;
using MlxBench.Harness.Eval.Tasks;
using MlxBench.Testing;

namespace MlxBench.Harness.Tests.Eval;

/// <summary>Reads the shared data sets and lm-eval fixtures the evaluator tests compare against.</summary>
internal static class EvalFixtures
{
    public const int Gsm8kTrainSize = 7473;

    public static List<JsonObject> Jsonl(string path) =>
        File.ReadAllLines(path).Where(l => l.Length > 0).Select(l => (JsonObject)JsonNode.Parse(l)!).ToList();

    public static List<JsonObject> Task(string file) => Jsonl(SharedData.RequireShared("tasks", file));

    public static List<JsonObject> LmEvalSamples(string file) => Jsonl(SharedData.Fixture("lm-eval", file));

    public const string ArcSamples = "antonsoo__errorbars__samples_arc_easy_dummy_lmeval0.4.x.jsonl";
    public const string Gsm8kSamples = "DanielKluev__pyFade__samples_gsm8k_local-chat-completions_lmeval0.4.9.1.jsonl";
    public const string Gsm8kResults = "DanielKluev__pyFade__results_gsm8k_local-chat-completions_lmeval0.4.9.1.json";

    /// <summary>The 7473-row GSM8K train split, of which shared/ holds only the rows the first 40 test docs draw:
    /// reading any other row fails the test, which proves the sampler drew exactly those.</summary>
    public sealed class SparseGsm8kTrain : IFewshotPool
    {
        private readonly Dictionary<int, JsonObject> _rows;

        public SparseGsm8kTrain()
        {
            _rows = Task("openai__grade-school-math__gsm8k_train_subset_fewshot.jsonl").ToDictionary(
                r => (int)r["train_index"]!,
                r => new JsonObject { ["question"] = r["question"]!.DeepClone(), ["answer"] = r["answer"]!.DeepClone() });
        }

        public List<int> Read { get; } = [];

        public int Count => Gsm8kTrainSize;

        public JsonObject this[int index]
        {
            get
            {
                Read.Add(index);
                return _rows.TryGetValue(index, out JsonObject? row) ? row : throw new AssertFailedException($"train row {index} was drawn but is not one lm-eval draws");
            }
        }
    }
}
