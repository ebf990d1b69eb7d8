using MlxBench.Core.Cells;
using MlxBench.Core.Diagnostics;

namespace MlxBench.Core.Running;

/// <summary>
/// Runs a planned set of cells in order, skipping the up-to-date ones. A failed cell never stops the others; a cancel
/// stops the run after the current cell has been cleaned up.
/// </summary>
public sealed class BenchRun(CellStore store, Func<CellRunner> runnerFactory)
{
    /// <summary>When true (MSBuild's <c>-question</c>), a cell that would run is reported instead of run.</summary>
    public bool QuestionOnly { get; init; }

    public bool Force { get; init; }

    /// <summary>Starts and stops the managed endpoints (<c>Server</c>/<c>Command</c>) of the cells that run.</summary>
    public Endpoints.EndpointSessions? Endpoints { get; init; }

    public async Task<IReadOnlyList<CellOutcome>> RunAsync(IReadOnlyList<BenchCell> cells, IBenchProgress progress, CancellationToken cancellationToken)
    {
        var outcomes = new CellOutcome[cells.Count];
        CellRunner? runner = null;
        int[] order = RunOrder(cells);
        bool[] runs = cells.Select(c => Force || !store.IsUpToDate(c)).ToArray();
        // The last cell (in run order) that will start each managed endpoint's server: it is stopped right after.
        var lastUse = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int k = 0; k < order.Length; k++)
            if (runs[order[k]] && KeyOf(cells[order[k]]) is { } key) lastUse[key] = k;
        try
        {
            for (int k = 0; k < order.Length; k++)
            {
                int i = order[k];
                BenchCell cell = cells[i];
                CellPaths paths = store.PathsFor(cell);
                CellOutcome outcome;
                if (!runs[i])
                    outcome = new CellOutcome(cell, CellState.UpToDate, paths.Envelope, TimeSpan.Zero);
                else if (QuestionOnly)
                    outcome = new CellOutcome(cell, CellState.Failed, paths.Envelope, TimeSpan.Zero, BenchDiagnostic.Error("Cell.NotIncremental", cell.Id, cell.Fingerprint[..16]));
                else if (cancellationToken.IsCancellationRequested)
                    outcome = new CellOutcome(cell, CellState.Failed, paths.Envelope, TimeSpan.Zero, BenchDiagnostic.Error("Cell.Cancelled", cell.Id));
                else
                {
                    progress.CellStarting(cell, k, cells.Count);
                    runner ??= runnerFactory();
                    outcome = await RunWithEndpointAsync(runner, cell, paths, progress, cancellationToken);
                    if (KeyOf(cell) is { } key && lastUse[key] == k && Endpoints is not null) await Endpoints.ReleaseAsync(cell);
                }
                progress.CellFinished(outcome);
                outcomes[i] = outcome;
            }
        }
        finally
        {
            // Also on failure and cancellation: no server outlives the run.
            if (Endpoints is not null) await Endpoints.DisposeAsync();
        }
        return outcomes;
    }

    private async Task<CellOutcome> RunWithEndpointAsync(CellRunner runner, BenchCell cell, CellPaths paths, IBenchProgress progress, CancellationToken cancellationToken)
    {
        if (cell.Endpoint is not { IsManaged: true }) return await runner.RunAsync(cell, paths, progress, cancellationToken);
        if (Endpoints is null)
            return new CellOutcome(cell, CellState.Failed, paths.Envelope, TimeSpan.Zero, BenchDiagnostic.Error("Endpoint.CellWithoutEndpoint", cell.Id, cell.Endpoint.Name, "-"));
        (BenchCell running, BenchDiagnostic? failure) = await Endpoints.AcquireAsync(cell, cancellationToken);
        if (failure is not null)
            return new CellOutcome(cell, CellState.Failed, paths.Envelope, TimeSpan.Zero,
                cancellationToken.IsCancellationRequested ? BenchDiagnostic.Error("Cell.Cancelled", cell.Id) : failure);
        CellOutcome outcome = await runner.RunAsync(running, paths, progress, cancellationToken);
        return outcome with { Cell = cell };   // report the cell as planned (its endpoint without the run's port)
    }

    private static string? KeyOf(BenchCell cell) => MlxBench.Core.Endpoints.EndpointSessions.KeyOf(cell);

    /// <summary>Cells of one managed endpoint and model run back to back (in the order of the first of them), so each
    /// server starts once; everything else keeps its planned order.</summary>
    private static int[] RunOrder(IReadOnlyList<BenchCell> cells)
    {
        var firstOfGroup = new Dictionary<string, int>(StringComparer.Ordinal);
        var rank = new int[cells.Count];
        for (int i = 0; i < cells.Count; i++)
            rank[i] = KeyOf(cells[i]) is { } key ? firstOfGroup.TryAdd(key, i) ? i : firstOfGroup[key] : i;
        return Enumerable.Range(0, cells.Count).OrderBy(i => rank[i]).ThenBy(i => i).ToArray();
    }
}
