using System.CommandLine;
using MlxBench.Core.Diagnostics;
using MlxBench.Report;

namespace MlxBench.Cli.Commands;

/// <summary>
/// <c>mlxbench report --dataset &lt;folder|hf://datasets/owner/name[@rev]&gt; --output page.html</c>: renders the dataset
/// as one self-contained HTML page. What the SDK's <c>Report</c> target runs out of process (DuckDB is native code);
/// <c>HF_ENDPOINT</c>/<c>HF_TOKEN</c> come from the environment. Prints the page path on success.
/// </summary>
internal static class ReportCommand
{
    public static Command Create()
    {
        var dataset = new Option<string>("--dataset") { Description = "A dataset folder (with data/*.parquet) or hf://datasets/<owner>/<name>[@revision]", Required = true };
        var output = new Option<FileInfo>("--output") { Description = "The HTML page to write", Required = true };
        var title = new Option<string?>("--title") { Description = "The page title (default: MlxBench results)" };
        var command = new Command("report", "Render a dataset as a self-contained HTML report") { dataset, output, title };
        command.SetAction(async (parse, cancellationToken) =>
        {
            try
            {
                ReportSummary summary = await ReportGenerator.GenerateAsync(parse.GetValue(dataset)!, parse.GetValue(output)!.FullName, cancellationToken, title: parse.GetValue(title));
                Console.WriteLine($"report: {summary.Rows} rows, {summary.Models} models, {summary.Shards} shards -> {summary.OutputPath}");
                return ExitCodes.Ok;
            }
            catch (BenchException e)
            {
                await Console.Error.WriteLineAsync(e.Diagnostic.Text);
                return e.Diagnostic.Code is "MLXB8001" or "MLXB8004" or "MLXB3103" or "MLXB3104" or "MLXB3105" ? ExitCodes.BadInput : ExitCodes.Failed;
            }
        });
        return command;
    }
}
