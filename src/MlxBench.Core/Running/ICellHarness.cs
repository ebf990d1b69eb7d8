using MlxBench.Core.Cells;

namespace MlxBench.Core.Running;

/// <summary>Runs one cell and leaves its raw output in a file for a converter to read.</summary>
public interface ICellHarness
{
    /// <summary>Runs the cell; throws <see cref="Diagnostics.BenchException"/> with a coded diagnostic when it fails.</summary>
    Task<HarnessOutput> RunAsync(BenchCell cell, HarnessContext context, CancellationToken cancellationToken);
}

/// <summary>Where a harness may write, and how it reports progress.</summary>
public sealed record HarnessContext(string ProjectDirectory, CellPaths Paths, Action<string> Output);

/// <summary>The raw result file a harness produced, and the converter that reads it.</summary>
public sealed record HarnessOutput(string RawResultPath, string Converter);
