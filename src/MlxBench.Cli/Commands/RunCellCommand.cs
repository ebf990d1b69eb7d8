using System.CommandLine;
using MlxBench.Core.Cells;
using MlxBench.Core.Diagnostics;
using MlxBench.Harness;

namespace MlxBench.Cli.Commands;

/// <summary>
/// <c>mlxbench run-cell --cell cell.json --output raw.json</c>: what the SDK launches for a built-in harness. Progress
/// goes to stdout (the cell's log); a coded failure goes to stderr and exits 1; the output file exists only on success.
/// </summary>
internal static class RunCellCommand
{
    public static Command Create()
    {
        var cellOption = new Option<FileInfo>("--cell") { Description = "The planned cell (cell.json, written by the SDK)", Required = true };
        var outputOption = new Option<FileInfo>("--output") { Description = "Where to write the harness's raw result", Required = true };
        var command = new Command("run-cell", "Run one cell of a built-in harness") { cellOption, outputOption };
        command.SetAction(async (parse, cancellationToken) =>
        {
            FileInfo cellFile = parse.GetValue(cellOption)!;
            FileInfo output = parse.GetValue(outputOption)!;
            BenchCell cell;
            try
            {
                cell = BenchCellJson.Deserialize(await File.ReadAllTextAsync(cellFile.FullName, cancellationToken));
            }
            catch (Exception e) when (e is IOException or System.Text.Json.JsonException)
            {
                await Console.Error.WriteLineAsync(BenchDiagnostic.Error("Cli.BadCell", cellFile.FullName, e.Message).Text);
                return ExitCodes.BadInput;
            }
            IBuiltInHarness? harness = BuiltInHarnesses.Find(cell.Suite.Harness);
            if (harness is null)
            {
                await Console.Error.WriteLineAsync(BenchDiagnostic.Error("Cli.NotBuiltIn", cell.Id, cell.Suite.Harness,
                    string.Join(", ", BuiltInHarnesses.All.Select(h => h.Name))).Text);
                return ExitCodes.BadInput;
            }
            try
            {
                await harness.RunAsync(new HarnessRun(cell, output.FullName, Console.Out), cancellationToken);
                return ExitCodes.Ok;
            }
            catch (BenchException e)
            {
                await Console.Error.WriteLineAsync(e.Diagnostic.Text);
                return ExitCodes.Failed;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // A bug in a harness, not bad input: say so in one coded line, and keep the stack in the cell's log.
                await Console.Error.WriteLineAsync(e.ToString());
                await Console.Error.WriteLineAsync(BenchDiagnostic.Error("Cli.HarnessCrashed", cell.Id, cell.Suite.Harness, $"{e.GetType().Name}: {e.Message}").Text);
                return ExitCodes.Failed;
            }
        });
        return command;
    }
}
