using Microsoft.Build.Framework;

namespace MlxBench.Tasks.Tests;

/// <summary>The Bench target as users drive it: which cells run, which are reused, what a failure does.</summary>
[TestClass]
public sealed class BenchTargetTests
{
    /// <summary>A command that records that it ran (one line per cell in runs.log) and writes a small vLLM result.</summary>
    private static string Recorder(string tag) =>
        $"echo \"{tag} $MLXBENCH_SUITE $MLXBENCH_MODEL\" >> runs.log && " +
        "printf '{\"duration\": 1.5, \"completed\": 3, \"total_input_tokens\": 30, \"total_output_tokens\": 60, \"request_throughput\": 2.0, \"output_throughput\": 40.0, \"median_ttft_ms\": 12.5}' > \"$MLXBENCH_OUTPUT\"";

    private static string Matrix(string throughputCommand, string ttftCommand) => $"""
        <BenchModel Include="org/alpha" />
        <BenchModel Include="org/beta" />
        <BenchModel Include="org/gamma" />
        <BenchSuite Include="throughput" Harness="command" Converter="vllm" Command="{BenchProject.Attribute(throughputCommand)}" />
        <BenchSuite Include="ttft" Harness="command" Converter="vllm" Command="{BenchProject.Attribute(ttftCommand)}" />
        """;

    private static int Runs(BenchProject project)
    {
        string log = Path.Combine(project.Directory, "runs.log");
        int count = File.Exists(log) ? File.ReadAllLines(log).Length : 0;
        File.Delete(log);
        return count;
    }

    private static string[] States(BuildOutcome outcome) =>
        outcome["Bench"].Select(i => $"{i.GetMetadata("Suite")}/{i.GetMetadata("Model")}={i.GetMetadata("State")}").Order().ToArray();

    [TestMethod]
    public void SecondBench_RunsNothing_AndChangingOneSuite_RerunsExactlyItsCells()
    {
        using var project = new BenchProject(Matrix(Recorder("v1"), Recorder("v1")));

        BuildOutcome first = project.Build("Bench");
        Assert.IsTrue(first.Succeeded, first.Log);
        Assert.AreEqual(6, Runs(project));
        Assert.AreEqual(6, first["Bench"].Count(i => i.GetMetadata("State") == "Ran"), string.Join(", ", States(first)));
        foreach (ITaskItem result in first["Bench"])
        {
            Assert.IsTrue(File.Exists(result.ItemSpec), $"{result.ItemSpec} should be the envelope");
            StringAssert.Matches(result.GetMetadata("Fingerprint"), new System.Text.RegularExpressions.Regex("^[0-9a-f]{64}$"));
            Assert.AreEqual("command", result.GetMetadata("Harness"));
        }

        BuildOutcome second = project.Build("Bench");
        Assert.IsTrue(second.Succeeded, second.Log);
        Assert.AreEqual(0, Runs(project));
        CollectionAssert.AreEqual(first["Bench"].Select(i => i.ItemSpec).Order().ToArray(), second["Bench"].Select(i => i.ItemSpec).Order().ToArray());
        Assert.IsTrue(second["Bench"].All(i => i.GetMetadata("State") == "UpToDate"), string.Join(", ", States(second)));

        project.Write(Matrix(Recorder("v2"), Recorder("v1")));
        BuildOutcome third = project.Build("Bench");
        Assert.IsTrue(third.Succeeded, third.Log);
        Assert.AreEqual(3, Runs(project));
        CollectionAssert.AreEqual(
            new[] { "throughput/org/alpha=Ran", "throughput/org/beta=Ran", "throughput/org/gamma=Ran", "ttft/org/alpha=UpToDate", "ttft/org/beta=UpToDate", "ttft/org/gamma=UpToDate" },
            States(third));
    }

    [TestMethod]
    public void FailingCommand_FailsOnlyItsCell_WithACodedErrorNamingIt_AndRerunsNextTime()
    {
        string failing = "if [ \"$MLXBENCH_MODEL\" = org/beta ]; then echo boom; exit 1; fi; " + Recorder("v1");
        using var project = new BenchProject(Matrix(failing, Recorder("v1")));

        BuildOutcome first = project.Build("Bench");

        Assert.IsFalse(first.Succeeded);
        Assert.AreEqual(5, Runs(project));
        BuildErrorEventArgs error = first.Errors.Single();
        Assert.AreEqual("MLXB2001", error.Code);
        StringAssert.Contains(error.Message, "throughput/org/beta");
        StringAssert.Contains(error.Message, "exited with code 1");
        ITaskItem failed = first["Bench"].Single(i => i.GetMetadata("State") == "Failed");
        Assert.AreEqual("org/beta", failed.GetMetadata("Model"));
        Assert.IsFalse(File.Exists(failed.ItemSpec), "a failed cell leaves no envelope");
        StringAssert.Contains(File.ReadAllText(Path.Combine(Path.GetDirectoryName(failed.ItemSpec)!, "cell.log")), "boom");

        BuildOutcome second = project.Build("Bench");
        Assert.IsFalse(second.Succeeded);
        Assert.AreEqual(0, Runs(project), "the failing cell ran again but records nothing; the others were up to date");
        Assert.AreEqual(5, second["Bench"].Count(i => i.GetMetadata("State") == "UpToDate"));
        Assert.AreEqual("Failed", second["Bench"].Single(i => i.GetMetadata("Model") == "org/beta" && i.GetMetadata("Suite") == "throughput").GetMetadata("State"));
    }

    [TestMethod]
    public void BenchForce_RerunsEveryCell()
    {
        using var project = new BenchProject(Matrix(Recorder("v1"), Recorder("v1")));
        Assert.IsTrue(project.Build("Bench").Succeeded);
        Runs(project);

        BuildOutcome forced = project.Build("Bench", new Dictionary<string, string> { ["BenchForce"] = "true" });

        Assert.IsTrue(forced.Succeeded, forced.Log);
        Assert.AreEqual(6, Runs(project));
        Assert.IsTrue(forced["Bench"].All(i => i.GetMetadata("State") == "Ran"));
    }

    [TestMethod]
    public void BenchFilter_NarrowsTheCells()
    {
        using var project = new BenchProject(Matrix(Recorder("v1"), Recorder("v1")));

        BuildOutcome outcome = project.Build("Bench", new Dictionary<string, string> { ["BenchFilter"] = "ttft/org/a*;org/gamma" });

        Assert.IsTrue(outcome.Succeeded, outcome.Log);
        CollectionAssert.AreEqual(new[] { "throughput/org/gamma=Ran", "ttft/org/alpha=Ran", "ttft/org/gamma=Ran" }, States(outcome));
    }

    [TestMethod]
    public void CancelledBench_LeavesNoEnvelope_AndTheCellRunsAgain()
    {
        string slow = "touch started; sleep 60; " + Recorder("v1");
        using var project = new BenchProject($"""
            <BenchModel Include="org/alpha" />
            <BenchSuite Include="throughput" Harness="command" Converter="vllm" Command="{BenchProject.Attribute(slow)}" />
            """);

        BuildOutcome cancelled = project.Build("Bench", whileRunning: submission =>
        {
            string marker = Path.Combine(project.Directory, "started");
            var clock = System.Diagnostics.Stopwatch.StartNew();
            while (!File.Exists(marker) && clock.Elapsed < TimeSpan.FromSeconds(30)) Thread.Sleep(50);
            Microsoft.Build.Execution.BuildManager.DefaultBuildManager.CancelAllSubmissions();
        });

        Assert.IsFalse(cancelled.Succeeded);
        StringAssert.Contains(cancelled.Log, "MLXB2005");
        string[] envelopes = Directory.GetFiles(Path.Combine(project.Directory, "obj"), "envelope.json", SearchOption.AllDirectories);
        Assert.AreEqual(0, envelopes.Length, "a cancelled cell records nothing");

        project.Write($"""
            <BenchModel Include="org/alpha" />
            <BenchSuite Include="throughput" Harness="command" Converter="vllm" Command="{BenchProject.Attribute(slow.Replace("sleep 60; ", ""))}" />
            """);
        // The command changed, so this is a new cell anyway; the point is the old one was not recorded as done.
        BuildOutcome rerun = project.Build("Bench");
        Assert.IsTrue(rerun.Succeeded, rerun.Log);
        Assert.AreEqual(1, Runs(project));
    }

    [TestMethod]
    public void BenchClean_ForgetsEveryCell()
    {
        using var project = new BenchProject(Matrix(Recorder("v1"), Recorder("v1")));
        Assert.IsTrue(project.Build("Bench").Succeeded);
        Runs(project);

        Assert.IsTrue(project.Build("BenchClean").Succeeded);
        BuildOutcome after = project.Build("Bench");

        Assert.AreEqual(6, Runs(project));
        Assert.IsTrue(after["Bench"].All(i => i.GetMetadata("State") == "Ran"));
    }

    [TestMethod]
    public void Bench_WritesARunSummary_AndAppendsItToTheGitHubJobSummary()
    {
        using var project = new BenchProject(Matrix(Recorder("v1"), "exit 3"));
        string jobSummary = Path.Combine(project.Directory, "job-summary.md");
        Environment.SetEnvironmentVariable("GITHUB_STEP_SUMMARY", jobSummary);
        BuildOutcome outcome;
        try { outcome = project.Build("Bench"); }
        finally { Environment.SetEnvironmentVariable("GITHUB_STEP_SUMMARY", null); }

        string summary = File.ReadAllText(Path.Combine(project.Directory, "obj", "bench", "summary.md"));
        StringAssert.Contains(summary, "6 cell(s), 3 ran, 0 up to date, 3 failed");
        StringAssert.Contains(summary, "| `throughput/org/alpha` | ran |");
        StringAssert.Contains(summary, "benchmark_serving throughput_output_toks_per_s=40 tok/s");
        StringAssert.Contains(summary, "| `ttft/org/beta` | failed |");
        StringAssert.Contains(summary, "MLXB2001");
        Assert.AreEqual(summary + "\n", File.ReadAllText(jobSummary));
        Assert.IsTrue(outcome.Messages.Any(m => m.Contains("throughput/org/gamma", StringComparison.Ordinal) && m.Contains("ran", StringComparison.Ordinal)));
    }

    [TestMethod]
    public void ThreeShards_RunExactlyTheCellsOfAnUnshardedRun_WithoutOverlap()
    {
        string items = string.Concat(Enumerable.Range(1, 4).Select(i => $"<BenchModel Include=\"org/m{i}\" />"))
            + string.Concat(new[] { "throughput", "ttft", "coding" }.Select(s => $"<BenchSuite Include=\"{s}\" Harness=\"command\" Converter=\"vllm\" Command=\"{BenchProject.Attribute(Recorder("v1"))}\" />"));
        using var whole = new BenchProject(items);
        string[] unsharded = States(whole.Build("Bench"));

        using var sharded = new BenchProject(items);
        var seen = new List<string>();
        foreach (string shard in new[] { "0/3", "1/3", "2/3" })
        {
            BuildOutcome outcome = sharded.Build("Bench;Publish", new Dictionary<string, string> { ["BenchShard"] = shard });
            Assert.IsTrue(outcome.Succeeded, outcome.Log);
            Assert.IsTrue(outcome["Bench"].All(i => i.GetMetadata("State") == "Ran"), "a shard runs only its own cells");
            seen.AddRange(States(outcome));
        }

        Assert.AreEqual(12, unsharded.Length);
        CollectionAssert.AreEqual(unsharded, seen.Order().ToArray());
        Assert.AreEqual(12, Directory.GetFiles(Path.Combine(sharded.Directory, "dataset", "data")).Length);
    }

    [TestMethod]
    public void ProgressLines_AreShownAtHighImportance_OtherOutputOnlyInTheDetail()
    {
        using var project = new BenchProject($"""
            <BenchModel Include="org/alpha" />
            <BenchSuite Include="throughput" Harness="command" Converter="vllm" Command="{BenchProject.Attribute("echo 'progress: 50/100 requests'; echo chatter; " + Recorder("v1"))}" />
            """);

        BuildOutcome outcome = project.Build("Bench");

        Assert.IsTrue(outcome.Succeeded, outcome.Log);
        CollectionAssert.Contains(outcome.Messages.ToArray(), "    throughput/org/alpha progress: 50/100 requests");
        Assert.IsFalse(outcome.Messages.Any(m => m.Contains("chatter", StringComparison.Ordinal)));
    }
}
