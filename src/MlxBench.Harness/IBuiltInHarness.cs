using MlxBench.Core.Cells;

namespace MlxBench.Harness;

/// <summary>
/// A harness that ships with MlxBench and runs inside the <c>mlxbench</c> CLI (never inside MSBuild). It reads what
/// it needs from the planned cell (suite metadata, model, endpoint) and writes its raw result to
/// <see cref="HarnessRun.OutputPath"/> in the format of the converter that <see cref="Cells.Harnesses"/> names for it.
/// </summary>
public interface IBuiltInHarness
{
    /// <summary>The <c>Harness="..."</c> name; must match an entry of <see cref="Harnesses"/>.</summary>
    string Name { get; }

    Task RunAsync(HarnessRun run, CancellationToken cancellationToken);
}

/// <summary>One run of a built-in harness for one cell.</summary>
/// <param name="Cell">The cell as planned by the SDK (its <c>cell.json</c>).</param>
/// <param name="OutputPath">Where the raw result must be written (written last, atomically).</param>
/// <param name="Log">Lines for the cell's log; the SDK shows them at detailed verbosity.</param>
public sealed record HarnessRun(BenchCell Cell, string OutputPath, TextWriter Log)
{
    /// <summary>The folder of the output file: harnesses put their side files (samples, per-level results) here.</summary>
    public string OutputDirectory => Path.GetDirectoryName(Path.GetFullPath(OutputPath))!;
}
