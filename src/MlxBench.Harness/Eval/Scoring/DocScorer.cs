using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using MlxBench.Harness.Eval.Python;
using MlxBench.Harness.Eval.Tasks;

namespace MlxBench.Harness.Eval.Scoring;

/// <summary>A per-document metric value: a number (a Python int when <see cref="IsInteger"/>), or for the weighted
/// aggregations a (log-likelihood, word or byte count) pair.</summary>
public readonly record struct MetricValue(double Value, long? Weight = null, bool IsInteger = false)
{
    public JsonNode ToJson() => Weight is { } w ? new JsonArray(Value, w)
        : IsInteger ? JsonValue.Create((long)Value) : JsonValue.Create(Value);
}

/// <summary>One document scored under one filter: one line of the samples file.</summary>
public sealed record DocScore(int DocId, string Filter, JsonArray Resps, JsonArray FilteredResps, IReadOnlyList<KeyValuePair<string, MetricValue>> Metrics);

/// <summary>
/// lm-eval's <c>Task.process_results</c> for the four output types: argmax over choice log-likelihoods (ties to the
/// first), <c>acc_norm</c> over log-likelihood per code point of the choice, <c>acc</c> = is_greedy for loglikelihood,
/// (ll, words)/(ll, bytes) pairs for rolling, and filter pipelines then exact_match for generation.
/// </summary>
public sealed class DocScorer(EvalTask task)
{
    public IReadOnlyList<DocScore> Score(DocRequests doc, IReadOnlyList<EvalResponse> responses)
    {
        if (responses.Count != doc.Requests.Count)
            throw new ArgumentException($"doc {doc.DocId}: {responses.Count} responses for {doc.Requests.Count} requests");
        return task.OutputType switch
        {
            OutputType.MultipleChoice => [MultipleChoice(doc, responses.Cast<LoglikelihoodResponse>().ToList())],
            OutputType.Loglikelihood => [Loglikelihood(doc, (LoglikelihoodResponse)responses[0])],
            OutputType.LoglikelihoodRolling => [Rolling(doc, (RollingResponse)responses[0])],
            OutputType.GenerateUntil => task.Filters.Select(f => Generate(doc, f, (GenerateResponse)responses[0])).ToList(),
            _ => throw new InvalidOperationException(task.OutputType.ToString()),
        };
    }

    private bool Uses(string metric) => task.Metrics.Any(m => m.Name == metric);

    private DocScore MultipleChoice(DocRequests doc, IReadOnlyList<LoglikelihoodResponse> lls)
    {
        IReadOnlyList<string> choices = task.DocToChoice!(doc.Doc);
        int pred = ArgMax(lls.Select(r => r.LogLikelihood).ToArray());
        int predNorm = ArgMax(lls.Select((r, i) => r.LogLikelihood / PyStr.Len(choices[i])).ToArray());

        // WinoGrande: the gold is what doc_to_text gives.
        DocText text = task.DocToText(doc.Doc);
        DocTarget target = text.Index is { } goldIndex ? DocTarget.OfIndex(goldIndex) : task.DocToTarget(doc.Doc);
        IReadOnlyList<int> gold = target.Indices
            ?? (target.Index is { } i ? [i < choices.Count ? i : -100]
                : [choices.ToList().IndexOf(target.Text!) is var found and >= 0 ? found : -100]);
        bool multipleTarget = target.Indices is not null;

        double acc, accNorm, exactMatch;
        if (multipleTarget)
        {
            acc = gold.Contains(pred) ? 1.0 : 0.0;
            accNorm = gold.Contains(predNorm) ? 1.0 : 0.0;
            exactMatch = gold.Any(g => g != -100 && lls[g].IsGreedy) ? 1 : 0;
        }
        else
        {
            acc = gold[0] == pred ? 1.0 : 0.0;
            accNorm = gold[0] == predNorm ? 1.0 : 0.0;
            exactMatch = gold[0] != -100 && lls[gold[0]].IsGreedy ? 1 : 0;
        }

        var metrics = new List<KeyValuePair<string, MetricValue>>();
        foreach (MetricSpec m in task.Metrics)
        {
            MetricValue? value = m.Name switch
            {
                "acc" => new MetricValue(acc),
                "acc_norm" => new MetricValue(accNorm),
                "exact_match" => new MetricValue(exactMatch, IsInteger: true),
                _ => null,
            };
            if (value is { } v) metrics.Add(new(m.Name, v));
        }
        var resps = new JsonArray(lls.Select(r => (JsonNode)new JsonArray(LlPair(r))).ToArray());
        var filtered = new JsonArray(lls.Select(r => (JsonNode)LlPair(r)).ToArray());
        return new DocScore(doc.DocId, "none", resps, filtered, metrics);
    }

    private DocScore Loglikelihood(DocRequests doc, LoglikelihoodResponse r)
    {
        var metrics = new List<KeyValuePair<string, MetricValue>>();
        if (Uses("perplexity")) metrics.Add(new("perplexity", new MetricValue(r.LogLikelihood)));
        if (Uses("acc")) metrics.Add(new("acc", new MetricValue(r.IsGreedy ? 1 : 0, IsInteger: true)));
        return new DocScore(doc.DocId, "none", new JsonArray(new JsonArray(LlPair(r))), new JsonArray(LlPair(r)), metrics);
    }

    private DocScore Rolling(DocRequests doc, RollingResponse r)
    {
        string text = task.RollingCountText?.Invoke(doc.Doc) ?? task.DocToTarget(doc.Doc).Text!;
        long words = CountWords(text), bytes = Encoding.UTF8.GetByteCount(text);
        var metrics = new List<KeyValuePair<string, MetricValue>>();
        if (Uses("word_perplexity")) metrics.Add(new("word_perplexity", new MetricValue(r.LogLikelihood, words)));
        if (Uses("byte_perplexity")) metrics.Add(new("byte_perplexity", new MetricValue(r.LogLikelihood, bytes)));
        if (Uses("bits_per_byte")) metrics.Add(new("bits_per_byte", new MetricValue(r.LogLikelihood, bytes)));
        string ll = PyFloat.Repr(r.LogLikelihood);
        return new DocScore(doc.DocId, "none", new JsonArray(new JsonArray(ll)), new JsonArray(ll), metrics);
    }

    private DocScore Generate(DocRequests doc, FilterPipeline filter, GenerateResponse r)
    {
        string filtered = Filters.Apply(filter, [r.Text]);
        DocTarget target = task.DocToTarget(doc.Doc);
        string gold = task.DocToChoice is { } choices && target.Index is { } i ? choices(doc.Doc)[i] : target.ToString();
        var metrics = new List<KeyValuePair<string, MetricValue>>();
        foreach (MetricSpec m in task.Metrics)
            if (m.Name == "exact_match") metrics.Add(new(m.Name, new MetricValue(ExactMatch.Score(filtered, gold, m.ExactMatch))));
        return new DocScore(doc.DocId, filter.Name, new JsonArray(new JsonArray(r.Text)), new JsonArray(filtered), metrics);
    }

    /// <summary><c>len(re.split(r"\s+", text))</c>.</summary>
    public static long CountWords(string text) => Regex.Split(text, "\\s+").Length;

    /// <summary><c>np.argmax</c>: the first maximum; a NaN wins as numpy's does.</summary>
    public static int ArgMax(IReadOnlyList<double> values)
    {
        int best = 0;
        for (int i = 0; i < values.Count; i++)
        {
            if (double.IsNaN(values[i])) return i;
            if (values[i] > values[best]) best = i;
        }
        return best;
    }

    private static JsonArray LlPair(LoglikelihoodResponse r) => new(PyFloat.Repr(r.LogLikelihood), r.IsGreedy ? "True" : "False");
}
