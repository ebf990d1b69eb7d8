using System.Diagnostics;
using System.Text.Json.Nodes;
using MlxBench.Core.Cells;
using MlxBench.Core.Envelopes;
using MlxBench.Core.Running;
using MlxBench.Testing;
using static MlxBench.Core.Tests.Cells.CellPlannerTests;

namespace MlxBench.Core.Tests.Running;

/// <summary>One cell through the command harness, with real <c>/bin/sh</c> processes.</summary>
[TestClass]
public sealed class CellRunnerTests
{
    private static readonly TimeSpan s_killGrace = TimeSpan.FromSeconds(5);

    [TestInitialize]
    public void RequireShell()
    {
        if (!File.Exists("/bin/sh")) Assert.Inconclusive("the command harness tests need /bin/sh");
    }

    private static string CopyFixture(params string[] parts) => $"cp {BenchProject.Quote(SharedData.Fixture(parts))} \"$MLXBENCH_OUTPUT\"";

    [TestMethod]
    public async Task SuccessfulCommand_WritesAValidEnvelope_WithTheCellsProvenance()
    {
        using var bench = new BenchProject();
        BenchCell cell = bench.Plan(
            [Item("mlx-community/Qwen3.5-9B-MLX-4bit", ("Name", "qwen"), ("Revision", "a1b2c3d"), ("Quantization", "mlx-4bit"))],
            [Item("gsm8k-quick", ("Harness", "command"), ("Category", "reasoning"), ("Converter", "lm-eval"), ("Command", CopyFixture("upstream", "lm_eval_results_sample.json")))]).Single();

        CellOutcome outcome = await bench.RunAsync(cell);

        Assert.AreEqual(CellState.Ran, outcome.State, outcome.Failure?.Text);
        Assert.IsNull(outcome.Failure);
        CellPaths paths = bench.Store.PathsFor(cell);
        Assert.AreEqual(paths.Envelope, outcome.EnvelopePath);
        string json = await File.ReadAllTextAsync(paths.Envelope);
        Envelope envelope = EnvelopeJson.Parse(json);
        Assert.AreEqual("reasoning", envelope.Suite, "the v1 suite is the Category");
        Assert.AreEqual("mlx-community/Qwen3.5-9B-MLX-4bit", envelope.Model, "the envelope records the model id, not its local name");
        Assert.AreEqual("a1b2c3d", envelope.ModelRevision);
        Assert.AreEqual("mlx-4bit", envelope.Quantization);
        Assert.AreEqual("abc1234", envelope.GitSha);
        Assert.AreEqual("2026-05-04T09:00:00Z", envelope.Timestamp, "when the cell started, not lm-eval's date");
        Assert.AreEqual(bench.Settings.System.Os, envelope.System.Os);
        Assert.AreEqual(bench.Settings.System.MemoryGb, envelope.System.MemoryGb);
        BenchmarkResult result = envelope.Results[0];
        CollectionAssert.AreEqual(
            new[] { "lm_eval_key", "bench_suite", "bench_model", "harness", "fingerprint", "mlxbench_version", "dotnet_version", "total_eval_time_s", "n_limit", "max_gen_toks", "stderr" },
            result.Tags!.Keys.ToArray());
        Assert.AreEqual("gsm8k-quick", result.Tags["bench_suite"]);
        Assert.AreEqual("qwen", result.Tags["bench_model"]);
        Assert.AreEqual(cell.Fingerprint[..16], result.Tags["fingerprint"]);
        Contracts.AssertValidUnderBoth(json, "the envelope a cell wrote");
        Assert.IsTrue(File.Exists(paths.CellDocument));
        Assert.AreEqual(cell.Fingerprint, BenchCellJson.Deserialize(await File.ReadAllTextAsync(paths.CellDocument)).Fingerprint);
        Assert.IsTrue(File.Exists(Path.Combine(paths.RawDirectory, "result.json")), "the raw result is kept beside the envelope");
        Assert.IsTrue(bench.Store.IsUpToDate(cell));
    }

    [TestMethod]
    [DataRow("vllm", "upstream", "vllm_benchmark_serving_sample.json", "throughput")]
    [DataRow("vllm", "serving", "er0080_vllm-benchmarking__bench_serve_v0.25.1.json", "throughput")]
    [DataRow("framework-eval", "upstream", "framework_eval_sample.json", "framework-eval")]
    [DataRow("lm-eval", "lm-eval", "trustification__EvalGuard__results_winogender_lmeval0.4.9.json", "knowledge")]
    [DataRow("envelope", "upstream", "envelope.valid.json", "reasoning")]
    public async Task EveryConverter_ThroughTheCellRunner_GivesAnEnvelopeUpstream061Accepts(string converter, string folder, string file, string suite)
    {
        using var bench = new BenchProject();
        BenchCell cell = bench.Cell(CopyFixture(folder, file), converter, suite);

        CellOutcome outcome = await bench.RunAsync(cell);

        Assert.AreEqual(CellState.Ran, outcome.State, outcome.Failure?.Text);
        Contracts.AssertValidUnderBoth(await File.ReadAllTextAsync(outcome.EnvelopePath), $"{converter} on {file} through the cell runner");
    }

    [TestMethod]
    public async Task CommandOutput_GoesToTheCellLog_AndToProgress()
    {
        using var bench = new BenchProject();
        BenchCell cell = bench.Cell("echo 'step one'; echo 'warning on stderr' >&2; " + CopyFixture("upstream", "lm_eval_results_sample.json"));

        await bench.RunAsync(cell);

        string log = await File.ReadAllTextAsync(bench.Store.PathsFor(cell).Log);
        StringAssert.StartsWith(log, $"# {cell.Id}: echo 'step one'");
        StringAssert.Contains(log, "step one\n");
        StringAssert.Contains(log, "warning on stderr\n");
        CollectionAssert.IsSubsetOf(new[] { "step one", "warning on stderr" }, bench.Progress.Lines.ToArray());
    }

    [TestMethod]
    public async Task APipeIntoHead_EndsItsProducerQuietly_AsInATerminal()
    {
        // .NET ignores SIGPIPE and its children inherit that: without the reset, `yes` would fill the log with
        // "Broken pipe" errors (and a Python producer with a BrokenPipeError traceback) once head has its line.
        using var bench = new BenchProject();
        BenchCell cell = bench.Cell("yes | head -n 1; " + CopyFixture("upstream", "lm_eval_results_sample.json"));

        CellOutcome outcome = await bench.RunAsync(cell);

        Assert.AreEqual(CellState.Ran, outcome.State, outcome.Failure?.Text);
        string log = await File.ReadAllTextAsync(bench.Store.PathsFor(cell).Log);
        StringAssert.Contains(log, "\ny\n");
        Assert.IsFalse(log.Contains("Broken pipe", StringComparison.OrdinalIgnoreCase), log);
    }

    [TestMethod]
    public async Task AnMlxModelFolder_GivesTheEnvelopeItsQuantization_UnlessTheModelDeclaresOne()
    {
        using var bench = new BenchProject();
        bench.Write("models/tiny-8bit/config.json", "{\"quantization\": {\"group_size\": 64, \"bits\": 8}}");
        string command = CopyFixture("upstream", "lm_eval_results_sample.json");
        BenchCell[] cells = bench.Plan(
            [Item("mlx-community/tiny-8bit", ("File", "models/tiny-8bit")), Item("mlx-community/tiny-8bit", ("Name", "declared"), ("File", "models/tiny-8bit"), ("Quantization", "q8"))],
            [Item("reasoning", ("Harness", "command"), ("Converter", "lm-eval"), ("Command", command))], []).ToArray();

        CellOutcome fromConfig = await bench.RunAsync(cells[0]);
        CellOutcome declared = await bench.RunAsync(cells[1]);

        StringAssert.Contains(await File.ReadAllTextAsync(fromConfig.EnvelopePath), "\"quantization\": \"mlx-8bit\"");
        StringAssert.Contains(await File.ReadAllTextAsync(declared.EnvelopePath), "\"quantization\": \"q8\"");
    }

    [TestMethod]
    public async Task AModelServedFromItsWholeRepository_TakesItsQuantizationFromTheCachedSnapshot()
    {
        using var bench = new BenchProject();
        const string commit = "89abcdef0123456789abcdef0123456789abcdef";
        bench.Write($"hub/models--mlx-community--tiny-4bit/snapshots/{commit}/config.json", "{\"quantization\": {\"group_size\": 64, \"bits\": 4}}");
        bench.Write("hub/models--mlx-community--tiny-4bit/refs/main", commit);
        bench.Settings = bench.Settings with { HfCache = new MlxBench.Core.Endpoints.HfModelCache(n => n == "HF_HUB_CACHE" ? bench.Combine("hub") : null) };
        BenchCell cell = bench.Plan([Item("mlx-community/tiny-4bit")],
            [Item("reasoning", ("Harness", "command"), ("Converter", "lm-eval"), ("Command", CopyFixture("upstream", "lm_eval_results_sample.json")))]).Single();

        CellOutcome outcome = await bench.RunAsync(cell);

        StringAssert.Contains(await File.ReadAllTextAsync(outcome.EnvelopePath), "\"quantization\": \"mlx-4bit\"");
    }

    [TestMethod]
    public async Task FailingHarness_ThatExplainsItselfWithACode_IsReportedInItsOwnWords()
    {
        using var bench = new BenchProject();
        BenchCell cell = bench.Cell("echo 'loading tasks'; echo 'MLXB7003: BenchSuite \"reasoning\" names task \"nope\", which is not a task.' >&2; exit 1");

        CellOutcome outcome = await bench.RunAsync(cell);

        Assert.AreEqual("MLXB2013", outcome.Failure!.Code);
        StringAssert.Contains(outcome.Failure.Message, "MLXB7003: BenchSuite \"reasoning\" names task \"nope\"");
        StringAssert.Contains(outcome.Failure.Message, bench.Store.PathsFor(cell).Log);
    }

    [TestMethod]
    public async Task FailingCommand_IsMLXB2001_WithItsExitCodeAndLog_AndNoEnvelope()
    {
        using var bench = new BenchProject();
        BenchCell cell = bench.Cell(CopyFixture("upstream", "lm_eval_results_sample.json") + "; echo 'model not found' >&2; exit 3");

        CellOutcome outcome = await bench.RunAsync(cell);

        Assert.AreEqual(CellState.Failed, outcome.State);
        Assert.AreEqual("MLXB2001", outcome.Failure!.Code);
        StringAssert.Contains(outcome.Failure.Message, "exited with code 3");
        StringAssert.Contains(outcome.Failure.Message, bench.Store.PathsFor(cell).Log);
        StringAssert.Contains(await File.ReadAllTextAsync(bench.Store.PathsFor(cell).Log), "model not found");
        Assert.IsFalse(File.Exists(outcome.EnvelopePath), "a failed cell records nothing, even when it wrote a result");
        Assert.IsFalse(bench.Store.IsUpToDate(cell));
    }

    [TestMethod]
    public async Task CommandThatWritesNoResult_IsMLXB2002_NamingTheExpectedPath()
    {
        using var bench = new BenchProject();
        BenchCell cell = bench.Cell("echo done");

        CellOutcome outcome = await bench.RunAsync(cell);

        Assert.AreEqual("MLXB2002", outcome.Failure!.Code);
        StringAssert.Contains(outcome.Failure.Message, Path.Combine(bench.Store.PathsFor(cell).RawDirectory, "result.json"));
        StringAssert.Contains(outcome.Failure.Message, "MLXBENCH_OUTPUT");
        Assert.IsFalse(File.Exists(outcome.EnvelopePath));
    }

    [TestMethod]
    public async Task UnconvertibleResult_IsMLXB2003_NamingTheConverterAndFile()
    {
        using var bench = new BenchProject();
        BenchCell cell = bench.Cell(CopyFixture("serving", "ray-project_llmperf-leaderboard__raw_data_summary_anyscale_70b.json"), "vllm", "throughput");

        CellOutcome outcome = await bench.RunAsync(cell);

        Assert.AreEqual("MLXB2003", outcome.Failure!.Code);
        StringAssert.Contains(outcome.Failure.Message, "the vllm converter could not read");
        StringAssert.Contains(outcome.Failure.Message, Path.Combine(bench.Store.PathsFor(cell).RawDirectory, "result.json"));
        StringAssert.Contains(outcome.Failure.Message, "not a vllm bench serve");
        Assert.IsFalse(File.Exists(outcome.EnvelopePath));
    }

    [TestMethod]
    public async Task InvalidEnvelope_IsMLXB2004_ListingTheErrors_AndKeepsTheRawFile()
    {
        using var bench = new BenchProject();
        string broken = bench.Write("broken.json", SharedData.ReadFixture("upstream", "envelope.valid.json").Replace("\"trigger\": \"local\"", "\"trigger\": \"nightly\""));
        BenchCell cell = bench.Cell($"cp {BenchProject.Quote(broken)} \"$MLXBENCH_OUTPUT\"", "envelope");

        CellOutcome outcome = await bench.RunAsync(cell);

        Assert.AreEqual("MLXB2004", outcome.Failure!.Code);
        StringAssert.Contains(outcome.Failure.Message, "(1 error(s))");
        StringAssert.Contains(outcome.Failure.Message, "$.trigger");
        string raw = Path.Combine(bench.Store.PathsFor(cell).RawDirectory, "result.json");
        StringAssert.Contains(outcome.Failure.Message, raw);
        Assert.AreEqual(await File.ReadAllTextAsync(broken), await File.ReadAllTextAsync(raw));
        Assert.IsFalse(File.Exists(outcome.EnvelopePath));
    }

    [TestMethod]
    public async Task EmptyResults_AreAWarning_NotAFailure()
    {
        using var bench = new BenchProject();
        BenchCell cell = bench.Cell("echo '{\"results\": {}}' > \"$MLXBENCH_OUTPUT\"");

        CellOutcome outcome = await bench.RunAsync(cell);

        Assert.AreEqual(CellState.Ran, outcome.State, outcome.Failure?.Text);
        Assert.AreEqual("MLXB2102", bench.Progress.Reported.Single().Code);
    }

    [TestMethod]
    public async Task Timeout_IsMLXB2006_AndKillsTheWholeProcessTree()
    {
        using var bench = new BenchProject();
        BenchCell cell = bench.Cell("sleep 300 & echo $! > \"$MLXBENCH_CELL_DIR/child.pid\"; wait", metadata: ("Timeout", "2"));
        var clock = Stopwatch.StartNew();

        CellOutcome outcome = await bench.RunAsync(cell);

        Assert.AreEqual("MLXB2006", outcome.Failure!.Code);
        StringAssert.Contains(outcome.Failure.Message, "within 2 s");
        StringAssert.Contains(outcome.Failure.Message, "Raise Timeout=");
        Assert.IsTrue(clock.Elapsed < TimeSpan.FromSeconds(15), $"took {clock.Elapsed}");
        int child = Processes.ReadPid(Path.Combine(bench.Store.PathsFor(cell).Directory, "child.pid"), s_killGrace);
        Assert.IsTrue(Processes.IsGoneWithin(child, s_killGrace), $"the command's child {child} survived the timeout");
        Assert.IsFalse(File.Exists(outcome.EnvelopePath));
    }

    [TestMethod]
    public async Task Cancellation_IsMLXB2005_KillsTheProcessTree_AndRecordsNothing()
    {
        using var bench = new BenchProject();
        BenchCell cell = bench.Cell(CopyFixture("upstream", "lm_eval_results_sample.json") + "; sleep 300 & echo $! > \"$MLXBENCH_CELL_DIR/child.pid\"; wait");
        string pidFile = Path.Combine(bench.Store.PathsFor(cell).Directory, "child.pid");
        using var cancel = new CancellationTokenSource();

        Task<CellOutcome> running = bench.RunAsync(cell, cancel.Token);
        int child = Processes.ReadPid(pidFile, TimeSpan.FromSeconds(10));
        await cancel.CancelAsync();
        CellOutcome outcome = await running.WaitAsync(TimeSpan.FromSeconds(15));

        Assert.AreEqual(CellState.Failed, outcome.State);
        Assert.AreEqual("MLXB2005", outcome.Failure!.Code);
        StringAssert.Contains(outcome.Failure.Message, "will run again next time");
        Assert.IsTrue(Processes.IsGoneWithin(child, s_killGrace), $"the command's child {child} survived the cancel");
        Assert.IsFalse(File.Exists(outcome.EnvelopePath));
        Assert.IsFalse(bench.Store.IsUpToDate(cell));
    }

    [TestMethod]
    public async Task CancellationBeforeTheCommandStarts_IsMLXB2005_AndTheCommandNeverRuns()
    {
        using var bench = new BenchProject();
        BenchCell cell = bench.Cell("touch \"$MLXBENCH_CELL_DIR/started\"; " + CopyFixture("upstream", "lm_eval_results_sample.json"));
        using var cancel = new CancellationTokenSource();
        await cancel.CancelAsync();

        CellOutcome outcome = await bench.RunAsync(cell, cancel.Token).WaitAsync(TimeSpan.FromSeconds(15));

        Assert.AreEqual("MLXB2005", outcome.Failure?.Code);
        Assert.IsFalse(File.Exists(Path.Combine(bench.Store.PathsFor(cell).Directory, "started")), "the command ran after the cancel");
        Assert.IsFalse(File.Exists(outcome.EnvelopePath));
    }

    [TestMethod]
    public async Task CommandLeavingABackgroundProcess_FinishesWhenTheCommandDoes()
    {
        // A command that starts a helper in the background and exits must not hold the cell until the helper ends.
        using var bench = new BenchProject();
        BenchCell cell = bench.Cell("sleep 300 & echo $! > \"$MLXBENCH_CELL_DIR/child.pid\"; " + CopyFixture("upstream", "lm_eval_results_sample.json"), metadata: ("Timeout", "60"));
        var clock = Stopwatch.StartNew();

        CellOutcome outcome = await bench.RunAsync(cell).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.AreEqual(CellState.Ran, outcome.State, outcome.Failure?.Text);
        Assert.IsTrue(clock.Elapsed < TimeSpan.FromSeconds(15), $"took {clock.Elapsed}");
        int child = Processes.ReadPid(Path.Combine(bench.Store.PathsFor(cell).Directory, "child.pid"), s_killGrace);
        Assert.IsTrue(Processes.IsGoneWithin(child, s_killGrace), $"the command's background child {child} outlived the cell");
    }

    // The variables a cell sets (README, "command" harness). Others named MLXBENCH_* may come from the build's own
    // environment (a developer's MLXBENCH_SHARED, say) and pass through untouched.
    private const string DocumentedVariables = "^MLXBENCH_(BASE_URL|CELL_DIR|MODEL|MODEL_FILE|MODEL_NAME|MODEL_REVISION|OUTPUT|RUN_ID|SUITE)=";

    [TestMethod]
    public async Task Environment_IsTheDocumentedMlxBenchVariables()
    {
        using var bench = new BenchProject();
        bench.Write("models/tiny.gguf", "GGUF");
        string command = $"env | grep -E '{DocumentedVariables}' | sort > \"$MLXBENCH_CELL_DIR/env.txt\"; pwd > \"$MLXBENCH_CELL_DIR/pwd.txt\"; "
            + CopyFixture("upstream", "lm_eval_results_sample.json");
        BenchCell cell = bench.Plan(
            [Item("ggml-org/models", ("Name", "tiny"), ("File", "models/tiny.gguf"), ("Revision", "r1"), ("Endpoint", "engine"))],
            [Item("gsm8k-quick", ("Harness", "command"), ("Category", "reasoning"), ("Converter", "lm-eval"), ("Command", command))],
            [Item("engine", ("BaseUrl", "http://127.0.0.1:8080/v1"))]).Single();

        CellOutcome outcome = await bench.RunAsync(cell);

        Assert.AreEqual(CellState.Ran, outcome.State, outcome.Failure?.Text);
        CellPaths paths = bench.Store.PathsFor(cell);
        string[] expected =
        [
            "MLXBENCH_BASE_URL=http://127.0.0.1:8080/v1",
            "MLXBENCH_CELL_DIR=" + paths.Directory,
            "MLXBENCH_MODEL=ggml-org/models",
            "MLXBENCH_MODEL_FILE=" + bench.Combine("models", "tiny.gguf"),
            "MLXBENCH_MODEL_NAME=tiny",
            "MLXBENCH_MODEL_REVISION=r1",
            "MLXBENCH_OUTPUT=" + Path.Combine(paths.RawDirectory, "result.json"),
            "MLXBENCH_SUITE=gsm8k-quick",
        ];
        string[] seen = await File.ReadAllLinesAsync(Path.Combine(paths.Directory, "env.txt"));
        CollectionAssert.AreEqual(expected, seen.Where(l => !l.StartsWith("MLXBENCH_RUN_ID=", StringComparison.Ordinal)).ToArray());
        StringAssert.Matches(seen.Single(l => l.StartsWith("MLXBENCH_RUN_ID=", StringComparison.Ordinal)), new System.Text.RegularExpressions.Regex("^MLXBENCH_RUN_ID=[0-9a-f]{32}$"));
        Assert.AreEqual(bench.Directory, (await File.ReadAllTextAsync(Path.Combine(paths.Directory, "pwd.txt"))).Trim(), "commands run in the project folder");
    }

    [TestMethod]
    public async Task Environment_LeavesOutWhatTheCellDoesNotHave()
    {
        using var bench = new BenchProject();
        BenchCell cell = bench.Cell($"env | grep -E '{DocumentedVariables}' | cut -d= -f1 | sort > \"$MLXBENCH_CELL_DIR/env.txt\"; " + CopyFixture("upstream", "lm_eval_results_sample.json"));

        await bench.RunAsync(cell);

        CollectionAssert.AreEqual(
            new[] { "MLXBENCH_CELL_DIR", "MLXBENCH_MODEL", "MLXBENCH_MODEL_NAME", "MLXBENCH_OUTPUT", "MLXBENCH_RUN_ID", "MLXBENCH_SUITE" },
            await File.ReadAllLinesAsync(Path.Combine(bench.Store.PathsFor(cell).Directory, "env.txt")));
    }

    [TestMethod]
    public async Task RerunThatFails_RemovesTheOldEnvelope()
    {
        using var bench = new BenchProject();
        string marker = bench.Combine("fail-now");
        BenchCell cell = bench.Cell($"[ -e {BenchProject.Quote(marker)} ] && exit 1; " + CopyFixture("upstream", "lm_eval_results_sample.json"));
        Assert.AreEqual(CellState.Ran, (await bench.RunAsync(cell)).State);

        File.WriteAllText(marker, "");
        CellOutcome second = await bench.RunAsync(cell);

        Assert.AreEqual("MLXB2001", second.Failure!.Code);
        Assert.IsFalse(File.Exists(second.EnvelopePath), "a stale envelope would make the failed cell look up to date");
    }

    [TestMethod]
    public async Task HarnessNotAvailable_IsMLXB2012()
    {
        using var bench = new BenchProject();
        bench.Harnesses.Clear();
        BenchCell cell = bench.Cell("true");

        CellOutcome outcome = await bench.RunAsync(cell);

        Assert.AreEqual("MLXB2012", outcome.Failure!.Code);
        StringAssert.Contains(outcome.Failure.Message, "MlxBenchCliPath");
    }

    /// <summary>A harness that reports a converter no one registered, as a built-in harness with a typo would.</summary>
    private sealed class UnknownConverterHarness : ICellHarness
    {
        public Task<HarnessOutput> RunAsync(BenchCell cell, HarnessContext context, CancellationToken cancellationToken)
        {
            string raw = Path.Combine(context.Paths.RawDirectory, "result.json");
            File.WriteAllText(raw, "{}");
            return Task.FromResult(new HarnessOutput(raw, "lighteval"));
        }
    }

    [TestMethod]
    public async Task HarnessNamingAnUnknownConverter_IsMLXB2003_ListingTheKnownOnes()
    {
        using var bench = new BenchProject();
        bench.Harnesses["command"] = new UnknownConverterHarness();

        CellOutcome outcome = await bench.RunAsync(bench.Cell("true"));

        Assert.AreEqual("MLXB2003", outcome.Failure!.Code);
        StringAssert.Contains(outcome.Failure.Message, "the lighteval converter");
        StringAssert.Contains(outcome.Failure.Message, "known: lm-eval, vllm, framework-eval, envelope");
    }
}
