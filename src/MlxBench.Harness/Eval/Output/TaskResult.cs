using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using MlxBench.Harness.Eval.Python;
using MlxBench.Harness.Eval.Scoring;
using MlxBench.Harness.Eval.Tasks;

namespace MlxBench.Harness.Eval.Output;

/// <summary>Everything one task produced: its documents' requests, their scores per filter, and the aggregates.</summary>
public sealed class TaskResult
{
    public TaskResult(EvalTask task, int originalCount, int numFewshot, IReadOnlyList<DocRequests> docs, IReadOnlyList<DocScore> scores, int bootstrapIters)
    {
        Task = task;
        OriginalCount = originalCount;
        NumFewshot = numFewshot;
        Docs = docs;
        Scores = scores;
        Aggregates = AggregateScores(task, scores, bootstrapIters);
    }

    public EvalTask Task { get; }
    public int OriginalCount { get; }
    public int NumFewshot { get; }
    public IReadOnlyList<DocRequests> Docs { get; }
    public IReadOnlyList<DocScore> Scores { get; }
    public double Seconds { get; init; }

    /// <summary>(metric, filter) → value, in the order lm-eval inserts them: filter by filter, metric by metric.</summary>
    public IReadOnlyList<(string Metric, string Filter, AggregateValue Value)> Aggregates { get; }

    private static List<(string, string, AggregateValue)> AggregateScores(EvalTask task, IReadOnlyList<DocScore> scores, int iters)
    {
        var keys = new List<(string Metric, string Filter)>();
        var items = new Dictionary<(string, string), List<MetricValue>>();
        foreach (DocScore score in scores)
            foreach ((string metric, MetricValue value) in score.Metrics)
            {
                if (!items.TryGetValue((metric, score.Filter), out List<MetricValue>? list))
                {
                    items[(metric, score.Filter)] = list = [];
                    keys.Add((metric, score.Filter));
                }
                list.Add(value);
            }
        return keys.Select(k =>
        {
            string aggregation = task.Metrics.FirstOrDefault(m => m.Name == k.Metric)?.Aggregation ?? Aggregation.DefaultFor(k.Metric);
            return (k.Metric, k.Filter, Aggregation.Aggregate(aggregation, items[k], iters));
        }).ToList();
    }

    /// <summary>The <c>results[task]</c> entry: alias, then each metric and its stderr ("N/A" when there is none).</summary>
    public JsonObject ResultsEntry()
    {
        var entry = new JsonObject { ["alias"] = Task.Name };
        foreach ((string metric, string filter, AggregateValue value) in Aggregates)
        {
            entry[$"{metric},{filter}"] = value.Value;
            entry[$"{metric}_stderr,{filter}"] = value.Stderr is { } se ? JsonValue.Create(se) : JsonValue.Create("N/A");
        }
        return entry;
    }

    /// <summary>The samples file's lines, as lm-eval's <c>EvaluationTracker</c> writes them (one per document per filter).</summary>
    public IEnumerable<JsonObject> SampleLines()
    {
        Dictionary<int, DocRequests> byId = Docs.ToDictionary(d => d.DocId);
        foreach (DocScore score in Scores)
        {
            DocRequests doc = byId[score.DocId];
            DocTarget target = Task.DocToTarget(doc.Doc);
            string targetText = target.ToString();
            var line = new JsonObject
            {
                ["doc_id"] = doc.DocId,
                ["doc"] = doc.Doc.DeepClone(),
                ["target"] = targetText,
                ["arguments"] = Arguments(doc),
                ["resps"] = score.Resps.DeepClone(),
                ["filtered_resps"] = score.FilteredResps.DeepClone(),
                ["filter"] = score.Filter,
                ["metrics"] = new JsonArray(score.Metrics.Select(m => (JsonNode)m.Key).ToArray()),
                ["doc_hash"] = Sha256(PyJson.Dumps(doc.Doc, indent: 2, ensureAscii: false)),
                ["prompt_hash"] = Sha256(FirstArgument(doc.Requests[0])),
                ["target_hash"] = Sha256(targetText),
            };
            foreach ((string metric, MetricValue value) in score.Metrics) line[metric] = value.ToJson();
            yield return line;
        }
    }

    /// <summary><c>task_hashes[task]</c>: a hash over every sample's three hashes.</summary>
    public string TaskHash(IEnumerable<JsonObject> lines) =>
        Sha256(string.Concat(lines.Select(l => (string)l["doc_hash"]! + (string)l["prompt_hash"]! + (string)l["target_hash"]!)));

    private static JsonObject Arguments(DocRequests doc)
    {
        var arguments = new JsonObject();
        for (int i = 0; i < doc.Requests.Count; i++)
        {
            var args = new JsonObject();
            switch (doc.Requests[i])
            {
                case LoglikelihoodRequest ll:
                    args["arg_0"] = ll.Context;
                    args["arg_1"] = ll.Continuation;
                    break;
                case RollingRequest rolling:
                    args["arg_0"] = rolling.Text;
                    break;
                case GenerateRequest gen:
                    // Chat prompts are logged as lm-eval's JsonChatStr: a 1-element list holding the JSON string.
                    args["arg_0"] = gen.Context.IsChat ? new JsonArray(gen.Context.Text) : JsonValue.Create(gen.Context.Text);
                    args["arg_1"] = gen.GenKwargs.DeepClone();
                    break;
            }
            arguments[$"gen_args_{i}"] = args;
        }
        return arguments;
    }

    private static string FirstArgument(EvalRequest request) => request switch
    {
        LoglikelihoodRequest ll => ll.Context,
        RollingRequest r => r.Text,
        GenerateRequest g => g.Context.Text,
        _ => "",
    };

    public static string Sha256(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
}
