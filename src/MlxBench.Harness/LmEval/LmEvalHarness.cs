using System.Diagnostics;
using System.Text.Json.Nodes;
using MlxBench.Core.Converters;
using MlxBench.Core.Diagnostics;

namespace MlxBench.Harness.LmEval;

/// <summary>
/// <c>Harness="lm-eval"</c>: runs the installed lm-evaluation-harness against the cell's endpoint (local-completions,
/// or local-chat-completions with <c>Endpoint="chat"</c>), warns about known problems of its version, and hands its
/// <c>results_*.json</c> to the lm-eval converter. Its samples and log stay in the cell's raw folder.
/// </summary>
public sealed class LmEvalHarness : IBuiltInHarness
{
    public string Name => "lm-eval";

    /// <summary>PATH as the harness sees it (a seam for tests).</summary>
    internal Func<string?> PathVariable { get; init; } = () => Environment.GetEnvironmentVariable("PATH");

    public async Task RunAsync(HarnessRun run, CancellationToken cancellationToken)
    {
        var cell = run.Cell;
        LmEvalSettings settings = LmEvalSettings.Parse(cell.Suite, cell.Model);
        if (cell.Endpoint is null) throw new BenchException(BenchDiagnostic.Error("Eval.NoEndpoint", cell.Id, Name));
        string? executable = LmEvalCommand.Find(settings.LmEvalPath, PathVariable(), out string lookedAt);
        if (executable is null)
            throw new BenchException(BenchDiagnostic.Error("LmEval.NotInstalled", cell.Id, settings.LmEvalPath is null ? "no lm_eval on PATH" : $"LmEvalPath=\"{lookedAt}\" does not exist"));

        string? version = await DetectVersionAsync(executable, cancellationToken);
        if (version is null) run.Log.WriteLine(BenchDiagnostic.Warning("LmEval.VersionUnknown", executable, "neither its Python nor --version named a version").Text);
        else
        {
            run.Log.WriteLine($"lm-eval {version} at {executable}");
            foreach (string problem in LmEvalCommand.KnownProblems(version, settings.Chat))
                run.Log.WriteLine(BenchDiagnostic.Warning("LmEval.KnownProblem", version, problem).Text);
        }

        string outputDirectory = Path.Combine(run.OutputDirectory, "lm-eval");
        Directory.CreateDirectory(outputDirectory);
        List<string> arguments = LmEvalCommand.Arguments(settings, settings.ServedModel ?? cell.Model.Id, cell.Endpoint.BaseUrl, outputDirectory);
        string logPath = Path.Combine(run.OutputDirectory, "lm-eval.log");
        int exit = await RunProcessAsync(executable, arguments, logPath, run.Log, cancellationToken);
        if (exit != 0) throw new BenchException(BenchDiagnostic.Error("LmEval.Failed", cell.Id, exit, logPath));

        string? results = Directory.EnumerateFiles(outputDirectory, "results*.json", SearchOption.AllDirectories)
            .OrderByDescending(File.GetLastWriteTimeUtc).FirstOrDefault();
        if (results is null) throw new BenchException(BenchDiagnostic.Error("LmEval.NoResults", cell.Id, outputDirectory));
        if (LenientJson.Parse(await File.ReadAllTextAsync(results, cancellationToken)) is JsonObject raw
            && raw["lm_eval_version"] is JsonValue written && written.TryGetValue(out string? fileVersion) && fileVersion != version)
            foreach (string problem in LmEvalCommand.KnownProblems(fileVersion, settings.Chat))
                run.Log.WriteLine(BenchDiagnostic.Warning("LmEval.KnownProblem", fileVersion, problem).Text);
        string temp = run.OutputPath + ".tmp";
        File.Copy(results, temp, overwrite: true);
        File.Move(temp, run.OutputPath, overwrite: true);
        run.Log.WriteLine($"lm-eval: {results} -> {run.OutputPath}");
    }

    /// <summary>The interpreter of a Python entry-point script knows the installed version; other executables are asked
    /// for <c>--version</c>.</summary>
    internal static async Task<string?> DetectVersionAsync(string executable, CancellationToken ct)
    {
        string? firstLine = null;
        try { firstLine = File.ReadLines(executable).FirstOrDefault(); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        if (firstLine is not null && firstLine.StartsWith("#!", StringComparison.Ordinal) && firstLine.Contains("python", StringComparison.OrdinalIgnoreCase))
        {
            string[] shebang = firstLine[2..].Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries);
            List<string> args = [.. shebang[1..], "-c", "import importlib.metadata as m; print(m.version('lm_eval'))"];
            if (await CaptureAsync(shebang[0], args, ct) is { } pythonAnswer && LmEvalCommand.ParseVersion(pythonAnswer) is { } fromPython)
                return fromPython;
        }
        return await CaptureAsync(executable, ["--version"], ct) is { } answer ? LmEvalCommand.ParseVersion(answer) : null;
    }

    private static async Task<string?> CaptureAsync(string file, IReadOnlyList<string> args, CancellationToken ct)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in args) start.ArgumentList.Add(a);
        try
        {
            using Process process = Process.Start(start)!;
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(60));
            Task<string> stdout = process.StandardOutput.ReadToEndAsync(timeout.Token);
            Task<string> stderr = process.StandardError.ReadToEndAsync(timeout.Token);
            try { await process.WaitForExitAsync(timeout.Token); }
            catch (OperationCanceledException) { process.Kill(entireProcessTree: true); throw; }
            return process.ExitCode == 0 ? await stdout + await stderr : null;
        }
        catch (System.ComponentModel.Win32Exception) { return null; }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested) { return null; }
    }

    private static async Task<int> RunProcessAsync(string file, IReadOnlyList<string> args, string logPath, TextWriter log, CancellationToken ct)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in args) start.ArgumentList.Add(a);
        log.WriteLine($"lm-eval: {file} {string.Join(' ', args.Select(a => a.Contains(' ') ? $"\"{a}\"" : a))}");
        await using var logFile = new StreamWriter(logPath);
        var gate = new Lock();
        void Line(string? line)
        {
            if (line is null) return;
            lock (gate)
            {
                logFile.WriteLine(line);
                log.WriteLine(line);
            }
        }
        using var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => Line(e.Data);
        process.ErrorDataReceived += (_, e) => Line(e.Data);
        try { process.Start(); }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new BenchException(BenchDiagnostic.Error("LmEval.NotInstalled", file, e.Message));
        }
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try { await process.WaitForExitAsync(ct); }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }
        process.WaitForExit();
        return process.ExitCode;
    }
}
