using System.Diagnostics;
using MlxBench.Core.Cells;
using MlxBench.Core.Diagnostics;

namespace MlxBench.Core.Running;

/// <summary>
/// Runs a harness's process for one cell: its output goes to the cell's log and to progress, a timeout or a cancel
/// kills the whole process tree, and a non-zero exit or a missing result file is a coded cell failure.
/// Every harness that runs out of process (a user's command, the built-in harnesses through the CLI) goes through here.
/// </summary>
public static class HarnessProcess
{
    public static async Task RunAsync(BenchCell cell, HarnessContext context, ProcessStartInfo start, string description, string resultPath, CancellationToken cancellationToken)
    {
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        start.UseShellExecute = false;

        await using var log = new StreamWriter(context.Paths.Log, append: false) { AutoFlush = true };
        await log.WriteLineAsync($"# {cell.Id}: {description}");

        using var process = new Process { StartInfo = start };
        var gate = new object();
        void OnLine(string? line)
        {
            if (line is null) return;
            lock (gate) log.WriteLine(line);
            context.Output(line);
        }
        process.OutputDataReceived += (_, e) => OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => OnLine(e.Data);

        try
        {
            process.Start();
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            throw new BenchException(BenchDiagnostic.Error("Cell.StartFailed", cell.Id, e.Message));
        }
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        using var timeout = cell.Suite.TimeoutSeconds is { } seconds ? new CancellationTokenSource(TimeSpan.FromSeconds(seconds)) : new CancellationTokenSource();
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        try
        {
            await process.WaitForExitAsync(linked.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None);
            if (cancellationToken.IsCancellationRequested) throw;
            throw new BenchException(BenchDiagnostic.Error("Cell.TimedOut", cell.Id, cell.Suite.TimeoutSeconds));
        }

        if (process.ExitCode != 0)
            throw new BenchException(BenchDiagnostic.Error("Cell.CommandFailed", cell.Id, process.ExitCode, context.Paths.Log));
        if (!File.Exists(resultPath))
            throw new BenchException(BenchDiagnostic.Error("Cell.OutputMissing", cell.Id, resultPath));
    }
}
