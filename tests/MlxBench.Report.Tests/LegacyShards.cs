using Parquet;
using Parquet.Schema;

namespace MlxBench.Report.Tests;

/// <summary>A column of an upstream-written shard: its name and one value per row (string, double, long or bool).</summary>
internal sealed record LegacyColumn(string Name, Array Values);

/// <summary>
/// Writes shards the way upstream's publishers did, with Parquet.Net and upstream's column names: the 0.6.1 flat
/// rows (<c>publish.py</c>: base columns, <c>name, metric, value, unit</c>, <c>tag_*</c>) and the legacy nested
/// form whose result columns are <c>metric_name, metric_metric, metric_value, metric_unit</c> (dataset card of
/// dryvist/mlx-benchmarks).
/// </summary>
internal static class LegacyShards
{
    public sealed record Result(string Name, string Metric, double Value, string Unit, IReadOnlyDictionary<string, string>? Tags = null, bool Skipped = false);

    /// <summary>0.6.1 flat shard: one row per result.</summary>
    public static Task WriteFlatAsync(string path, string timestamp, string gitSha, string suite, string model, IReadOnlyList<Result> results) =>
        WriteAsync(path, [.. Base(timestamp, gitSha, suite, model, results.Count),
            new("name", results.Select(r => r.Name).ToArray()), new("metric", results.Select(r => r.Metric).ToArray()),
            new("value", results.Select(r => r.Value).ToArray()), new("unit", results.Select(r => r.Unit).ToArray()),
            .. Tags(results)]);

    /// <summary>Legacy shard with nested result columns and a <c>skipped</c> flag.</summary>
    public static Task WriteNestedAsync(string path, string timestamp, string gitSha, string suite, string model, IReadOnlyList<Result> results) =>
        WriteAsync(path, [.. Base(timestamp, gitSha, suite, model, results.Count),
            new("metric_name", results.Select(r => r.Name).ToArray()), new("metric_metric", results.Select(r => r.Metric).ToArray()),
            new("metric_value", results.Select(r => r.Value).ToArray()), new("metric_unit", results.Select(r => r.Unit).ToArray()),
            new("skipped", results.Select(r => r.Skipped).ToArray()),
            .. Tags(results)]);

    private static IEnumerable<LegacyColumn> Base(string timestamp, string gitSha, string suite, string model, int n)
    {
        string[] Same(string v) => Enumerable.Repeat(v, n).ToArray();
        yield return new("schema_version", Same("1"));
        yield return new("timestamp", Same(timestamp));
        yield return new("git_sha", Same(gitSha));
        yield return new("trigger", Same("local"));
        yield return new("suite", Same(suite));
        yield return new("model", Same(model));
        yield return new("os", Same("macOS 26.4.1"));
        yield return new("chip", Same("Apple M4 Max"));
        yield return new("memory_gb", Enumerable.Repeat(128L, n).ToArray());
    }

    private static IEnumerable<LegacyColumn> Tags(IReadOnlyList<Result> results) =>
        results.SelectMany(r => r.Tags?.Keys ?? []).Distinct()
            .Select(key => new LegacyColumn("tag_" + key, results.Select(r => r.Tags?.GetValueOrDefault(key)).ToArray()));

    private static async Task WriteAsync(string path, IReadOnlyList<LegacyColumn> columns)
    {
        DataField[] fields = columns.Select(c => c.Values switch
        {
            double[] => (DataField)new DataField<double>(c.Name, nullable: true),
            long[] => new DataField<long>(c.Name, nullable: true),
            bool[] => new DataField<bool>(c.Name, nullable: true),
            _ => new DataField<string>(c.Name, nullable: true),
        }).ToArray();
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        await using FileStream stream = File.Create(path);
        await using ParquetWriter writer = await ParquetWriter.CreateAsync(new ParquetSchema(fields), stream, new ParquetOptions { CompressionMethod = CompressionMethod.Snappy });
        using ParquetRowGroupWriter group = writer.CreateRowGroup();
        for (int i = 0; i < columns.Count; i++)
        {
            switch (columns[i].Values)
            {
                case double[] d: await group.WriteAsync<double>(fields[i], d.Select(v => (double?)v).ToArray()); break;
                case long[] l: await group.WriteAsync<long>(fields[i], l.Select(v => (long?)v).ToArray()); break;
                case bool[] b: await group.WriteAsync<bool>(fields[i], b.Select(v => (bool?)v).ToArray()); break;
                default: await group.WriteAsync(fields[i], ((string?[])columns[i].Values)!); break;
            }
        }
    }
}
