using System.Globalization;
using DuckDB.NET.Data;
using MlxBench.Core.Diagnostics;

namespace MlxBench.Report;

/// <summary>
/// Reads shards with DuckDB's <c>read_parquet(..., union_by_name = true)</c>, so shards of every generation line up
/// by column name. The result columns are coalesced with their legacy nested names, as the later upstream viewer
/// does (<c>COALESCE(name, metric_name)</c>, ...); rows marked <c>skipped</c> and values that are not numbers are
/// dropped, as the viewer drops them. Columns are probed first, because a column that no shard has cannot be named.
/// </summary>
public static class ShardReader
{
    public static IReadOnlyList<ReportRow> Read(IReadOnlyList<string> parquetFiles)
    {
        if (parquetFiles.Count == 0) return [];
        string source = $"read_parquet([{string.Join(", ", parquetFiles.Select(Literal))}], union_by_name = true, filename = true)";
        try
        {
            using var connection = new DuckDBConnection("DataSource=:memory:");
            connection.Open();
            HashSet<string> columns = Columns(connection, source);
            string query = $"""
                SELECT {Text(columns, "suite")} AS suite,
                       {Text(columns, "model")} AS model,
                       {Text(columns, "name", "metric_name")} AS task,
                       {Text(columns, "metric", "metric_metric")} AS metric,
                       {Number(columns, "value", "metric_value")} AS value,
                       {Text(columns, "unit", "metric_unit")} AS unit,
                       {Text(columns, "timestamp")} AS ts,
                       {Text(columns, "git_sha")} AS git_sha,
                       {Number(columns, "tag_concurrency", "concurrency", "tag_max_concurrency")} AS concurrency,
                       filename
                FROM {source}
                {(columns.Contains("skipped") ? "WHERE skipped IS NOT TRUE" : "")}
                """;
            using DuckDBCommand command = connection.CreateCommand();
            command.CommandText = query;
            using var reader = command.ExecuteReader();
            var rows = new List<ReportRow>();
            while (reader.Read())
            {
                if (reader.IsDBNull(4) || reader.IsDBNull(0) || reader.IsDBNull(1) || reader.IsDBNull(2) || reader.IsDBNull(3)) continue;
                double value = reader.GetDouble(4);
                if (!double.IsFinite(value)) continue;
                if (!TryTimestamp(reader.IsDBNull(6) ? null : reader.GetString(6), out DateTimeOffset timestamp)) continue;
                rows.Add(new ReportRow(
                    reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), value,
                    reader.IsDBNull(5) ? "" : reader.GetString(5), timestamp,
                    reader.IsDBNull(7) ? "" : reader.GetString(7),
                    reader.IsDBNull(8) ? null : reader.GetDouble(8),
                    Path.GetFileName(reader.GetString(9))));
            }
            return rows;
        }
        catch (DuckDBException e)
        {
            throw new BenchException(BenchDiagnostic.Error("Report.ReadFailed", parquetFiles.Count, e.Message));
        }
    }

    private static HashSet<string> Columns(DuckDBConnection connection, string source)
    {
        using DuckDBCommand command = connection.CreateCommand();
        command.CommandText = $"DESCRIBE SELECT * FROM {source}";
        using var reader = command.ExecuteReader();
        var columns = new HashSet<string>(StringComparer.Ordinal);
        while (reader.Read()) columns.Add(reader.GetString(0));
        return columns;
    }

    private static string Text(HashSet<string> columns, params string[] names) => Coalesce(columns, names, "VARCHAR");

    private static string Number(HashSet<string> columns, params string[] names) => Coalesce(columns, names, "DOUBLE");

    /// <summary><c>COALESCE(TRY_CAST(a AS T), TRY_CAST(b AS T), ...)</c> over the columns that exist, else NULL.</summary>
    private static string Coalesce(HashSet<string> columns, string[] names, string type)
    {
        string[] present = names.Where(columns.Contains).Select(n => $"TRY_CAST(\"{n}\" AS {type})").ToArray();
        return present.Length switch { 0 => $"CAST(NULL AS {type})", 1 => present[0], _ => $"COALESCE({string.Join(", ", present)})" };
    }

    private static string Literal(string path) => "'" + path.Replace("'", "''", StringComparison.Ordinal) + "'";

    /// <summary>ISO 8601 as envelopes write it; DuckDB's text form of a TIMESTAMP column (<c>2026-08-24 04:19:37</c>,
    /// UTC) for shards that stored a real timestamp.</summary>
    internal static bool TryTimestamp(string? text, out DateTimeOffset timestamp) =>
        DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out timestamp);
}
