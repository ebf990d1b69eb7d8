using MlxBench.Core.Cells;
using MlxBench.Core.Running;
using MlxBench.Testing;
using static MlxBench.Core.Tests.Cells.CellPlannerTests;

namespace MlxBench.Core.Tests.Running;

/// <summary>Several cells in one Bench run, through real <c>/bin/sh</c> processes.</summary>
[TestClass]
public sealed class BenchRunTests
{
    [TestInitialize]
    public void RequireShell()
    {
        if (!File.Exists("/bin/sh")) Assert.Inconclusive("the command harness tests need /bin/sh");
    }

    /// <summary>A suite whose command appends the model's name to <c>runs.txt</c>, fails for the models named in
    /// <c>fail.txt</c>, and otherwise writes the upstream lm-eval sample.</summary>
    private static IReadOnlyList<BenchCell> Cells(BenchProject bench, params string[] models)
    {
        string runs = BenchProject.Quote(bench.Combine("runs.txt"));
        string fail = BenchProject.Quote(bench.Combine("fail.txt"));
        string fixture = BenchProject.Quote(SharedData.Fixture("upstream", "lm_eval_results_sample.json"));
        string command = $"echo \"$MLXBENCH_MODEL_NAME\" >> {runs}; grep -qx \"$MLXBENCH_MODEL_NAME\" {fail} 2>/dev/null && exit 1; cp {fixture} \"$MLXBENCH_OUTPUT\"";
        return bench.Plan(models.Select(m => Item(m)).ToArray(), [Item("reasoning", ("Harness", "command"), ("Converter", "lm-eval"), ("Command", command))]);
    }

    private static string[] Runs(BenchProject bench) => File.Exists(bench.Combine("runs.txt")) ? File.ReadAllLines(bench.Combine("runs.txt")) : [];

    private static string[] States(IReadOnlyList<CellOutcome> outcomes) => outcomes.Select(o => $"{o.Cell.Model.Name} {o.State}").ToArray();

    [TestMethod]
    public async Task FailedCell_DoesNotStopTheOthers()
    {
        using var bench = new BenchProject();
        bench.Write("fail.txt", "b\n");

        IReadOnlyList<CellOutcome> outcomes = await bench.RunAllAsync(Cells(bench, "a", "b", "c"));

        CollectionAssert.AreEqual(new[] { "a Ran", "b Failed", "c Ran" }, States(outcomes));
        Assert.AreEqual("MLXB2001", outcomes[1].Failure!.Code);
        CollectionAssert.AreEqual(new[] { "a", "b", "c" }, Runs(bench));
        Assert.IsTrue(File.Exists(outcomes[0].EnvelopePath) && File.Exists(outcomes[2].EnvelopePath));
        Assert.IsFalse(File.Exists(outcomes[1].EnvelopePath));
        CollectionAssert.AreEqual(new[] { "1/3 reasoning/a", "2/3 reasoning/b", "3/3 reasoning/c" }, bench.Progress.Started.ToArray());
        Assert.HasCount(3, bench.Progress.Finished);
    }

    [TestMethod]
    public async Task SecondRun_RunsNothing_AndOnlyTheFailedCellRunsAgain()
    {
        using var bench = new BenchProject();
        bench.Write("fail.txt", "b\n");
        IReadOnlyList<BenchCell> cells = Cells(bench, "a", "b");
        await bench.RunAllAsync(cells);

        File.Delete(bench.Combine("fail.txt"));
        IReadOnlyList<CellOutcome> second = await bench.RunAllAsync(cells);

        CollectionAssert.AreEqual(new[] { "a UpToDate", "b Ran" }, States(second));
        CollectionAssert.AreEqual(new[] { "a", "b", "b" }, Runs(bench), "a up-to-date cell starts no process");
        Assert.AreEqual(second[0].EnvelopePath, bench.Store.PathsFor(cells[0]).Envelope);

        IReadOnlyList<CellOutcome> third = await bench.RunAllAsync(cells);
        CollectionAssert.AreEqual(new[] { "a UpToDate", "b UpToDate" }, States(third));
        Assert.HasCount(3, Runs(bench));
    }

    [TestMethod]
    public async Task NoOpRun_DoesNotEvenCreateARunner()
    {
        using var bench = new BenchProject();
        IReadOnlyList<BenchCell> cells = Cells(bench, "a");
        await bench.RunAllAsync(cells);
        int created = 0;

        var run = new BenchRun(bench.Store, () => { created++; throw new InvalidOperationException("provenance must not be worked out for a no-op run"); });
        IReadOnlyList<CellOutcome> outcomes = await run.RunAsync(cells, bench.Progress, CancellationToken.None);

        Assert.AreEqual(CellState.UpToDate, outcomes.Single().State);
        Assert.AreEqual(0, created);
    }

    [TestMethod]
    public async Task Force_RerunsEveryCell()
    {
        using var bench = new BenchProject();
        IReadOnlyList<BenchCell> cells = Cells(bench, "a", "b");
        await bench.RunAllAsync(cells);

        IReadOnlyList<CellOutcome> forced = await bench.RunAllAsync(cells, force: true);

        CollectionAssert.AreEqual(new[] { "a Ran", "b Ran" }, States(forced));
        CollectionAssert.AreEqual(new[] { "a", "b", "a", "b" }, Runs(bench));
    }

    [TestMethod]
    public async Task QuestionOnly_ReportsCellsThatWouldRun_WithoutRunningThem()
    {
        using var bench = new BenchProject();
        IReadOnlyList<BenchCell> cells = Cells(bench, "a", "b");
        await bench.RunAllAsync([cells[0]]);

        IReadOnlyList<CellOutcome> outcomes = await bench.RunAllAsync(cells, questionOnly: true);

        CollectionAssert.AreEqual(new[] { "a UpToDate", "b Failed" }, States(outcomes));
        Assert.AreEqual("MLXB2008", outcomes[1].Failure!.Code);
        StringAssert.Contains(outcomes[1].Failure!.Message, cells[1].Fingerprint[..16]);
        CollectionAssert.AreEqual(new[] { "a" }, Runs(bench));
    }

    [TestMethod]
    public async Task ChangedSuite_RerunsOnlyItsCells()
    {
        using var bench = new BenchProject();
        string fixture = BenchProject.Quote(SharedData.Fixture("upstream", "lm_eval_results_sample.json"));
        string runs = BenchProject.Quote(bench.Combine("runs.txt"));
        string command = $"echo \"$MLXBENCH_SUITE\" >> {runs}; cp {fixture} \"$MLXBENCH_OUTPUT\"";
        IReadOnlyList<BenchCell> Plan(string limit) => bench.Plan([Item("a")],
        [
            Item("reasoning", ("Harness", "command"), ("Converter", "lm-eval"), ("Command", command), ("Limit", limit)),
            Item("knowledge", ("Harness", "command"), ("Converter", "lm-eval"), ("Command", command)),
        ]);
        await bench.RunAllAsync(Plan("10"));

        IReadOnlyList<CellOutcome> outcomes = await bench.RunAllAsync(Plan("20"));

        CollectionAssert.AreEqual(new[] { "reasoning Ran", "knowledge UpToDate" }, outcomes.Select(o => $"{o.Cell.Suite.Name} {o.State}").ToArray());
        CollectionAssert.AreEqual(new[] { "reasoning", "knowledge", "reasoning" }, Runs(bench));
    }

    [TestMethod]
    public async Task Cancel_StopsTheRunningCell_AndRunsNoFurtherCell()
    {
        using var bench = new BenchProject();
        string fixture = BenchProject.Quote(SharedData.Fixture("upstream", "lm_eval_results_sample.json"));
        string started = bench.Combine("started");
        string command = $"echo \"$MLXBENCH_MODEL_NAME\" >> {BenchProject.Quote(bench.Combine("runs.txt"))}; cp {fixture} \"$MLXBENCH_OUTPUT\"; "
            + $"touch {BenchProject.Quote(started)}; sleep 300";
        IReadOnlyList<BenchCell> cells = bench.Plan([Item("a"), Item("b")], [Item("reasoning", ("Harness", "command"), ("Converter", "lm-eval"), ("Command", command))]);
        using var cancel = new CancellationTokenSource();

        Task<IReadOnlyList<CellOutcome>> running = bench.RunAllAsync(cells, cancellationToken: cancel.Token);
        SpinWait.SpinUntil(() => File.Exists(started), TimeSpan.FromSeconds(10));
        await cancel.CancelAsync();
        IReadOnlyList<CellOutcome> outcomes = await running.WaitAsync(TimeSpan.FromSeconds(15));

        CollectionAssert.AreEqual(new[] { "a Failed", "b Failed" }, States(outcomes));
        Assert.IsTrue(outcomes.All(o => o.Failure!.Code == "MLXB2005"), string.Join("\n", outcomes.Select(o => o.Failure?.Text)));
        CollectionAssert.AreEqual(new[] { "a" }, Runs(bench), "no cell starts after a cancel");
        Assert.IsTrue(outcomes.All(o => !File.Exists(o.EnvelopePath)));
    }
}
