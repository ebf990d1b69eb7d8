using System.Diagnostics;
using System.Text.Json.Nodes;
using MlxBench.Testing;

namespace MlxBench.Server.Tests.Endpoints;

/// <summary>
/// End to end through the SDK (imported from source, with the freshly built task assembly, server and engine): a
/// <c>.benchproj</c> with <c>Server="native"</c> and a <c>command</c> suite that calls <c>$MLXBENCH_BASE_URL</c>.
/// <c>dotnet build -t:Bench</c> runs as a real process, as a user runs it.
/// </summary>
[TestClass]
public sealed class ManagedEndpointSdkTests
{
    /// <summary>Calls the endpoint, records the URL it was given, and writes a v1 envelope with what the server said.</summary>
    private const string SuiteScript = """
        set -e
        echo "$MLXBENCH_BASE_URL" > "$MLXBENCH_CELL_DIR/base_url.txt"
        response=$(curl -sf "$MLXBENCH_BASE_URL/completions" -H 'Content-Type: application/json' \
          -d "{\"model\": \"$MLXBENCH_MODEL\", \"prompt\": \"Once upon a time\", \"max_tokens\": 8, \"temperature\": 0}")
        tokens=$(echo "$response" | sed -n 's/.*"completion_tokens":\([0-9]*\).*/\1/p')
        cat > "$MLXBENCH_OUTPUT" <<JSON
        {"schema_version": "1", "timestamp": "2026-04-24T18:30:00Z", "git_sha": "aaa3ff3", "trigger": "local",
         "suite": "throughput", "model": "$MLXBENCH_MODEL",
         "system": {"os": "Linux", "chip": "x86-64", "memory_gb": 24},
         "results": [{"name": "smoke", "metric": "completion_tokens", "value": $tokens, "unit": "tokens"}], "errors": []}
        JSON
        """;

    private static string Project(string command, string? engineLibrary) => SourceSdk.Project($"""
            <BenchEndpoint Include="engine" Server="native" Parallel="2" ContextSize="512" Threads="1" />
            <BenchModel Include="karpathy/tinyllamas" File="{TestServer.Stories260K}" Endpoint="engine" />
            <BenchSuite Include="throughput" Harness="command" Command="{command}" Timeout="120" />
        """, engineLibrary);

    [TestMethod]
    public void NativeEndpoint_IsStartedForTheCommandSuite_ThenStopped_AndNotStartedWhenUpToDate()
    {
        using var dir = new TempDirectory("mlxb-sdk");
        dir.Write("suite.sh", SuiteScript);
        string project = dir.Write("models.benchproj", Project("sh suite.sh", TestServer.EngineLibrary));

        (int exit, string output) = SourceSdk.Bench(project);

        Assert.AreEqual(0, exit, output);
        StringAssert.Contains(output, "engine: starting the native server for karpathy/tinyllamas");
        StringAssert.Contains(output, "throughput/karpathy/tinyllamas: ran");
        string log = SourceSdk.EndpointLog(dir.Path);
        (_, int port) = Paths.FromLog(log);
        string cellDir = Directory.GetDirectories(dir.Combine("obj", "bench", "throughput", "karpathy-tinyllamas")).Single();
        Assert.AreEqual($"http://127.0.0.1:{port}/v1", File.ReadAllText(Path.Combine(cellDir, "base_url.txt")).Trim(), "MLXBENCH_BASE_URL is the started server's /v1 URL");
        JsonNode envelope = JsonNode.Parse(File.ReadAllText(Path.Combine(cellDir, "envelope.json")))!;
        Assert.AreEqual(8, (int)envelope["results"]![0]!["value"]!, "the suite got its numbers from the server");
        SourceSdk.AssertStopped(log, output);
        DateTime logWritten = File.GetLastWriteTimeUtc(log);

        // Nothing changed: the cell is up to date (the port is not part of its fingerprint) and no server starts.
        (exit, output) = SourceSdk.Bench(project);
        Assert.AreEqual(0, exit, output);
        StringAssert.Contains(output, "throughput/karpathy/tinyllamas: up to date");
        Assert.IsFalse(output.Contains("starting the native server", StringComparison.Ordinal), output);
        Assert.AreEqual(logWritten, File.GetLastWriteTimeUtc(log));
    }

    [TestMethod]
    public void MlxModelFolders_BesideTheProjectOrAWholeHfRepository_AreServed_AndTheirConfigGivesTheQuantization()
    {
        using var dir = new TempDirectory("mlxb-sdk");
        void Convert(string output, string bits) => TestServer.RunEngineCli("convert", "-m", TestServer.Stories260K, "-o", output, "--q-bits", bits);
        // A folder beside the project, and a whole repository in the HF cache (the Hub's layout), offline.
        Convert(dir.Combine("models", "stories-4bit"), "4");
        const string commit = "0123456789abcdef0123456789abcdef01234567";
        string repo = dir.Combine("hf", "models--mlx-community--stories260K-8bit");
        Convert(Path.Combine(repo, "snapshots", commit), "8");
        dir.Write(Path.Combine("hf", "models--mlx-community--stories260K-8bit", "refs", "main"), commit);
        dir.Write("suite.sh", SuiteScript);
        string project = dir.Write("models.benchproj", Project("sh suite.sh", TestServer.EngineLibrary)
            .Replace($"""<BenchModel Include="karpathy/tinyllamas" File="{TestServer.Stories260K}" Endpoint="engine" />""", """
                <BenchModel Include="local/stories-4bit" File="models/stories-4bit" Endpoint="engine" />
                <BenchModel Include="mlx-community/stories260K-8bit" Endpoint="engine" />
                """, StringComparison.Ordinal));
        var environment = new Dictionary<string, string?> { ["HF_HUB_CACHE"] = dir.Combine("hf"), ["HF_HUB_OFFLINE"] = "1" };

        (int exit, string output) = SourceSdk.Bench(project, environment: environment);

        Assert.AreEqual(0, exit, output);
        foreach ((string model, string quantization) in new[] { ("local-stories-4bit", "mlx-4bit"), ("mlx-community-stories260k-8bit", "mlx-8bit") })
        {
            string cellDir = Directory.GetDirectories(dir.Combine("obj", "bench", "throughput", model)).Single();
            JsonNode envelope = JsonNode.Parse(File.ReadAllText(Path.Combine(cellDir, "envelope.json")))!;
            Assert.AreEqual(8, (int)envelope["results"]![0]!["value"]!, $"{model}: the server answered from the folder");
            Assert.AreEqual(quantization, (string?)envelope["quantization"], model);
        }
        StringAssert.Contains(File.ReadAllText(Directory.GetFiles(dir.Combine("obj", "bench", "throughput", "mlx-community-stories260k-8bit"), "envelope.json", SearchOption.AllDirectories).Single()), commit,
            "the snapshot's commit is the model's revision");

        (exit, output) = SourceSdk.Bench(project, environment: environment);
        Assert.AreEqual(0, exit, output);
        Assert.IsFalse(output.Contains("starting the native server", StringComparison.Ordinal), "both cells are up to date:\n" + output);
    }

    [TestMethod]
    public void FailingSuite_FailsTheBuild_AndStillLeavesNoServerBehind()
    {
        using var dir = new TempDirectory("mlxb-sdk");
        dir.Write("suite.sh", SuiteScript);
        string project = dir.Write("models.benchproj", Project("sh suite.sh &amp;&amp; exit 3", TestServer.EngineLibrary));

        (int exit, string output) = SourceSdk.Bench(project);

        Assert.AreNotEqual(0, exit, output);
        StringAssert.Contains(output, "MLXB2001");
        string cellDir = Directory.GetDirectories(dir.Combine("obj", "bench", "throughput", "karpathy-tinyllamas")).Single();
        Assert.IsTrue(File.Exists(Path.Combine(cellDir, "base_url.txt")), "the suite ran against the server before failing");
        Assert.IsFalse(File.Exists(Path.Combine(cellDir, "envelope.json")), "a failed cell records nothing");
        SourceSdk.AssertStopped(SourceSdk.EndpointLog(dir.Path), output);
    }

    [TestMethod]
    public void CtrlC_DuringACell_StopsTheSuiteAndTheServer()
    {
        using var dir = new TempDirectory("mlxb-sdk");
        dir.Write("suite.sh", SuiteScript);
        string project = dir.Write("models.benchproj", Project("sh suite.sh &amp;&amp; sleep 120", TestServer.EngineLibrary));
        int serverPid = 0;

        (int exit, string output) = SourceSdk.Bench(project, (build, log) =>
        {
            serverPid = Paths.FromLog(log).Pid;
            Signal(build.Id, "INT");   // what Ctrl+C sends to the build
        });

        Assert.AreNotEqual(0, exit, output);
        Assert.IsTrue(WaitGone(serverPid, TimeSpan.FromSeconds(20)), $"server {serverPid} survived Ctrl+C\n{output}");
        Assert.IsFalse(Directory.GetFiles(dir.Path, "envelope.json", SearchOption.AllDirectories).Any(), "a cancelled cell records nothing");
    }

    [TestMethod]
    public void BuildKilledOutright_TheServerNoticesAndExits()
    {
        using var dir = new TempDirectory("mlxb-sdk");
        dir.Write("suite.sh", SuiteScript);
        string project = dir.Write("models.benchproj", Project("sh suite.sh &amp;&amp; sleep 20", TestServer.EngineLibrary));
        int serverPid = 0;

        SourceSdk.Bench(project, (build, log) =>
        {
            serverPid = Paths.FromLog(log).Pid;
            // No chance to clean up: the server's --parent-pid watch must stop it. (The suite's own shell outlives the
            // build too, which is why it only sleeps 20 s here.)
            Signal(build.Id, "KILL");
        });

        Assert.IsTrue(WaitGone(serverPid, TimeSpan.FromSeconds(20)), $"server {serverPid} outlived its build");
    }

    private static void Signal(int pid, string signal)
    {
        using Process kill = Process.Start("kill", ["-" + signal, pid.ToString(System.Globalization.CultureInfo.InvariantCulture)])!;
        kill.WaitForExit();
    }

    private static bool WaitGone(int pid, TimeSpan timeout)
    {
        for (var deadline = DateTime.UtcNow + timeout; DateTime.UtcNow < deadline; Thread.Sleep(100))
            if (!Paths.IsRunning(pid)) return true;
        return false;
    }

    [TestMethod]
    public void NativeEndpoint_WithAMissingEngineLibrary_FailsWithACodedError_AndStartsNoServer()
    {
        using var dir = new TempDirectory("mlxb-sdk");
        dir.Write("suite.sh", SuiteScript);
        string project = dir.Write("models.benchproj", Project("sh suite.sh", engineLibrary: dir.Combine("no-such", "libmlxbench.so")));

        (int exit, string output) = SourceSdk.Bench(project);

        Assert.AreNotEqual(0, exit, output);
        StringAssert.Contains(output, "MLXB5006");
        string endpoints = dir.Combine("obj", "bench", "endpoints");
        Assert.IsFalse(Directory.Exists(endpoints) && Directory.EnumerateFiles(endpoints, "*.log").Any(), "no server was started");
    }
}
