using System.Net.Sockets;
using System.Text.Json.Nodes;
using MlxBench.Core.Cells;
using MlxBench.Core.Diagnostics;
using MlxBench.Core.Endpoints;
using MlxBench.Testing;

namespace MlxBench.Server.Tests.Endpoints;

/// <summary>Managed endpoints as real processes: the native server and user commands, ready probes, logs, and stopping.</summary>
[TestClass]
public sealed class EndpointLauncherTests
{
    private static EndpointSpec Native(params (string Key, string Value)[] metadata) =>
        new("engine", "", new SortedDictionary<string, string>(metadata.ToDictionary(m => m.Key, m => m.Value), StringComparer.Ordinal)) { Server = "native" };

    private static EndpointSpec Command(string command, params (string Key, string Value)[] metadata) =>
        new("cmd", "", new SortedDictionary<string, string>(metadata.ToDictionary(m => m.Key, m => m.Value), StringComparer.Ordinal)) { Command = command };

    private static ModelSpec Model(string? file) => new("stories", "karpathy/tinyllamas", null, null, file, "engine", new SortedDictionary<string, string>());

    private static EndpointLauncher Launcher(TempDirectory dir, HfModelCache? cache = null) => new(new EndpointLaunchSettings
    {
        ProjectDirectory = dir.Path,
        LogDirectory = dir.Combine("logs"),
        ServerPath = Paths.ServerDll,
        EngineLibrary = TestServer.EngineLibrary,
        HfCache = cache ?? new HfModelCache(),
    });

    [TestMethod]
    public async Task NativeServer_StartsOnAFreePort_Answers_AndIsGoneAfterDispose()
    {
        using var dir = new TempDirectory("mlxb-ep");
        RunningEndpoint endpoint = await Launcher(dir).StartAsync(Native(("Parallel", "2"), ("ContextSize", "256")), Model(TestServer.Stories260K), CancellationToken.None);
        int pid = endpoint.ProcessId;
        (int logPid, int port) = Paths.FromLog(endpoint.LogPath);
        Assert.AreEqual(pid, logPid);
        Assert.AreEqual($"http://127.0.0.1:{port}/v1", endpoint.BaseUrl);
        using (var http = new HttpClient())
        {
            JsonNode models = JsonNode.Parse(await http.GetStringAsync(endpoint.BaseUrl + "/models"))!;
            Assert.AreEqual("karpathy/tinyllamas", (string)models["data"]![0]!["id"]!, "served under the BenchModel's id");
            Assert.AreEqual(256, (int)models["data"]![0]!["max_model_len"]!);
        }
        await endpoint.DisposeAsync();

        Assert.IsFalse(Paths.IsRunning(pid), "the server process is gone");
        Assert.ThrowsExactly<SocketException>(() => new TcpClient("127.0.0.1", port).Dispose());
        string log = File.ReadAllText(endpoint.LogPath);
        StringAssert.Contains(log, "ready: karpathy/tinyllamas");
        StringAssert.Contains(log, "# stopped");
    }

    [TestMethod]
    public async Task CommandServer_GetsItsPortAndModel_FromTheEnvironment()
    {
        using var dir = new TempDirectory("mlxb-ep");
        string command = $"exec dotnet exec '{Paths.ServerDll}' --model \"$MLXBENCH_MODEL_FILE\" --port \"$MLXBENCH_PORT\" --served-model-name \"$MLXBENCH_MODEL\" --engine-library \"$MLXBENCH_ENGINE_LIBRARY\" --parallel 1";
        await using RunningEndpoint endpoint = await Launcher(dir).StartAsync(Command(command), Model(TestServer.Stories260K), CancellationToken.None);
        using var http = new HttpClient();
        using var content = new StringContent("{\"prompt\": \"Once upon a time\", \"max_tokens\": 5, \"temperature\": 0}", System.Text.Encoding.UTF8, "application/json");
        using HttpResponseMessage response = await http.PostAsync(endpoint.BaseUrl + "/completions", content);
        Assert.AreEqual(200, (int)response.StatusCode);
        StringAssert.StartsWith((string)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["choices"]![0]!["text"]!, ", there was");
    }

    [TestMethod]
    public async Task AServerLeftBehindByAKilledBuild_IsStoppedByTheNextStart()
    {
        using var dir = new TempDirectory("mlxb-ep");
        string command = $"exec dotnet exec '{Paths.ServerDll}' --model \"$MLXBENCH_MODEL_FILE\" --port \"$MLXBENCH_PORT\" --engine-library \"$MLXBENCH_ENGINE_LIBRARY\" --parallel 1";
        // The first run's endpoint is never disposed: its build "died".
        RunningEndpoint abandoned = await Launcher(dir).StartAsync(Command(command), Model(TestServer.Stories260K), CancellationToken.None);
        int stale = abandoned.ProcessId;

        await using RunningEndpoint next = await Launcher(dir).StartAsync(Command(command), Model(TestServer.Stories260K), CancellationToken.None);

        Assert.IsFalse(Paths.IsRunning(stale), "the stale server was stopped before the new one started");
        Assert.IsTrue(Paths.IsRunning(next.ProcessId));
        await next.DisposeAsync();
        Assert.IsFalse(File.Exists(next.LogPath + ".pid"), "a server stopped normally leaves no pid file");
    }

    [TestMethod]
    public async Task CommandThatExits_FailsWithItsExitCodeAndTheEndOfItsLog()
    {
        using var dir = new TempDirectory("mlxb-ep");
        BenchException e = await Assert.ThrowsExactlyAsync<BenchException>(() =>
            Launcher(dir).StartAsync(Command("echo cannot load the model >&2; exit 7"), Model(null), CancellationToken.None));
        Assert.AreEqual("MLXB5008", e.Diagnostic.Code);
        StringAssert.Contains(e.Diagnostic.Message, "exited with code 7");
        StringAssert.Contains(e.Diagnostic.Message, "cannot load the model");
    }

    [TestMethod]
    public async Task ServerThatNeverAnswers_IsStoppedAfterReadyTimeout()
    {
        using var dir = new TempDirectory("mlxb-ep");
        BenchException e = await Assert.ThrowsExactlyAsync<BenchException>(() =>
            Launcher(dir).StartAsync(Command("echo waiting; exec sleep 60", ("ReadyTimeout", "1")), Model(null), CancellationToken.None));
        Assert.AreEqual("MLXB5009", e.Diagnostic.Code);
        (int pid, _) = Paths.FromLog(dir.Combine("logs", "cmd-stories.log"));
        Assert.IsFalse(Paths.IsRunning(pid), "the process was killed");
    }

    [TestMethod]
    public async Task CancelWhileWaiting_StopsTheServer()
    {
        using var dir = new TempDirectory("mlxb-ep");
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(700));
        await Assert.ThrowsAsync<OperationCanceledException>(() =>
            Launcher(dir).StartAsync(Command("exec sleep 60"), Model(null), cancel.Token));
        (int pid, _) = Paths.FromLog(dir.Combine("logs", "cmd-stories.log"));
        Assert.IsFalse(Paths.IsRunning(pid));
    }

    [TestMethod]
    public async Task NativeServer_WithoutEngineOrServer_IsACodedError()
    {
        using var dir = new TempDirectory("mlxb-ep");
        var noEngine = new EndpointLauncher(new EndpointLaunchSettings { ProjectDirectory = dir.Path, LogDirectory = dir.Path, ServerPath = Paths.ServerDll, EngineLibrary = dir.Combine("missing.so") });
        Assert.AreEqual("MLXB5006", (await Assert.ThrowsExactlyAsync<BenchException>(() => noEngine.StartAsync(Native(), Model(TestServer.Stories260K), CancellationToken.None))).Diagnostic.Code);
        var noServer = new EndpointLauncher(new EndpointLaunchSettings { ProjectDirectory = dir.Path, LogDirectory = dir.Path, ServerPath = null, EngineLibrary = TestServer.EngineLibrary });
        Assert.AreEqual("MLXB5005", (await Assert.ThrowsExactlyAsync<BenchException>(() => noServer.StartAsync(Native(), Model(TestServer.Stories260K), CancellationToken.None))).Diagnostic.Code);
    }

    [TestMethod]
    public async Task NativeServer_FindsAHuggingFaceModel_InTheHfCacheLayout_Offline()
    {
        using var dir = new TempDirectory("mlxb-ep");
        string commit = new('a', 40);
        string repo = dir.Combine("hf", "hub", "models--karpathy--tinyllamas");
        Directory.CreateDirectory(Path.Combine(repo, "refs"));
        File.WriteAllText(Path.Combine(repo, "refs", "main"), commit);
        string snapshot = Path.Combine(repo, "snapshots", commit, "stories260K.gguf");
        Directory.CreateDirectory(Path.GetDirectoryName(snapshot)!);
        File.CreateSymbolicLink(snapshot, TestServer.Stories260K);
        var env = new Dictionary<string, string> { ["HF_HOME"] = dir.Combine("hf"), ["HF_HUB_OFFLINE"] = "1" };
        var cache = new HfModelCache(name => env.GetValueOrDefault(name));

        await using RunningEndpoint endpoint = await Launcher(dir, cache).StartAsync(Native(), Model("stories260K.gguf"), CancellationToken.None);
        StringAssert.Contains(File.ReadAllText(endpoint.LogPath), snapshot);
    }
}
