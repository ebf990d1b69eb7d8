using MlxBench.Core.Cells;
using MlxBench.Core.Diagnostics;

namespace MlxBench.Core.Running;

/// <summary>How a Bench run tells its caller what happens; the MSBuild task maps it to log messages.</summary>
public interface IBenchProgress
{
    void CellStarting(BenchCell cell, int index, int count);

    /// <summary>A line the harness printed: detail, shown only at higher verbosity.</summary>
    void CellOutput(BenchCell cell, string line);

    void CellFinished(CellOutcome outcome);

    void Report(BenchDiagnostic diagnostic);

    /// <summary>A managed endpoint started, became ready or stopped (one line the user sees).</summary>
    void EndpointMessage(string message) { }
}

/// <summary>What became of one cell.</summary>
public sealed record CellOutcome(BenchCell Cell, CellState State, string EnvelopePath, TimeSpan Elapsed, BenchDiagnostic? Failure = null);
