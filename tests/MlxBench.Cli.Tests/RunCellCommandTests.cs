using MlxBench.Core.Cells;
using MlxBench.Testing;

namespace MlxBench.Cli.Tests;

/// <summary><c>mlxbench run-cell</c>, what the SDK launches for built-in harnesses: bad input is a coded error, exit 2.</summary>
[TestClass]
public sealed class RunCellCommandTests
{
    private static BenchCell Cell(string harness, IDictionary<string, string>? metadata = null) => new(
        new ModelSpec("org/m", "org/m", null, null, null, null, new SortedDictionary<string, string>(StringComparer.Ordinal)),
        new SuiteSpec("reasoning", "reasoning", harness, null, "lm-eval", null, [], new SortedDictionary<string, string>(metadata ?? new Dictionary<string, string>(), StringComparer.Ordinal)),
        null, new string('a', 64));

    [TestMethod]
    public void NotACellDocument_IsMLXB2010()
    {
        using var temp = new TempDirectory();
        string cell = temp.Write("cell.json", "{ not json");

        CliResult result = Mlxbench.Run(temp.Path, "run-cell", "--cell", cell, "--output", temp.Combine("raw.json"));

        Assert.AreEqual(2, result.ExitCode);
        StringAssert.Contains(result.Stderr, "MLXB2010");
        Assert.IsFalse(File.Exists(temp.Combine("raw.json")));
    }

    [TestMethod]
    public void AHarnessThatIsNotBuiltIn_IsMLXB2011_NamingTheBuiltInOnes()
    {
        using var temp = new TempDirectory();
        string cell = temp.Write("cell.json", BenchCellJson.Serialize(Cell("command")));

        CliResult result = Mlxbench.Run(temp.Path, "run-cell", "--cell", cell, "--output", temp.Combine("raw.json"));

        Assert.AreEqual(2, result.ExitCode);
        StringAssert.Contains(result.Stderr, "MLXB2011");
        foreach (string name in (string[])["serving", "eval", "lm-eval"]) StringAssert.Contains(result.Stderr, name);
    }

    [TestMethod]
    public void AHarnessThatFails_PrintsItsCodedErrorLast_AndWritesNoResult()
    {
        using var temp = new TempDirectory();
        // An eval cell with no endpoint: the harness refuses it with its own code before any request.
        string cell = temp.Write("cell.json", BenchCellJson.Serialize(Cell("eval", new Dictionary<string, string> { ["Tasks"] = "arc_easy" })));

        CliResult result = Mlxbench.Run(temp.Path, "run-cell", "--cell", cell, "--output", temp.Combine("raw.json"));

        Assert.AreEqual(1, result.ExitCode);
        StringAssert.StartsWith(result.Stderr.Trim().Split('\n').Last(), "MLXB7001");
        Assert.IsFalse(File.Exists(temp.Combine("raw.json")));
    }
}
