using MlxBench.Core.Envelopes;

namespace MlxBench.Core.Shards;

/// <summary>The type of a flat shard column, as pyarrow infers it for upstream's rows.</summary>
public enum ColumnKind { String, Int64, Double }

/// <summary>A shard column: name, type, and one value per row (null where a row has none).</summary>
public sealed record ShardColumn(string Name, ColumnKind Kind, object?[] Values);

/// <summary>
/// Flattens an envelope into upstream's rows, one per result: base columns, then <c>model_revision</c>,
/// <c>quantization</c>, <c>seed</c> when the envelope has them, then <c>name, metric, value, unit</c>,
/// <c>duration_seconds</c> when any result has it, then <c>tag_&lt;key&gt;</c> in first-seen order. Unlike upstream, a
/// column missing from the first row but present later is kept (null in the rows without it), as upstream later fixed.
/// </summary>
public static class ShardRows
{
    public static IReadOnlyList<ShardColumn> Columns(Envelope envelope)
    {
        List<BenchmarkResult> rows = envelope.Results;
        int n = rows.Count;
        var columns = new List<ShardColumn>
        {
            Same("schema_version", envelope.SchemaVersion),
            Same("timestamp", envelope.Timestamp),
            Same("git_sha", envelope.GitSha),
            Same("trigger", envelope.Trigger),
            Same("suite", envelope.Suite),
            Same("model", envelope.Model),
            Same("os", envelope.System.Os),
            Same("chip", envelope.System.Chip),
            new("memory_gb", ColumnKind.Int64, Enumerable.Repeat<object?>(envelope.System.MemoryGb, n).ToArray()),
        };
        if (envelope.ModelRevision is { } revision) columns.Add(Same("model_revision", revision));
        if (envelope.Quantization is { } quantization) columns.Add(Same("quantization", quantization));
        if (envelope.Seed is { } seed) columns.Add(new("seed", ColumnKind.Int64, Enumerable.Repeat<object?>(seed, n).ToArray()));

        columns.Add(new("name", ColumnKind.String, rows.Select(r => (object?)r.Name).ToArray()));
        columns.Add(new("metric", ColumnKind.String, rows.Select(r => (object?)r.Metric).ToArray()));
        columns.Add(new("value", ColumnKind.Double, rows.Select(r => (object?)r.Value).ToArray()));
        columns.Add(new("unit", ColumnKind.String, rows.Select(r => (object?)r.Unit).ToArray()));
        if (rows.Any(r => r.DurationSeconds is not null))
            columns.Add(new("duration_seconds", ColumnKind.Double, rows.Select(r => (object?)r.DurationSeconds).ToArray()));

        var tagKeys = new List<string>();
        foreach (BenchmarkResult row in rows)
            foreach (string key in row.Tags?.Keys ?? Enumerable.Empty<string>())
                if (!tagKeys.Contains(key)) tagKeys.Add(key);
        foreach (string key in tagKeys)
            columns.Add(new("tag_" + key, ColumnKind.String, rows.Select(r => r.Tags is not null && r.Tags.TryGetValue(key, out string? v) ? v : null).Cast<object?>().ToArray()));
        return columns;

        ShardColumn Same(string name, string value) => new(name, ColumnKind.String, Enumerable.Repeat<object?>(value, n).ToArray());
    }
}
