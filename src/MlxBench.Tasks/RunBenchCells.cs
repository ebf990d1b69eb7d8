using MlxBench.Core.Cells;
using MlxBench.Core.Diagnostics;
using MlxBench.Core.Endpoints;
using MlxBench.Core.Envelopes;
using MlxBench.Core.Provenance;
using MlxBench.Core.Running;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

namespace MlxBench.Tasks;

/// <summary>
/// Runs every cell that is not up to date and returns one <c>BenchResult</c> per cell: <c>Include</c> is the envelope's
/// full path; metadata <c>Model</c>, <c>Suite</c>, <c>Harness</c>, <c>Fingerprint</c>, <c>State</c>
/// (<c>Ran</c>, <c>UpToDate</c>, <c>Failed</c>). A failed cell is an error that names it; the other cells still run.
/// </summary>
public sealed class RunBenchCells : Microsoft.Build.Utilities.Task, ICancelableTask, IIncrementalTask
{
    private readonly CancellationTokenSource _cancel = new();

    public ITaskItem[] Cells { get; set; } = [];
    [Required] public string ProjectDirectory { get; set; } = "";
    [Required] public string ProjectName { get; set; } = "";
    [Required] public string StateDirectory { get; set; } = "";
    [Required] public string SdkVersion { get; set; } = "";
    public bool Force { get; set; }
    public string? GitSha { get; set; }
    public string? Trigger { get; set; }
    /// <summary>The <c>mlxbench</c> CLI (<c>mlxbench.dll</c>) that runs built-in harnesses out of process.</summary>
    public string? CliPath { get; set; }

    /// <summary><c>MlxBench.Server.dll</c>, which <c>Server="native"</c> endpoints run (<c>MlxBenchServerPath</c>).</summary>
    public string? ServerPath { get; set; }
    /// <summary>The native engine library the server loads (<c>MlxBenchEngineLibrary</c>).</summary>
    public string? EngineLibrary { get; set; }

    /// <summary>Set by MSBuild under <c>-question</c>: report cells that would run instead of running them.</summary>
    public bool FailIfNotIncremental { get; set; }

    [Output] public ITaskItem[] Results { get; private set; } = [];

    public void Cancel() => _cancel.Cancel();

    public override bool Execute()
    {
        List<BenchCell> cells = Cells.Select(c => BenchCellJson.Deserialize(c.GetMetadata("Spec"))).ToList();
        var store = new CellStore(StateDirectory);
        var progress = new TaskProgress(Log, ProjectName);
        var launcher = new EndpointLauncher(new EndpointLaunchSettings
        {
            ProjectDirectory = ProjectDirectory,
            LogDirectory = Path.Combine(store.StateDirectory, "endpoints"),
            ServerPath = ServerPath,
            EngineLibrary = EngineLibrary,
        });
        // Servers start only when a cell that needs one runs, and are stopped when the run ends however it ends.
        var run = new BenchRun(store, CreateRunner)
        {
            Force = Force,
            QuestionOnly = FailIfNotIncremental,
            Endpoints = new EndpointSessions(launcher, progress),
        };
        IReadOnlyList<CellOutcome> outcomes = run.RunAsync(cells, progress, _cancel.Token).GetAwaiter().GetResult();

        Results = outcomes.Select(ToItem).ToArray();
        progress.Summarize(outcomes, store.StateDirectory, Environment.GetEnvironmentVariable("GITHUB_STEP_SUMMARY"));
        return !Log.HasLoggedErrors && !_cancel.IsCancellationRequested;
    }

    /// <summary>Provenance is only worked out when a cell really runs, so a no-op Bench starts no process.</summary>
    private CellRunner CreateRunner()
    {
        IReadOnlyDictionary<string, string?> environment = EnvironmentSnapshot.Current();
        (string sha, bool isFallback) = GitShaResolver.Resolve(GitSha, ProjectDirectory);
        if (isFallback) Log.Log(BenchDiagnostic.Warning("Cell.GitShaFallback", ProjectDirectory, sha));
        (string trigger, long? pr) = RunTrigger.Detect(environment, Trigger);
        var settings = new RunSettings
        {
            ProjectDirectory = ProjectDirectory,
            GitSha = sha,
            Trigger = trigger,
            PrNumber = pr,
            System = new SystemDetector(environment).Detect(),
            Tags = SystemDetector.ExtraTags(SdkVersion),
        };
        var harnesses = new Dictionary<string, ICellHarness>(StringComparer.OrdinalIgnoreCase) { [Harnesses.Command] = new CommandHarness() };
        if (!string.IsNullOrEmpty(CliPath))
        {
            var cli = new CliHarness(CliPath);
            foreach (string name in Harnesses.Names.Where(n => Harnesses.TryGet(n, out HarnessInfo? h) && h!.BuiltIn))
                harnesses[name] = cli;
        }
        return new CellRunner(settings, harnesses, SchemaValidator.Default);
    }

    private static TaskItem ToItem(CellOutcome outcome)
    {
        var item = new TaskItem(outcome.EnvelopePath);
        item.SetMetadata("Model", outcome.Cell.Model.Name);
        item.SetMetadata("Suite", outcome.Cell.Suite.Name);
        item.SetMetadata("Harness", outcome.Cell.Suite.Harness);
        item.SetMetadata("Fingerprint", outcome.Cell.Fingerprint);
        item.SetMetadata("State", outcome.State.ToString());
        return item;
    }
}
