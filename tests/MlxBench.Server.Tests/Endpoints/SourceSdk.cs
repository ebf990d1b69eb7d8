using System.Diagnostics;
using System.Net.Sockets;
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
        IEnumerable<KeyValuePair<string, string?>>? environment = null, int timeoutMinutes = 5)
    {
        using Process process = Dotnet.Start(Path.GetDirectoryName(project)!, ["build", project, "-t:Bench", "-nr:false", "-nologo", "-v:n"], environment);
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

    /// <summary>The log of the project's one managed endpoint.</summary>
    public static string EndpointLog(string projectDirectory) =>
        Directory.GetFiles(Path.Combine(projectDirectory, "obj", "bench", "endpoints"), "*.log").Single();

    /// <summary>The server the log names is gone: its process, its port, and the log says it was stopped.</summary>
    public static void AssertStopped(string log, string output)
    {
        (int pid, int port) = Paths.FromLog(log);
        Assert.IsFalse(Paths.IsRunning(pid), $"server process {pid} is still running after the build\n{output}");
        Assert.ThrowsExactly<SocketException>(() => new TcpClient("127.0.0.1", port).Dispose(), "nothing listens on the server's port any more");
        StringAssert.Contains(File.ReadAllText(log), "# stopped");
    }

    private static string ReadShared(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        return new StreamReader(stream).ReadToEnd();
    }
}
