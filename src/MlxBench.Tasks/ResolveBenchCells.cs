using MlxBench.Core.Cells;
using MlxBench.Core.Diagnostics;
using MlxBench.Core.Fingerprints;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

namespace MlxBench.Tasks;

/// <summary>
/// Validates the declared <c>BenchModel</c>, <c>BenchSuite</c> and <c>BenchEndpoint</c> items and returns one
/// <c>_BenchCell</c> item per model x suite (after <c>BenchFilter</c> and <c>BenchShard</c>), with its fingerprint.
/// </summary>
public sealed class ResolveBenchCells : Microsoft.Build.Utilities.Task
{
    public ITaskItem[] Models { get; set; } = [];
    public ITaskItem[] Suites { get; set; } = [];
    public ITaskItem[] Endpoints { get; set; } = [];

    [Required] public string ProjectDirectory { get; set; } = "";
    [Required] public string StateDirectory { get; set; } = "";
    [Required] public string SdkVersion { get; set; } = "";
    public string? Filter { get; set; }
    public string? Shard { get; set; }

    [Output] public ITaskItem[] Cells { get; private set; } = [];

    public override bool Execute()
    {
        var store = new CellStore(StateDirectory);
        var hashes = new FileHashCache(store.FileHashCachePath);
        var planner = new CellPlanner(new PlanOptions { ProjectDirectory = ProjectDirectory, SdkVersion = SdkVersion, Filter = Filter, Shard = Shard }, hashes);
        Plan plan = planner.Plan(TaskItems.ToDeclared(Models), TaskItems.ToDeclared(Suites), TaskItems.ToDeclared(Endpoints));
        foreach (BenchDiagnostic diagnostic in plan.Diagnostics)
            Log.Log(diagnostic);
        hashes.Save();

        Cells = plan.Cells.Select(cell => ToItem(cell, store)).ToArray();
        return !Log.HasLoggedErrors;
    }

    private static TaskItem ToItem(BenchCell cell, CellStore store)
    {
        var item = new TaskItem(cell.Id);
        item.SetMetadata("Model", cell.Model.Name);
        item.SetMetadata("Suite", cell.Suite.Name);
        item.SetMetadata("Harness", cell.Suite.Harness);
        item.SetMetadata("Fingerprint", cell.Fingerprint);
        item.SetMetadata("Envelope", store.PathsFor(cell).Envelope);
        item.SetMetadata("Spec", BenchCellJson.Serialize(cell));
        return item;
    }
}
