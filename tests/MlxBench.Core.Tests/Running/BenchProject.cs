using System.Collections.Concurrent;
using MlxBench.Core.Cells;
using MlxBench.Core.Diagnostics;
using MlxBench.Core.Envelopes;
using MlxBench.Core.Fingerprints;
using MlxBench.Core.Provenance;
using MlxBench.Core.Running;
using MlxBench.Testing;
using Microsoft.Extensions.Time.Testing;
using static MlxBench.Core.Tests.Cells.CellPlannerTests;

namespace MlxBench.Core.Tests.Running;

/// <summary>A throwaway bench project on disk, planned and run the way the Bench target runs it, with real processes.</summary>
internal sealed class BenchProject : IDisposable
{
    public static readonly DateTimeOffset StartedAt = new(2026, 5, 4, 9, 0, 0, TimeSpan.Zero);

    private readonly TempDirectory _dir = new("bench");

    public BenchProject()
    {
        Store = new CellStore(Combine("obj", "bench"));
        Settings = new RunSettings
        {
            ProjectDirectory = _dir.Path,
            GitSha = "abc1234",
            System = new SystemDetector(new Dictionary<string, string?>()).Detect(),
            Tags = SystemDetector.ExtraTags("1.0.0-test"),
            Clock = new FakeTimeProvider(StartedAt),
        };
        Harnesses = new Dictionary<string, ICellHarness>(StringComparer.OrdinalIgnoreCase) { ["command"] = new CommandHarness() };
    }

    public string Directory => _dir.Path;

    public CellStore Store { get; }

    public RunSettings Settings { get; set; }

    public Dictionary<string, ICellHarness> Harnesses { get; }

    public RecordingProgress Progress { get; } = new();

    public string Combine(params string[] parts) => _dir.Combine(parts);

    public string Write(string relative, string text) => _dir.Write(relative, text);

    /// <summary>A single-quoted shell word.</summary>
    public static string Quote(string text) => "'" + text.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    public IReadOnlyList<BenchCell> Plan(IReadOnlyList<DeclaredItem> models, IReadOnlyList<DeclaredItem> suites, IReadOnlyList<DeclaredItem>? endpoints = null)
    {
        Plan plan = new CellPlanner(new PlanOptions { ProjectDirectory = Directory, SdkVersion = "1.0.0-test" }, new FileHashCache(null))
            .Plan(models, suites, endpoints ?? []);
        Assert.IsFalse(plan.HasErrors, string.Join("\n", plan.Diagnostics));
        return plan.Cells;
    }

    /// <summary>One model and one command suite.</summary>
    public BenchCell Cell(string command, string converter = "lm-eval", string suite = "reasoning", params (string Key, string Value)[] metadata) =>
        Plan([Item("org/model")], [Item(suite, [("Harness", "command"), ("Command", command), ("Converter", converter), .. metadata])]).Single();

    public Task<CellOutcome> RunAsync(BenchCell cell, CancellationToken cancellationToken = default) =>
        new CellRunner(Settings, Harnesses, SchemaValidator.Default).RunAsync(cell, Store.PathsFor(cell), Progress, cancellationToken);

    public Task<IReadOnlyList<CellOutcome>> RunAllAsync(IReadOnlyList<BenchCell> cells, bool force = false, bool questionOnly = false, CancellationToken cancellationToken = default) =>
        new BenchRun(Store, () => new CellRunner(Settings, Harnesses, SchemaValidator.Default)) { Force = force, QuestionOnly = questionOnly }
            .RunAsync(cells, Progress, cancellationToken);

    public void Dispose() => _dir.Dispose();
}

/// <summary>Records what a Bench run reports, as the MSBuild task would log it.</summary>
internal sealed class RecordingProgress : IBenchProgress
{
    public ConcurrentQueue<string> Started { get; } = new();
    public ConcurrentQueue<string> Lines { get; } = new();
    public ConcurrentQueue<CellOutcome> Finished { get; } = new();
    public ConcurrentQueue<BenchDiagnostic> Reported { get; } = new();

    public void CellStarting(BenchCell cell, int index, int count) => Started.Enqueue($"{index + 1}/{count} {cell.Id}");

    public void CellOutput(BenchCell cell, string line) => Lines.Enqueue(line);

    public void CellFinished(CellOutcome outcome) => Finished.Enqueue(outcome);

    public void Report(BenchDiagnostic diagnostic) => Reported.Enqueue(diagnostic);
}

/// <summary>Whether a process still runs (a zombie waiting to be reaped does not count).</summary>
internal static class Processes
{
    public static bool IsRunning(int pid)
    {
        string stat = $"/proc/{pid}/stat";
        if (!File.Exists(stat)) return false;
        try
        {
            string text = File.ReadAllText(stat);
            char state = text[(text.LastIndexOf(')') + 2)..][0];
            return state != 'Z' && state != 'X';
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>Waits (briefly) for a process that was killed to be gone; the kernel may take a moment to reap it.</summary>
    public static bool IsGoneWithin(int pid, TimeSpan within)
    {
        DateTime deadline = DateTime.UtcNow + within;
        while (IsRunning(pid))
        {
            if (DateTime.UtcNow > deadline) return false;
            Thread.Sleep(20);
        }
        return true;
    }

    public static int ReadPid(string path, TimeSpan within)
    {
        DateTime deadline = DateTime.UtcNow + within;
        while (!File.Exists(path) || File.ReadAllText(path).Trim().Length == 0)
        {
            if (DateTime.UtcNow > deadline) Assert.Fail($"{path} was not written");
            Thread.Sleep(20);
        }
        return int.Parse(File.ReadAllText(path).Trim(), System.Globalization.CultureInfo.InvariantCulture);
    }
}
