using System.Security;
using MlxBench.Core.Envelopes;
using MlxBench.Testing;

namespace MlxBench.Sdk.Tests;

/// <summary>The acceptance scenario, through the packed SDK: 3 models x 2 command suites.</summary>
[TestClass]
public sealed class CommandSuiteTests
{
    /// <summary>Records each run in runs.log and writes a real lm-eval results file (the upstream fixture) as the raw result.</summary>
    private static string Command(string version, string? failFor = null)
    {
        string fixture = SharedData.Fixture("upstream", "lm_eval_results_sample.json");
        string fail = failFor is null ? "" : $"if [ \"$MLXBENCH_MODEL\" = {failFor} ]; then echo 'no such model' >&2; exit 1; fi; ";
        return SecurityElement.Escape($"{fail}echo \"{version} $MLXBENCH_SUITE $MLXBENCH_MODEL\" >> runs.log && cp '{fixture}' \"$MLXBENCH_OUTPUT\"");
    }

    private static string Items(string reasoning, string coding) => $"""
        <BenchModel Include="mlx-community/Qwen3.5-9B-MLX-4bit" Quantization="mlx-4bit" />
        <BenchModel Include="org/beta" Revision="a1b2c3d" />
        <BenchModel Include="org/gamma" />
        <BenchSuite Include="reasoning" Harness="command" Converter="lm-eval" Command="{reasoning}" />
        <BenchSuite Include="coding" Harness="command" Converter="lm-eval" Command="{coding}" />
        """;

    private static int TakeRuns(UserProject project)
    {
        string log = Path.Combine(project.Directory, "runs.log");
        int count = File.Exists(log) ? File.ReadAllLines(log).Length : 0;
        File.Delete(log);
        return count;
    }

    [TestMethod]
    public void Bench_RunsEachCellOnce_ThenOnlyWhatChanged()
    {
        using var project = new UserProject(Items(Command("v1"), Command("v1")), "<BenchGitSha>aaa3ff3</BenchGitSha>");

        BuildRun first = project.Build("Bench", resultOf: "Bench");
        Assert.IsTrue(first.Succeeded, first.Output);
        Assert.AreEqual(6, TakeRuns(project));
        Assert.AreEqual(6, first.Items.Count(i => i["State"] == "Ran"), string.Join("\n", first.States));
        SchemaValidator upstream = SchemaValidator.FromJson(SharedData.ReadFixture("upstream", "schema.v0.6.1.json"));
        foreach (Dictionary<string, string> item in first.Items)
        {
            string envelope = File.ReadAllText(item["Identity"]);
            Assert.AreEqual(0, SchemaValidator.Default.Validate(envelope).Count);
            // No field added after 0.6.1 is used by a command suite's envelope, so upstream's own validator accepts it.
            IReadOnlyList<SchemaError> errors = upstream.Validate(envelope);
            Assert.AreEqual(0, errors.Count, string.Join("\n", errors));
            Assert.AreEqual("command", item["Harness"]);
            StringAssert.Matches(item["Fingerprint"], new System.Text.RegularExpressions.Regex("^[0-9a-f]{64}$"));
        }

        BuildRun second = project.Build("Bench", resultOf: "Bench");
        Assert.IsTrue(second.Succeeded, second.Output);
        Assert.AreEqual(0, TakeRuns(project));
        Assert.IsTrue(second.Items.All(i => i["State"] == "UpToDate"), string.Join("\n", second.States));

        project.Write(Items(Command("v1"), Command("v2")), "<BenchGitSha>aaa3ff3</BenchGitSha>");
        BuildRun third = project.Build("Bench", resultOf: "Bench");
        Assert.IsTrue(third.Succeeded, third.Output);
        Assert.AreEqual(3, TakeRuns(project));
        Assert.AreEqual(3, third.Items.Count(i => i["State"] == "Ran" && i["Suite"] == "coding"), string.Join("\n", third.States));
        Assert.AreEqual(3, third.Items.Count(i => i["State"] == "UpToDate" && i["Suite"] == "reasoning"), string.Join("\n", third.States));
    }

    [TestMethod]
    public void FailingCommand_FailsItsCellOnly_AndThatCellRunsAgainNextTime()
    {
        using var project = new UserProject(Items(Command("v1", failFor: "org/gamma"), Command("v1")), "<BenchGitSha>aaa3ff3</BenchGitSha>");

        BuildRun first = project.Build("Bench");
        Assert.IsFalse(first.Succeeded);
        Assert.AreEqual(5, TakeRuns(project));
        StringAssert.Contains(first.Output, "error MLXB2001: Cell reasoning/org/gamma failed: the command exited with code 1");

        // Nothing changed: the failed cell is attempted again (and fails again) while the five others stay up to date.
        BuildRun second = project.Build("Bench", resultOf: "Bench");
        Assert.AreEqual(0, TakeRuns(project));
        CollectionAssert.AreEqual(
            new[]
            {
                "coding/mlx-community/Qwen3.5-9B-MLX-4bit=UpToDate", "coding/org/beta=UpToDate", "coding/org/gamma=UpToDate",
                "reasoning/mlx-community/Qwen3.5-9B-MLX-4bit=UpToDate", "reasoning/org/beta=UpToDate", "reasoning/org/gamma=Failed",
            },
            second.States);
    }

    [TestMethod]
    public void MalformedItems_EachFailWithTheirOwnCode()
    {
        using var project = new UserProject("""
            <BenchEndpoint Include="studio" BaseUrl="http://127.0.0.1:11434/v1" />
            <BenchModel Include="org/alpha" Endpoint="engine" />
            <BenchSuite Include="reasoning" Command="true" />
            <BenchSuite Include="coding" Harness="command" Command="true" Converter="csv" />
            <BenchSuite Include="my-evals" Harness="command" Command="true" />
            """);

        BuildRun run = project.Build("Bench");

        Assert.IsFalse(run.Succeeded);
        StringAssert.Contains(run.Output, "error MLXB1001: BenchSuite \"reasoning\" has no Harness. Add Harness=");
        StringAssert.Contains(run.Output, "error MLXB1003: BenchSuite \"coding\" has Converter=\"csv\"");
        StringAssert.Contains(run.Output, "error MLXB1005: BenchModel \"org/alpha\" names Endpoint=\"engine\", but no BenchEndpoint has that name (defined: studio)");
        StringAssert.Contains(run.Output, "error MLXB1006: BenchSuite \"my-evals\" is not a v1 suite name");
    }
}
