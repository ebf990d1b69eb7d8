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

    public async Task<IReadOnlyList<CellOutcome>> RunAsync(IReadOnlyList<BenchCell> cells, IBenchProgress progress, CancellationToken cancellationToken)
    {
        var outcomes = new List<CellOutcome>(cells.Count);
        CellRunner? runner = null;
        for (int i = 0; i < cells.Count; i++)
        {
            BenchCell cell = cells[i];
            CellPaths paths = store.PathsFor(cell);
            CellOutcome outcome;
            if (!Force && store.IsUpToDate(cell))
                outcome = new CellOutcome(cell, CellState.UpToDate, paths.Envelope, TimeSpan.Zero);
            else if (QuestionOnly)
                outcome = new CellOutcome(cell, CellState.Failed, paths.Envelope, TimeSpan.Zero, BenchDiagnostic.Error("Cell.NotIncremental", cell.Id, cell.Fingerprint[..16]));
            else if (cancellationToken.IsCancellationRequested)
                outcome = new CellOutcome(cell, CellState.Failed, paths.Envelope, TimeSpan.Zero, BenchDiagnostic.Error("Cell.Cancelled", cell.Id));
            else
            {
                progress.CellStarting(cell, i, cells.Count);
                runner ??= runnerFactory();
                outcome = await runner.RunAsync(cell, paths, progress, cancellationToken);
            }
            progress.CellFinished(outcome);
            outcomes.Add(outcome);
        }
        return outcomes;
    }
}
