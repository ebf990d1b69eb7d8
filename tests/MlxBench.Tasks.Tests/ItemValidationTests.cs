namespace MlxBench.Tasks.Tests;

/// <summary>Malformed items fail the build before anything runs, each with its own code and a way to fix it.</summary>
[TestClass]
public sealed class ItemValidationTests
{
    [TestMethod]
    [DataRow("""<BenchModel Include="m" /><BenchSuite Include="reasoning" Command="true" />""", "MLXB1001", "Add Harness=")]
    [DataRow("""<BenchModel Include="m" /><BenchSuite Include="reasoning" Harness="command" Command="true" Converter="csv" />""", "MLXB1003", "Use one of: lm-eval, vllm, framework-eval, envelope")]
    [DataRow("""<BenchModel Include="m" Endpoint="studio" /><BenchSuite Include="reasoning" Harness="command" Command="true" />""", "MLXB1005", "Add <BenchEndpoint Include=\"studio\"")]
    [DataRow("""<BenchModel Include="m" /><BenchSuite Include="my-evals" Harness="command" Command="true" />""", "MLXB1006", "Add Category=")]
    [DataRow("""<BenchModel Include="m" /><BenchSuite Include="reasoning" Harness="command" />""", "MLXB1004", "Add Command=")]
    public void MalformedItem_FailsWithItsCode(string items, string code, string howToFix)
    {
        using var project = new BenchProject(items);

        BuildOutcome outcome = project.Build("Bench");

        Assert.IsFalse(outcome.Succeeded);
        Assert.AreEqual(code, outcome.Errors.Single().Code, outcome.Log);
        StringAssert.Contains(outcome.Errors.Single().Message, howToFix);
        Assert.AreEqual(0, outcome["Bench"].Count);
    }

    [TestMethod]
    public void SuiteOutsideTheEnum_IsAccepted_WithACategory()
    {
        using var project = new BenchProject("""
            <BenchModel Include="m" />
            <BenchSuite Include="my-evals" Category="reasoning" Harness="command" Converter="vllm" Command="printf '{&quot;duration&quot;: 1, &quot;request_throughput&quot;: 2}' &gt; $MLXBENCH_OUTPUT" />
            """);

        BuildOutcome outcome = project.Build("Bench");

        Assert.IsTrue(outcome.Succeeded, outcome.Log);
        string envelope = File.ReadAllText(outcome["Bench"].Single().ItemSpec);
        StringAssert.Contains(envelope, "\"suite\": \"reasoning\"");
        StringAssert.Contains(envelope, "\"bench_suite\": \"my-evals\"");
    }

    [TestMethod]
    public void EveryProblem_IsReported_NotJustTheFirst()
    {
        using var project = new BenchProject("""
            <BenchModel Include="m" Endpoint="nowhere" />
            <BenchSuite Include="reasoning" />
            <BenchSuite Include="coding" Harness="command" Command="true" Converter="csv" />
            """);

        BuildOutcome outcome = project.Build("Bench");

        CollectionAssert.AreEquivalent(new[] { "MLXB1001", "MLXB1003", "MLXB1005" }, outcome.ErrorCodes.ToArray(), outcome.Log);
    }
}
