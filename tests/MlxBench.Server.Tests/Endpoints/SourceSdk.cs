using System.Diagnostics;
using MlxBench.Testing;

namespace MlxBench.Server.Tests.Endpoints;

/// <summary>
/// A <c>.benchproj</c> importing the SDK from this repository's <c>Sdk/</c> folder with the freshly built task
/// assembly, CLI, server and engine, and <c>dotnet build -t:Bench</c> of it as a process of its own, as a user runs it.
/// </summary>
internal static class SourceSdk
{
    public static string Project(string items, string? engineLibrary) => $"""
        <Project>
          <Import Project="{Path.Combine(SharedData.RepoRoot, "Sdk")}/Sdk.props" />
          <PropertyGroup>
            <MlxBenchTasksAssembly>{Paths.TasksAssembly}</MlxBenchTasksAssembly>
            <MlxBenchCliPath>{Paths.CliDll}</MlxBenchCliPath>
            <MlxBenchServerPath>{Paths.ServerDll}</MlxBenchServerPath>
            <MlxBenchEngineLibrary>{engineLibrary}</MlxBenchEngineLibrary>
            <BenchGitSha>0123456789abcdef0123456789abcdef01234567</BenchGitSha>
          </PropertyGroup>
          <ItemGroup>
        {items}
          </ItemGroup>
          <Import Project="{Path.Combine(SharedData.RepoRoot, "Sdk")}/Sdk.targets" />
        </Project>
        """;

    /// <summary>Runs Bench; <paramref name="whileRunning"/> gets the build's process and the endpoint's log once the
    /// endpoint is ready.</summary>
    public static (int ExitCode, string Output) Bench(string project, Action<Process, string>? whileRunning = null,
        IReadOnlyDictionary<string, string>? environment = null, int timeoutMinutes = 5)
    {
        using Process process = Dotnet.Start(Path.GetDirectoryName(project)!, ["build", project, "-t:Bench", "-nr:false", "-nologo", "-v:n"],
            environment?.Select(e => new KeyValuePair<string, string?>(e.Key, e.Value)));
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        if (whileRunning is not null)
        {
            string endpoints = Path.Combine(Path.GetDirectoryName(project)!, "obj", "bench", "endpoints");
            var deadline = DateTime.UtcNow.AddMinutes(2);
            string? log = null;
            while (DateTime.UtcNow < deadline && !process.HasExited)
            {
                log = Directory.Exists(endpoints) ? Directory.GetFiles(endpoints, "*.log").SingleOrDefault() : null;
                if (log is not null && ReadShared(log).Contains("# ready at", StringComparison.Ordinal)) break;
                Thread.Sleep(100);
            }
            Assert.IsNotNull(log, "the endpoint never started");
            Thread.Sleep(500);   // let the suite start against it
            whileRunning(process, log);
        }
        if (!process.WaitForExit(TimeSpan.FromMinutes(timeoutMinutes)))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"dotnet build -t:Bench did not finish within {timeoutMinutes} minutes:\n" + stdout.Result);
        }
        return (process.ExitCode, stdout.Result + stderr.Result);
    }

    private static string ReadShared(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        return new StreamReader(stream).ReadToEnd();
    }
}
