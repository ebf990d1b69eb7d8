using System.Diagnostics;

namespace MlxBench.Testing;

/// <summary><c>dotnet build</c> of a project as a user runs it: its own process, no node reuse, a normal-verbosity
/// console log, and no Hub token or endpoint inherited from the machine (a test gives them explicitly).</summary>
internal static class DotnetBuild
{
    public static async Task<(int Exit, string Output)> RunAsync(string projectFile, IEnumerable<string> args, IReadOnlyDictionary<string, string?> environment)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = Path.GetDirectoryName(projectFile)! };
        foreach (string a in (string[])["build", projectFile, "-nr:false", "-tl:off", "-v:n", .. args]) start.ArgumentList.Add(a);
        start.Environment.Remove("HF_TOKEN");
        start.Environment.Remove("HF_ENDPOINT");
        start.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        foreach ((string key, string? value) in environment) start.Environment[key] = value;
        using Process process = Process.Start(start)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await stdout + await stderr);
    }
}
