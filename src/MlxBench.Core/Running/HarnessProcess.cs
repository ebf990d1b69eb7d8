using System.Diagnostics;
using MlxBench.Core.Cells;
using MlxBench.Core.Diagnostics;

namespace MlxBench.Core.Running;

/// <summary>
/// Runs a harness's process for one cell: its output goes to the cell's log and to progress, a timeout or a cancel
/// kills the whole process tree, and a non-zero exit or a missing result file is a coded cell failure.
/// The cell ends when the process exits, not when its output pipes close: whatever it left running (a server started
/// with <c>&amp;</c>, a daemon) still holds them, and is stopped with the cell (see <see cref="TaggedProcesses"/>).
/// Every harness that runs out of process (a user's command, the built-in harnesses through the CLI) goes through here.
/// </summary>
public static partial class HarnessProcess
{
    /// <summary>How long output may still arrive after the process and everything it started have gone.</summary>
    private static readonly TimeSpan s_drainGrace = TimeSpan.FromSeconds(5);

    public static async Task RunAsync(BenchCell cell, HarnessContext context, ProcessStartInfo start, string description, string resultPath, CancellationToken cancellationToken)
    {
        // A Ctrl+C that landed while the cell was being prepared must not start the command (or its log) at all:
        // killing it at once, as the wait below would, still lets a command with side effects begin them.
        cancellationToken.ThrowIfCancellationRequested();
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        start.UseShellExecute = false;
        string runId = Guid.NewGuid().ToString("N");
        start.Environment[TaggedProcesses.Variable] = runId;

        await using var log = new StreamWriter(context.Paths.Log, append: false) { AutoFlush = true };
        await log.WriteLineAsync($"# {cell.Id}: {description}");

        using var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        var gate = new object();
        bool closed = false;
        string? lastCoded = null;
        void OnLine(string? line)
        {
            if (line is null) return;
            lock (gate)
            {
                if (closed) return;
                log.WriteLine(line);
            }
            if (CodedLine().IsMatch(line)) lastCoded = line;
            context.Output(line);
        }
        process.OutputDataReceived += (_, e) => OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => OnLine(e.Data);
        var exited = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        process.Exited += (_, _) => exited.TrySetResult();

        using var timeout = cell.Suite.TimeoutSeconds is { } seconds ? new CancellationTokenSource(TimeSpan.FromSeconds(seconds)) : new CancellationTokenSource();
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
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

        bool stopped = false;
        try
        {
            await exited.Task.WaitAsync(linked.Token);
        }
        catch (OperationCanceledException)
        {
            stopped = true;
            process.Kill(entireProcessTree: true);
        }
        finally
        {
            TaggedProcesses.KillAll(runId);
            await DrainAsync(process);
            lock (gate) closed = true;
        }

        if (stopped)
        {
            cancellationToken.ThrowIfCancellationRequested();
            throw new BenchException(BenchDiagnostic.Error("Cell.TimedOut", cell.Id, cell.Suite.TimeoutSeconds));
        }
        // A harness that explains its failure with a coded line (the built-in ones always do) is reported in its own words.
        if (process.ExitCode != 0 && lastCoded is not null)
            throw new BenchException(BenchDiagnostic.Error("Cell.HarnessFailed", cell.Id, lastCoded, context.Paths.Log));
        if (process.ExitCode != 0)
            throw new BenchException(BenchDiagnostic.Error("Cell.CommandFailed", cell.Id, process.ExitCode, context.Paths.Log));
        if (!File.Exists(resultPath))
            throw new BenchException(BenchDiagnostic.Error("Cell.OutputMissing", cell.Id, resultPath));
    }

    /// <summary>Lets the last output reach the log; gives up on pipes something outside our reach still holds open.</summary>
    private static async Task DrainAsync(Process process)
    {
        using var grace = new CancellationTokenSource(s_drainGrace);
        try
        {
            await process.WaitForExitAsync(grace.Token);
        }
        catch (OperationCanceledException)
        {
            process.CancelOutputRead();
            process.CancelErrorRead();
        }
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"^MLXB\d{4}: ")]
    private static partial System.Text.RegularExpressions.Regex CodedLine();
}
