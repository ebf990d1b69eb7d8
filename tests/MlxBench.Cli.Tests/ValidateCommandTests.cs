using MlxBench.Testing;

namespace MlxBench.Cli.Tests;

/// <summary><c>mlxbench validate</c>: upstream's exit codes (0 valid, 2 unreadable, 3 invalid) and one coded line per error.</summary>
[TestClass]
public sealed class ValidateCommandTests
{
    [TestMethod]
    public void ValidEnvelope_ExitsZero()
    {
        string valid = SharedData.Fixture("upstream", "envelope.valid.json");

        CliResult result = Mlxbench.Run(SharedData.RepoRoot, "validate", valid);

        Assert.AreEqual(0, result.ExitCode, result.Stderr);
        StringAssert.Contains(result.Stdout, valid + ": valid");
    }

    [TestMethod]
    public void InvalidEnvelope_ExitsThree_WithEveryErrorAndItsPath()
    {
        string invalid = SharedData.Fixture("upstream", "envelope.invalid.json");

        CliResult result = Mlxbench.Run(SharedData.RepoRoot, "validate", invalid);

        Assert.AreEqual(3, result.ExitCode);
        string[] lines = result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.AreEqual(7, lines.Length, result.Stderr);
        Assert.IsTrue(lines.All(l => l.Contains("MLXB2501: $.", StringComparison.Ordinal)), result.Stderr);
        StringAssert.Contains(result.Stderr, "MLXB2501: $.schema_version: \"1\" was expected");
    }

    [TestMethod]
    public void MissingFile_ExitsTwo_WithACodedError()
    {
        using var temp = new TempDirectory();

        CliResult result = Mlxbench.Run(temp.Path, "validate", temp.Combine("nope.json"));

        Assert.AreEqual(2, result.ExitCode);
        StringAssert.Contains(result.Stderr, "MLXB2502");
    }
}
