using System.Diagnostics;
using MlxBench.Core.Cells;

namespace MlxBench.Core.Running;

/// <summary>
/// The <c>command</c> harness: runs the suite's <c>Command</c> through the shell once per cell, in the project folder,
/// with the variables of <see cref="Variables"/> set (plus <c>MLXBENCH_RUN_ID</c>, which marks every process of the
/// cell), and expects the raw result at <c>MLXBENCH_OUTPUT</c>. Processes the command leaves running end with the cell.
/// </summary>
public sealed class CommandHarness : ICellHarness
{
    public async Task<HarnessOutput> RunAsync(BenchCell cell, HarnessContext context, CancellationToken cancellationToken)
    {
        string output = Path.Combine(context.Paths.RawDirectory, "result.json");
        ProcessStartInfo start = ShellCommand.StartInfo(cell.Suite.Command!, context.ProjectDirectory);
        foreach ((string name, string? value) in Variables(cell, output, context.Paths))
            start.Environment[name] = value;

        await HarnessProcess.RunAsync(cell, context, start, cell.Suite.Command!, output, cancellationToken);
        return new HarnessOutput(output, cell.Suite.Converter);
    }

    /// <summary>The environment a command sees: the model's id, name, local file and revision, the suite's name, the
    /// endpoint's base URL, where to write the result and the cell's folder. A variable the cell has no value for is
    /// removed, so a value inherited from the build never passes for the cell's.</summary>
    internal static IEnumerable<KeyValuePair<string, string?>> Variables(BenchCell cell, string output, CellPaths paths)
    {
        yield return new("MLXBENCH_MODEL", cell.Model.Id);
        yield return new("MLXBENCH_MODEL_NAME", cell.Model.Name);
        yield return new("MLXBENCH_MODEL_FILE", cell.Model.File);
        yield return new("MLXBENCH_MODEL_REVISION", cell.Model.Revision);
        yield return new("MLXBENCH_SUITE", cell.Suite.Name);
        yield return new("MLXBENCH_BASE_URL", cell.Endpoint?.BaseUrl);
        yield return new("MLXBENCH_OUTPUT", output);
        yield return new("MLXBENCH_CELL_DIR", paths.Directory);
    }
}
