using MlxBench.Core.Diagnostics;
using Parquet.Serialization;

namespace MlxBench.Core.Compare;

/// <summary>
/// Reads the published rows of a folder dataset (<c>data/**/*.parquet</c>): our shards and upstream's, including the
/// legacy ones that nest the result as <c>metric_name/metric_metric/metric_value/metric_unit</c>.
/// </summary>
public static class DatasetRows
{
    public static async Task<IReadOnlyList<PublishedRow>> ReadFolderAsync(string root, CancellationToken cancellationToken)
    {
        var rows = new List<PublishedRow>();
        string data = Path.Combine(root, "data");
        if (!Directory.Exists(data)) return rows;
        foreach (string file in Directory.EnumerateFiles(data, "*.parquet", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            try
            {
                await ReadShardAsync(file, rows, cancellationToken);
            }
            catch (Exception e) when (e is IOException or InvalidDataException or InvalidOperationException or NotSupportedException)
            {
                throw new BenchException(BenchDiagnostic.Error("Compare.UnreadableShard", file, e.Message));
            }
        }
        return rows;
    }

    private static async Task ReadShardAsync(string file, List<PublishedRow> rows, CancellationToken cancellationToken)
    {
        await using FileStream stream = File.OpenRead(file);
        var shard = await ParquetSerializer.DeserializeUntypedAsync(stream, cancellationToken: cancellationToken);
        foreach (Dictionary<string, object> row in shard.Data)
        {
            object? Get(params string[] names) => names.Select(n => row.GetValueOrDefault(n)).FirstOrDefault(v => v is not null);
            if (Number(Get("value", "metric_value")) is not { } value) continue;
            string? Text(params string[] names) => Get(names)?.ToString();
            rows.Add(new PublishedRow(Text("timestamp") ?? "", Text("model") ?? "", Text("suite") ?? "", Text("name", "metric_name") ?? "",
                Text("metric", "metric_metric") ?? "", value, Text("unit", "metric_unit"), Parse(Text("tag_stderr")),
                bool.TryParse(Text("tag_higher_is_better"), out bool h) ? h : null, Text("tag_fingerprint")));
        }
    }

    private static double? Number(object? value) => value switch
    {
        double d when double.IsFinite(d) => d,
        float f when float.IsFinite(f) => f,
        long l => l,
        int n => n,
        string s => Parse(s),
        _ => null,
    };

    private static double? Parse(string? text) =>
        double.TryParse(text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double d) && double.IsFinite(d) ? d : null;
}
