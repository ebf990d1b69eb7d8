using MlxBench.Core.Diagnostics;
using MlxBench.Core.Envelopes;
using MlxBench.Core.Sinks.Hub;

namespace MlxBench.Report;

/// <summary>What a report run produced.</summary>
public sealed record ReportSummary(string OutputPath, int Rows, int Models, int Shards);

/// <summary>dataset (folder or hf://) → rows (DuckDB) → model → HTML, written atomically (temp file, then move).</summary>
public static class ReportGenerator
{
    public static async Task<ReportSummary> GenerateAsync(string dataset, string outputPath, CancellationToken cancellationToken, HubSettings? hub = null, string? title = null)
    {
        using DatasetFiles files = await DatasetFiles.OpenAsync(dataset, cancellationToken, hub);
        IReadOnlyList<ReportRow> rows = ShardReader.Read(files.Files);
        if (rows.Count == 0) throw new BenchException(BenchDiagnostic.Error("Report.NoRows", files.Description, files.Files.Count));
        var model = new ReportModel(rows, files.Files.Count);
        string html = HtmlReportWriter.Render(model, files.Description, title ?? "MlxBench results");
        string full = Path.GetFullPath(outputPath);
        try
        {
            AtomicFile.WriteAllText(full, html);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new BenchException(BenchDiagnostic.Error("Report.WriteFailed", full, e.Message));
        }
        return new ReportSummary(full, model.RowCount, model.ModelCount, model.ShardCount);
    }
}
