using System.Diagnostics;
using MlxBench.Core.Cells;
using MlxBench.Core.Diagnostics;

namespace MlxBench.Core.Running;

/// <summary>
/// The <c>command</c> harness: runs the suite's <c>Command</c> through the shell once per cell, with
/// <c>MLXBENCH_MODEL</c>, <c>MLXBENCH_SUITE</c>, <c>MLXBENCH_BASE_URL</c> and <c>MLXBENCH_OUTPUT</c> set, and expects
/// the raw result at <c>MLXBENCH_OUTPUT</c>. Output goes to the cell's log; a timeout or a cancel kills the process tree.
/// </summary>
public sealed class CommandHarness : ICellHarness
{
    public async Task<HarnessOutput> RunAsync(BenchCell cell, HarnessContext context, CancellationToken cancellationToken)
    {
        string output = Path.Combine(context.Paths.RawDirectory, "result.json");
        var start = new ProcessStartInfo
        {
            FileName = OperatingSystem.IsWindows() ? "cmd.exe" : "/bin/sh",
            WorkingDirectory = context.ProjectDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (OperatingSystem.IsWindows()) { start.ArgumentList.Add("/c"); start.ArgumentList.Add(cell.Suite.Command!); }
        else { start.ArgumentList.Add("-c"); start.ArgumentList.Add(cell.Suite.Command!); }
        foreach ((string name, string? value) in Variables(cell, output, context.Paths))
            start.Environment[name] = value;

        await using var log = new StreamWriter(context.Paths.Log, append: false) { AutoFlush = true };
        await log.WriteLineAsync($"# {cell.Id}: {cell.Suite.Command}");

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
        if (!File.Exists(output))
            throw new BenchException(BenchDiagnostic.Error("Cell.OutputMissing", cell.Id, output));
        return new HarnessOutput(output, cell.Suite.Converter);
    }

    /// <summary>The environment a command sees, documented in the README's command harness section.</summary>
    internal static IEnumerable<KeyValuePair<string, string?>> Variables(BenchCell cell, string output, CellPaths paths)
    {
        yield return new("MLXBENCH_MODEL", cell.Model.Id);
        yield return new("MLXBENCH_MODEL_NAME", cell.Model.Name);
        yield return new("MLXBENCH_MODEL_FILE", cell.Model.File);
        yield return new("MLXBENCH_MODEL_REVISION", cell.Model.Revision);
        yield return new("MLXBENCH_SUITE", cell.Suite.Name);
        yield return new("MLXBENCH_BASE_URL", cell.Endpoint?.BaseUrl);
        yield return new("MLXBENCH_OUTPUT", output);
        yield return new("MLXBENCH_CELL_DIR", paths.Directory);
    }
}
