using System.Diagnostics;

namespace MlxBench.Testing;

internal sealed record DotnetResult(int ExitCode, string Output);

/// <summary>
/// The dotnet CLI as a child process, as a user runs it: no node reuse, no telemetry banner, none of the test host's
/// own MSBuild settings, and no Hub token or endpoint inherited from the machine (a test gives them explicitly).
/// </summary>
internal static class Dotnet
{
    /// <summary>Runs to the end, capturing everything it prints; kills it (with its tree) after <paramref name="timeout"/>.</summary>
    public static DotnetResult Run(string workingDirectory, IEnumerable<string> arguments, TimeSpan timeout, IEnumerable<KeyValuePair<string, string?>>? environment = null)
    {
        using Process process = Start(workingDirectory, arguments, environment);
        var output = new System.Text.StringBuilder();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"dotnet {string.Join(' ', arguments)} did not finish within {timeout}:\n{output}");
        }
        process.WaitForExit();
        lock (output) return new DotnetResult(process.ExitCode, output.ToString());
    }

    /// <summary><c>dotnet build</c> of a project with a normal-verbosity console log.</summary>
    public static async Task<(int Exit, string Output)> BuildAsync(string projectFile, IEnumerable<string> args, IEnumerable<KeyValuePair<string, string?>> environment)
    {
        using Process process = Start(Path.GetDirectoryName(projectFile)!, ["build", projectFile, "-nr:false", "-tl:off", "-v:n", .. args], environment);
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await stdout + await stderr);
    }

    /// <param name="interruptible">Start it as a shell starts a foreground job, with SIGINT at its default action, so
    /// a test can press Ctrl+C with <c>kill -INT</c>. A process inherits an ignored SIGINT (every <c>&amp;</c> job of a
    /// non-interactive shell gets one, e.g. <c>.ci/run &amp;</c> from a script), .NET passes it on to the processes it
    /// starts, and MSBuild then never sees the signal; perl resets it and execs dotnet under the same pid.</param>
    public static Process Start(string workingDirectory, IEnumerable<string> arguments, IEnumerable<KeyValuePair<string, string?>>? environment = null, bool interruptible = false)
    {
        var start = new ProcessStartInfo(interruptible ? "perl" : "dotnet")
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (interruptible)
            foreach (string argument in (string[])["-e", "$SIG{INT} = 'DEFAULT'; exec { $ARGV[0] } @ARGV or die \"exec $ARGV[0]: $!\\n\";", "dotnet"])
                start.ArgumentList.Add(argument);
        foreach (string argument in arguments) start.ArgumentList.Add(argument);
        start.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        foreach (string name in (string[])["MSBuildExtensionsPath", "MSBuildSDKsPath", "MSBUILD_EXE_PATH", "HF_TOKEN", "HF_ENDPOINT"]) start.Environment.Remove(name);
        foreach ((string name, string? value) in environment ?? []) start.Environment[name] = value;
        return Process.Start(start)!;
    }
}
