using MlxBench.Core.Cells;
using MlxBench.Core.Diagnostics;
using MlxBench.Core.Running;

namespace MlxBench.Core.Endpoints;

/// <summary>
/// The managed endpoints of one Bench run: each (endpoint, model) pair is started before the first of its cells that
/// runs, shared by its later cells, and stopped after the last one; whatever is still running is stopped when the
/// run ends, fails or is cancelled (<see cref="DisposeAsync"/>). A start that failed is not retried for the pair's
/// other cells: they fail with a reference to the first error.
/// </summary>
public sealed class EndpointSessions(IEndpointLauncher launcher, IBenchProgress progress) : IAsyncDisposable
{
    private readonly Dictionary<string, RunningEndpoint> _running = new(StringComparer.Ordinal);
    private readonly Dictionary<string, BenchDiagnostic> _failed = new(StringComparer.Ordinal);

    /// <summary>Cells that share a key share one server.</summary>
    public static string? KeyOf(BenchCell cell) => cell.Endpoint is { IsManaged: true } e ? e.Name + "\n" + cell.Model.Name : null;

    /// <summary>The servers running now (for tests and diagnostics).</summary>
    public IReadOnlyCollection<RunningEndpoint> Running => _running.Values;

    /// <summary>The cell as it runs: its endpoint's BaseUrl is the started server's. Its fingerprint is unchanged.</summary>
    public async Task<(BenchCell Cell, BenchDiagnostic? Failure)> AcquireAsync(BenchCell cell, CancellationToken cancellationToken)
    {
        string key = KeyOf(cell) ?? throw new ArgumentException("the cell has no managed endpoint", nameof(cell));
        if (_failed.TryGetValue(key, out BenchDiagnostic? earlier))
            return (cell, BenchDiagnostic.Error("Endpoint.CellWithoutEndpoint", cell.Id, cell.Endpoint!.Name, earlier.Code));
        if (!_running.TryGetValue(key, out RunningEndpoint? running) || running.HasExited)
        {
            if (running is not null) await StopAsync(key);
            progress.EndpointMessage($"{cell.Endpoint!.Name}: starting {(cell.Endpoint.Server is not null ? "the native server" : "its command")} for {cell.Model.Name}");
            try
            {
                running = await launcher.StartAsync(cell.Endpoint, cell.Model, cancellationToken);
            }
            catch (BenchException e)
            {
                _failed[key] = e.Diagnostic;
                progress.Report(e.Diagnostic);
                return (cell, BenchDiagnostic.Error("Endpoint.CellWithoutEndpoint", cell.Id, cell.Endpoint.Name, e.Diagnostic.Code));
            }
            _running[key] = running;
            progress.EndpointMessage($"{cell.Endpoint.Name}: ready at {running.BaseUrl} ({running.StartupTime.TotalSeconds:0.0} s) -> {running.LogPath}");
        }
        return (cell with { Endpoint = cell.Endpoint! with { BaseUrl = running.BaseUrl } }, null);
    }

    /// <summary>Stops the cell's server: called after the last cell that uses it.</summary>
    public Task ReleaseAsync(BenchCell cell) => KeyOf(cell) is { } key ? StopAsync(key) : Task.CompletedTask;

    private async Task StopAsync(string key)
    {
        if (!_running.Remove(key, out RunningEndpoint? running)) return;
        await running.DisposeAsync();
        progress.EndpointMessage($"{running.Endpoint}: stopped (server for {running.Model})");
    }

    public async ValueTask DisposeAsync()
    {
        foreach (string key in _running.Keys.ToArray()) await StopAsync(key);
    }
}
