using System.Diagnostics;
using MlxBench.Core.Cells;
using MlxBench.Core.Diagnostics;
using MlxBench.Core.Running;
using MlxBench.Core.Shards;

namespace MlxBench.Core.Endpoints;

/// <summary>Starts the server of a managed endpoint for one model.</summary>
public interface IEndpointLauncher
{
    /// <summary>Starts the server and returns once it answers its health probe; throws <see cref="BenchException"/>
    /// (with the server stopped) when it cannot.</summary>
    Task<RunningEndpoint> StartAsync(EndpointSpec endpoint, ModelSpec model, CancellationToken cancellationToken);
}

/// <summary>What starting a managed endpoint needs to know about this installation.</summary>
public sealed record EndpointLaunchSettings
{
    public required string ProjectDirectory { get; init; }
    /// <summary>Where each endpoint's log goes (<c>&lt;endpoint&gt;-&lt;model&gt;.log</c>).</summary>
    public required string LogDirectory { get; init; }
    /// <summary><c>MlxBench.Server.dll</c> (the package's <c>tools/server/</c>; <c>MlxBenchServerPath</c>).</summary>
    public string? ServerPath { get; init; }
    /// <summary>The native engine library (<c>MlxBenchEngineLibrary</c>).</summary>
    public string? EngineLibrary { get; init; }
    public HfModelCache HfCache { get; init; } = new();
    /// <summary>Passed to the native server, which exits when this process is gone (a build killed outright).</summary>
    public int? ParentProcessId { get; init; } = Environment.ProcessId;
    /// <summary>How often a start is retried when the server lost the race for its port.</summary>
    public int PortAttempts { get; init; } = 3;
}

/// <summary>
/// Starts managed endpoints as child processes on a free loopback port: the native server (<c>dotnet exec
/// MlxBench.Server.dll --model ... --port ...</c>) or a user's command (through the shell, with <c>MLXBENCH_HOST</c>,
/// <c>MLXBENCH_PORT</c>, <c>MLXBENCH_MODEL</c>, <c>MLXBENCH_MODEL_FILE</c>, <c>MLXBENCH_MODEL_REVISION</c> set). Output
/// goes to a log file; readiness is an HTTP probe (native: <c>/health</c>; command: <c>HealthPath</c>, default
/// <c>/v1/models</c>) polled until it answers 2xx, the process exits, or <c>ReadyTimeout</c> passes.
/// </summary>
public sealed class EndpointLauncher(EndpointLaunchSettings settings) : IEndpointLauncher
{
    private static readonly HttpClient s_probe = new() { Timeout = TimeSpan.FromSeconds(5) };

    public async Task<RunningEndpoint> StartAsync(EndpointSpec endpoint, ModelSpec model, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(settings.LogDirectory);
        string log = Path.Combine(settings.LogDirectory, $"{ShardNaming.Slug(endpoint.Name)}-{ShardNaming.Slug(model.Name)}.log");
        StaleProcess.Stop(log + ".pid");
        Launch launch = await PrepareAsync(endpoint, model, cancellationToken);
        for (int attempt = 1; ; attempt++)
        {
            int port = FreePort.Next();
            try
            {
                return await StartOnceAsync(endpoint, model, launch, port, log, cancellationToken);
            }
            catch (PortTakenException) when (attempt < settings.PortAttempts)
            {
                // Another process bound the port between our probe and the server's bind: try another one.
            }
        }
    }

    private sealed record Launch(string Description, Func<int, ProcessStartInfo> StartInfo, string HealthPath, string BasePath);

    private sealed class PortTakenException(BenchException inner) : Exception(inner.Message, inner);

    private async Task<Launch> PrepareAsync(EndpointSpec endpoint, ModelSpec model, CancellationToken cancellationToken)
    {
        if (endpoint.Server is not null)
        {
            string server = settings.ServerPath is { Length: > 0 } s && File.Exists(s)
                ? Path.GetFullPath(s)
                : throw new BenchException(BenchDiagnostic.Error("Endpoint.ServerMissing", endpoint.Name, settings.ServerPath ?? "(not set)"));
            string engine = settings.EngineLibrary is { Length: > 0 } e && File.Exists(e)
                ? Path.GetFullPath(e)
                : throw new BenchException(BenchDiagnostic.Error("Endpoint.EngineMissing", endpoint.Name, settings.EngineLibrary ?? "(not set)"));
            string file = await ModelFileAsync(model, cancellationToken);
            return new Launch($"native server for {model.Name} ({file})", port =>
            {
                var start = new ProcessStartInfo { FileName = DotnetHost.Path, WorkingDirectory = settings.ProjectDirectory };
                var args = new List<string>
                {
                    "exec", server, "--model", file, "--host", "127.0.0.1", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture),
                    "--served-model-name", model.Id, "--engine-library", engine,
                    "--parallel", ManagedEndpoints.Number(endpoint, "Parallel", ManagedEndpoints.DefaultParallel).ToString(System.Globalization.CultureInfo.InvariantCulture),
                };
                if (ManagedEndpoints.Text(endpoint, "ContextSize") is { } ctx) args.AddRange(["--ctx-size", ctx]);
                if (ManagedEndpoints.Text(endpoint, "Threads") is { } threads) args.AddRange(["--threads", threads]);
                if (settings.ParentProcessId is { } pid) args.AddRange(["--parent-pid", pid.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
                foreach (string a in args) start.ArgumentList.Add(a);
                return start;
            }, "/health", "/v1");
        }

        string command = endpoint.Command!;
        // A local file, else the HF cache's copy if there is one (a command server may download on its own otherwise).
        string? localFile = model.File is not { } f ? null
            : File.Exists(f) ? f
            : File.Exists(Path.Combine(settings.ProjectDirectory, f)) ? Path.GetFullPath(Path.Combine(settings.ProjectDirectory, f))
            : settings.HfCache.FindCached(model.Id, f.Replace('\\', '/'), model.Revision);
        return new Launch($"command for {model.Name}: {command}", port =>
        {
            ProcessStartInfo start = ShellCommand.StartInfo(command, settings.ProjectDirectory);
            start.Environment["MLXBENCH_HOST"] = "127.0.0.1";
            start.Environment["MLXBENCH_PORT"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture);
            start.Environment["MLXBENCH_MODEL"] = model.Id;
            start.Environment["MLXBENCH_MODEL_NAME"] = model.Name;
            start.Environment["MLXBENCH_MODEL_FILE"] = localFile ?? model.File;
            start.Environment["MLXBENCH_MODEL_REVISION"] = model.Revision;
            if (settings.EngineLibrary is { Length: > 0 } engine) start.Environment["MLXBENCH_ENGINE_LIBRARY"] = engine;
            return start;
        }, "/" + (ManagedEndpoints.Text(endpoint, "HealthPath") ?? "/v1/models").TrimStart('/'), "/" + (ManagedEndpoints.Text(endpoint, "BasePath") ?? "/v1").Trim('/'));
    }

    /// <summary>A File (or model folder) beside the project, else a file of the model's HuggingFace repository from the
    /// HF cache; without a File, the whole repository's snapshot folder (an MLX-format model).</summary>
    private async Task<string> ModelFileAsync(ModelSpec model, CancellationToken cancellationToken)
    {
        if (model.File is not { } file)
            return await settings.HfCache.ResolveSnapshotAsync(model.Id, model.Revision, model.SnapshotCommit, cancellationToken);
        string local = Path.Combine(settings.ProjectDirectory, file);   // an absolute File stays itself
        if (File.Exists(local) || Directory.Exists(local)) return Path.GetFullPath(local);
        return await settings.HfCache.ResolveAsync(model.Id, file.Replace('\\', '/'), model.Revision, cancellationToken);
    }

    private static async Task<RunningEndpoint> StartOnceAsync(EndpointSpec endpoint, ModelSpec model, Launch launch, int port, string logPath, CancellationToken cancellationToken)
    {
        ProcessStartInfo start = launch.StartInfo(port);
        start.UseShellExecute = false;
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        start.RedirectStandardInput = true;   // a server must not read the build's console

        var log = new EndpointLog(logPath);
        log.Line($"# {endpoint.Name}: {launch.Description}");
        var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => log.Line(e.Data);
        process.ErrorDataReceived += (_, e) => log.Line(e.Data);
        try
        {
            process.Start();
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            log.Dispose();
            process.Dispose();
            throw new BenchException(BenchDiagnostic.Error("Endpoint.StartFailed", endpoint.Name, model.Name, e.Message, logPath));
        }
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        log.Line($"# pid {process.Id}, port {port}");
        string pidFile = logPath + ".pid";
        StaleProcess.Record(pidFile, process);
        string root = $"http://127.0.0.1:{port}";
        var running = new RunningEndpoint(endpoint.Name, model.Name, root + launch.BasePath, process, log, logPath, pidFile);

        int timeout = ManagedEndpoints.Number(endpoint, "ReadyTimeout", ManagedEndpoints.DefaultReadyTimeoutSeconds);
        var clock = Stopwatch.StartNew();
        try
        {
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (process.HasExited)
                {
                    await process.WaitForExitAsync(CancellationToken.None);   // drain the last output lines
                    var error = new BenchException(BenchDiagnostic.Error("Endpoint.ExitedEarly", endpoint.Name, model.Name, process.ExitCode, root + launch.HealthPath, logPath, log.Tail(15)));
                    if (log.Tail(40).Contains("address already in use", StringComparison.OrdinalIgnoreCase)) throw new PortTakenException(error);
                    throw error;
                }
                if (clock.Elapsed.TotalSeconds > timeout)
                    throw new BenchException(BenchDiagnostic.Error("Endpoint.NotReady", endpoint.Name, model.Name, root + launch.HealthPath, timeout, logPath));
                if (await AnswersAsync(root + launch.HealthPath, cancellationToken))
                {
                    running.StartupTime = clock.Elapsed;
                    log.Line($"# ready at {running.BaseUrl} after {clock.Elapsed.TotalSeconds:0.00} s");
                    return running;
                }
                await Task.Delay(100, cancellationToken);
            }
        }
        catch
        {
            await running.DisposeAsync();
            throw;
        }
    }

    private static async Task<bool> AnswersAsync(string url, CancellationToken cancellationToken)
    {
        try
        {
            using HttpResponseMessage response = await s_probe.GetAsync(url, cancellationToken);
            return response.IsSuccessStatusCode;
        }
        catch (HttpRequestException)
        {
            return false;
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return false;   // the probe's own timeout
        }
    }
}

/// <summary>A started endpoint. Disposing it stops the server (its whole process tree) and closes its log.</summary>
public sealed class RunningEndpoint : IAsyncDisposable
{
    private readonly Process _process;
    private readonly EndpointLog _log;
    private int _stopped;

    private readonly string _pidFile;

    internal RunningEndpoint(string endpoint, string model, string baseUrl, Process process, EndpointLog log, string logPath, string pidFile)
    {
        _pidFile = pidFile;
        Endpoint = endpoint;
        Model = model;
        BaseUrl = baseUrl;
        _process = process;
        _log = log;
        LogPath = logPath;
        ProcessId = process.Id;
    }

    public string Endpoint { get; }
    public string Model { get; }
    /// <summary>The OpenAI-compatible root, e.g. http://127.0.0.1:41234/v1 (what MLXBENCH_BASE_URL is set to).</summary>
    public string BaseUrl { get; }
    public string LogPath { get; }
    public int ProcessId { get; }
    public TimeSpan StartupTime { get; internal set; }
    public bool HasExited => _process.HasExited;

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0) return;
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                try { await _process.WaitForExitAsync(wait.Token); }
                catch (OperationCanceledException) { /* reported below as still running */ }
            }
            _log.Line(_process.HasExited ? $"# stopped (exit code {_process.ExitCode})" : "# could not be stopped");
            if (_process.HasExited) File.Delete(_pidFile);
        }
        catch (InvalidOperationException)
        {
            // Never started or already reaped.
        }
        finally
        {
            _log.Dispose();
            _process.Dispose();
        }
    }
}

/// <summary>The endpoint's log file, written line by line from the process's output threads.</summary>
internal sealed class EndpointLog : IDisposable
{
    private readonly StreamWriter _writer;
    private readonly Queue<string> _tail = new();
    private readonly Lock _gate = new();
    private bool _closed;

    public EndpointLog(string path) => _writer = new StreamWriter(path, append: false) { AutoFlush = true };

    public void Line(string? line)
    {
        if (line is null) return;
        lock (_gate)
        {
            if (_closed) return;
            _writer.WriteLine(line);
            _tail.Enqueue(line);
            if (_tail.Count > 40) _tail.Dequeue();
        }
    }

    public string Tail(int lines)
    {
        lock (_gate) return string.Join(Environment.NewLine, _tail.Skip(Math.Max(0, _tail.Count - lines)));
    }

    public void Dispose()
    {
        lock (_gate)
        {
            if (_closed) return;
            _closed = true;
            _writer.Dispose();
        }
    }
}

/// <summary>
/// The pid file beside an endpoint's log: written when its server starts, removed when it is stopped. A build killed
/// outright (SIGKILL, a crashed node) cannot stop its servers; the native server exits by itself (--parent-pid), and
/// any server of the same endpoint and model that is still running when the next Bench starts it is stopped first.
/// The process start time guards against a reused pid.
/// </summary>
internal static class StaleProcess
{
    public static void Record(string pidFile, Process process)
    {
        try
        {
            File.WriteAllText(pidFile, $"{process.Id} {process.StartTime.ToUniversalTime().Ticks}");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            // Only a safety net: the run goes on without it.
        }
    }

    public static void Stop(string pidFile)
    {
        if (!File.Exists(pidFile)) return;
        try
        {
            string[] parts = File.ReadAllText(pidFile).Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length == 2
                && int.TryParse(parts[0], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int pid)
                && long.TryParse(parts[1], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out long ticks))
            {
                using Process process = Process.GetProcessById(pid);
                if (process.StartTime.ToUniversalTime().Ticks == ticks)
                {
                    process.Kill(entireProcessTree: true);
                    process.WaitForExit(10_000);
                }
            }
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception or IOException)
        {
            // Gone already, or not ours to stop.
        }
        File.Delete(pidFile);
    }
}
