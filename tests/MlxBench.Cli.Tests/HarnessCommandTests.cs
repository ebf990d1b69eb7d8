using MlxBench.Testing;

namespace MlxBench.Cli.Tests;

/// <summary>The harness commands users run without MSBuild reject bad settings before touching the network.</summary>
[TestClass]
public sealed class HarnessCommandTests
{
    [TestMethod]
    [DataRow("bench-serve", "--base-url", "http://127.0.0.1:9/v1", "--model", "m", "--set", "Concurrency")]
    [DataRow("eval", "--base-url", "http://127.0.0.1:9/v1", "--model", "m", "--tasks", "arc_easy", "--output", "out", "--set", "=4")]
    public void AMalformedSetting_ExitsTwo_SayingWhatIsExpected(params string[] arguments)
    {
        using var temp = new TempDirectory();

        CliResult result = Mlxbench.Run(temp.Path, arguments);

        Assert.AreEqual(2, result.ExitCode, result.Stdout + result.Stderr);
        StringAssert.Contains(result.Stderr, "is not Key=Value (for example --set Concurrency=1;4;16)");
    }

    [TestMethod]
    public void Report_OfAMissingDataset_IsACodedError()
    {
        using var temp = new TempDirectory();

        CliResult result = Mlxbench.Run(temp.Path, "report", "--dataset", temp.Combine("no-dataset"), "--output", temp.Combine("page.html"));

        Assert.AreNotEqual(0, result.ExitCode);
        StringAssert.Matches(result.Stderr, new System.Text.RegularExpressions.Regex(@"MLXB8\d{3}"));
        Assert.IsFalse(File.Exists(temp.Combine("page.html")));
    }

    [TestMethod]
    public void Help_ListsEveryCommand()
    {
        CliResult result = Mlxbench.Run(SharedData.RepoRoot, "--help");

        Assert.AreEqual(0, result.ExitCode);
        foreach (string command in (string[])["validate", "run-cell", "bench-serve", "eval", "report"]) StringAssert.Contains(result.Stdout, command);
    }
}
