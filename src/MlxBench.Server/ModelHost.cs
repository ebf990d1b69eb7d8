using MlxBench.Server.Api;
using MlxBench.Server.Engine;
using MlxBench.Server.Scheduling;
using MlxBench.Server.Text;

namespace MlxBench.Server;

/// <summary>Everything the server is started with; parsed from the command line in <see cref="Program"/>.</summary>
internal sealed record ServerOptions
{
    public required string ModelPath { get; init; }
    /// <summary>The id clients send as <c>model</c>; the file name (without extension) is always accepted too.</summary>
    public string? ServedModelName { get; init; }
    public string Host { get; init; } = "127.0.0.1";
    public int Port { get; init; } = 8080;
    public string? EngineLibrary { get; init; }
    /// <summary>When set, every route but /health requires <c>Authorization: Bearer &lt;key&gt;</c>.</summary>
    public string? ApiKey { get; init; }
    public SchedulerOptions Scheduler { get; init; } = new();
    /// <summary>Exit when this process is gone (the SDK passes its own id, so a killed build leaves no server).</summary>
    public int? ParentProcessId { get; init; }
    /// <summary>Test seam: awaited before the model loads, to observe the server while it is loading.</summary>
    internal Func<Task>? BeforeLoad { get; init; }
}

internal enum HostState { Loading, Ready, Failed }

/// <summary>
/// Owns the model and the scheduler. The HTTP server starts listening before the model is loaded, so clients (and the
/// SDK's readiness probe) get 503 while it loads instead of connection errors.
/// </summary>
internal sealed class ModelHost : IDisposable
{
    private readonly ServerOptions _options;
    private EngineModel? _model;
    private Scheduler? _scheduler;

    public ModelHost(ServerOptions options)
    {
        _options = options;
        // A model folder's name is its name whole ("Qwen2.5-0.5B-Instruct-4bit" has no extension to drop).
        string stem = Directory.Exists(options.ModelPath)
            ? System.IO.Path.GetFileName(System.IO.Path.TrimEndingDirectorySeparator(options.ModelPath))
            : System.IO.Path.GetFileNameWithoutExtension(options.ModelPath);
        ModelId = options.ServedModelName ?? stem;
        ServedNames = new[] { ModelId, stem, System.IO.Path.GetFileName(System.IO.Path.TrimEndingDirectorySeparator(options.ModelPath)) }.Distinct(StringComparer.Ordinal).ToArray();
    }

    public HostState State { get; private set; } = HostState.Loading;
    public string? FailureMessage { get; private set; }
    public string ModelId { get; }
    public IReadOnlyList<string> ServedNames { get; }
    public DateTimeOffset Created { get; } = DateTimeOffset.UtcNow;
    public string SystemInfo { get; private set; } = "";

    public EngineModel Model => _model ?? throw ApiError.Loading();
    public Scheduler Scheduler => _scheduler ?? throw ApiError.Loading();
    public ChatTemplate ChatTemplate { get; private set; } = ChatTemplate.ChatMl;

    /// <summary>Loads the engine, the model and the context; returns false (with <see cref="FailureMessage"/>) on failure.</summary>
    public bool Load()
    {
        try
        {
            EngineLibrary.Configure(_options.EngineLibrary);
            SystemInfo = EngineLibrary.Verify();
            EngineModel model = EngineModel.Load(_options.ModelPath);
            try
            {
                _scheduler = new Scheduler(model, _options.Scheduler);
            }
            catch
            {
                model.Dispose();
                throw;
            }
            _model = model;
            ChatTemplate = ChatTemplate.For(model);
            State = HostState.Ready;
            return true;
        }
        catch (Exception e) when (e is EngineException or InvalidOperationException or IOException or DllNotFoundException or EntryPointNotFoundException)
        {
            FailureMessage = e.Message;
            State = HostState.Failed;
            return false;
        }
    }

    /// <summary>Throws the 503 or 404 a request gets when the model is not ready or not the one it names.</summary>
    public void Require(string? model)
    {
        if (State != HostState.Ready) throw ApiError.Loading();
        if (model is not null && !ServedNames.Contains(model, StringComparer.Ordinal)) throw ApiError.UnknownModel(model, ServedNames);
    }

    public void Dispose()
    {
        _scheduler?.Dispose();
        _model?.Dispose();
    }
}
