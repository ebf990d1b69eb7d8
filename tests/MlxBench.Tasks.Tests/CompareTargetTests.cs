namespace MlxBench.Tasks.Tests;

/// <summary>The regression gate as a CI job uses it: Bench;Publish once, then Bench;Compare on later runs.</summary>
[TestClass]
public sealed class CompareTargetTests
{
    private static string Throughput(double tokensPerSecond, double ttftMs) => $"""
        <BenchModel Include="org/alpha" />
        <BenchSuite Include="throughput" Harness="command" Converter="vllm" CompareThreshold="0.05"
                    Command="{BenchProject.Attribute($"printf '{{\"duration\": 2, \"output_throughput\": {tokensPerSecond}, \"median_ttft_ms\": {ttftMs}}}' > \"$MLXBENCH_OUTPUT\"")}" />
        """;

    private static string Accuracy(double accuracy) => $"""
        <BenchModel Include="org/alpha" />
        <BenchSuite Include="reasoning" Harness="command" Converter="lm-eval"
                    Command="{BenchProject.Attribute($"printf '{{\"results\": {{\"arc_easy\": {{\"acc,none\": {accuracy}, \"acc_stderr,none\": 0.05}}}}}}' > \"$MLXBENCH_OUTPUT\"")}" />
        """;

    [TestMethod]
    public void Compare_FailsOnARegressionBeyondThreshold_AndPassesWithinIt()
    {
        using var project = new BenchProject(Throughput(400, 20));
        Assert.IsTrue(project.Build("Bench;Publish").Succeeded);

        project.Write(Throughput(390, 20.5));   // -2.5% throughput, +2.5% TTFT: within 5%
        BuildOutcome withinNoise = project.Build("Bench;Compare");
        Assert.IsTrue(withinNoise.Succeeded, withinNoise.Log);
        Assert.IsTrue(withinNoise["Compare"].All(c => c.GetMetadata("Verdict") == "Unchanged"), string.Join(", ", withinNoise["Compare"].Select(c => c.GetMetadata("Metric") + "=" + c.GetMetadata("Verdict"))));

        project.Write(Throughput(300, 19));     // -25% throughput (worse), -5% TTFT (not worse)
        BuildOutcome regressed = project.Build("Bench;Compare");
        Assert.IsFalse(regressed.Succeeded);
        var error = regressed.Errors.Single();
        Assert.AreEqual("MLXB9001", error.Code);
        StringAssert.Contains(error.Message, "throughput_output_toks_per_s regressed from 400 to 300 (-25.0%, higher is better)");
        Assert.AreEqual("Regressed", regressed["Compare"].Single(c => c.GetMetadata("Metric") == "throughput_output_toks_per_s").GetMetadata("Verdict"));
        StringAssert.Contains(File.ReadAllText(Path.Combine(project.Directory, "obj", "bench", "compare.md")), "| Regressed |");
    }

    [TestMethod]
    public void Compare_ToleratesAMoveWithinTheCombinedStderr_ButNotBeyondIt()
    {
        using var project = new BenchProject(Accuracy(0.50));
        Assert.IsTrue(project.Build("Bench;Publish").Succeeded);

        project.Write(Accuracy(0.45));          // -10%, but 2 x sqrt(0.05^2 + 0.05^2) = 0.14 of noise
        BuildOutcome noisy = project.Build("Bench;Compare");
        Assert.IsTrue(noisy.Succeeded, noisy.Log);

        project.Write(Accuracy(0.20));
        BuildOutcome regressed = project.Build("Bench;Compare");
        Assert.IsFalse(regressed.Succeeded);
        Assert.AreEqual("MLXB9001", regressed.Errors.Single().Code, regressed.Log);
        StringAssert.Contains(regressed.Errors.Single().Message, "arc_easy accuracy regressed from 0.5 to 0.2");
    }

    [TestMethod]
    public void BenchBaseline_GatesEveryBench()
    {
        using var project = new BenchProject(Throughput(400, 20));
        Assert.IsTrue(project.Build("Bench;Publish").Succeeded);
        project.Write(Throughput(400, 30), "<BenchBaseline>dataset</BenchBaseline>");   // +50% TTFT: lower is better

        BuildOutcome outcome = project.Build("Bench");

        Assert.IsFalse(outcome.Succeeded, outcome.Log);
        StringAssert.Contains(outcome.Errors.Single().Message, "ttft_p50_ms regressed from 20 to 30 (+50.0%, lower is better)");
    }

    [TestMethod]
    public void BadThreshold_AndMissingBaseline_AreCodedErrors()
    {
        using var project = new BenchProject(Throughput(400, 20).Replace("CompareThreshold=\"0.05\"", "CompareThreshold=\"5%\""));
        Assert.IsTrue(project.Build("Bench").Succeeded);

        BuildOutcome missing = project.Build("Compare");
        Assert.AreEqual("MLXB9003", missing.Errors.Single().Code, missing.Log);

        Assert.IsTrue(project.Build("Publish").Succeeded);
        BuildOutcome bad = project.Build("Compare");
        Assert.AreEqual("MLXB9004", bad.Errors.Single().Code, bad.Log);
    }

    [TestMethod]
    public void PublishThenCompare_InOneBuild_ComparesWithThePreviousRun_NotWithItself()
    {
        using var project = new BenchProject(Throughput(400, 20));
        Assert.IsTrue(project.Build("Bench;Publish;Compare").Succeeded);
        Assert.IsTrue(project.Build("Compare")["Compare"].All(c => c.GetMetadata("Verdict") == "New"));

        project.Write(Throughput(200, 20));
        BuildOutcome outcome = project.Build("Bench;Publish;Compare");

        Assert.IsFalse(outcome.Succeeded);
        StringAssert.Contains(outcome.Errors.Single().Message, "regressed from 400 to 200");
    }
}
