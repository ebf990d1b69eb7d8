using System.Text.Json.Nodes;
using MlxBench.Harness.Eval.Python;

namespace MlxBench.Harness.Eval.Tasks;

/// <summary>The documents few-shot examples are drawn from. Only <see cref="Count"/> and the drawn rows are ever read.</summary>
public interface IFewshotPool
{
    int Count { get; }
    JsonObject this[int index] { get; }
}

public sealed class ListFewshotPool(IReadOnlyList<JsonObject> docs) : IFewshotPool
{
    public int Count => docs.Count;
    public JsonObject this[int index] => docs[index];
}

/// <summary>
/// Some rows of a larger split, each carrying its 0-based <c>train_index</c> in that split (the column is dropped from
/// the row): draws index the whole split, so prompts equal lm-eval's as long as every drawn row is present.
/// </summary>
public sealed class IndexedFewshotPool : IFewshotPool
{
    private readonly Dictionary<int, JsonObject> _rows = [];
    private readonly string _task;

    public IndexedFewshotPool(IEnumerable<JsonObject> rows, int count, string task)
    {
        Count = count;
        _task = task;
        foreach (JsonObject row in rows)
        {
            if (row["train_index"] is not JsonValue v || !v.TryGetValue(out int index))
                throw new Data.DataException($"task {task}: FewshotPoolSize needs every few-shot row to carry its \"train_index\"");
            var copy = (JsonObject)row.DeepClone();
            copy.Remove("train_index");
            _rows[index] = copy;
        }
    }

    public int Count { get; }

    public JsonObject this[int index] => _rows.TryGetValue(index, out JsonObject? row) ? row
        : throw new Data.DataException($"task {_task}: the few-shot sampler drew row {index} of {Count}, which FewshotData does not hold; give the whole split, or fewer documents");
}

/// <summary>
/// lm-eval's default <c>ContextSampler</c>: one <c>random.Random(fewshot_seed)</c> per task, one
/// <c>rnd.sample(fewshot_docs, n)</c> per document in document order; when the few-shot split is the eval split it
/// draws n+1 and drops the document itself.
/// </summary>
public sealed class FewshotSampler(IFewshotPool pool, int seed = FewshotSampler.DefaultSeed, bool poolIsEvalSplit = false)
{
    public const int DefaultSeed = 1234;

    private readonly PyRandom _random = new(seed);

    /// <summary>How many times the RNG has been called (call #k draws the indices of vector k).</summary>
    public int Calls { get; private set; }

    /// <summary>Indices into the pool drawn by the next <c>sample</c> call.</summary>
    public int[] DrawIndices(int numFewshot)
    {
        Calls++;
        return _random.SampleIndices(pool.Count, poolIsEvalSplit ? numFewshot + 1 : numFewshot);
    }

    /// <summary>The examples for <paramref name="doc"/>: <c>[x for x in sample if x != doc][:n]</c>.</summary>
    public List<JsonObject> Draw(JsonObject doc, int numFewshot) =>
        DrawIndices(numFewshot).Select(i => pool[i]).Where(x => !JsonNode.DeepEquals(x, doc)).Take(numFewshot).ToList();
}
