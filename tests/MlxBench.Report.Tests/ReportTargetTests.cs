using System.Text.RegularExpressions;
using MlxBench.Core.Shards;
using MlxBench.Core.Sinks;
using MlxBench.Core.Sinks.Hub;
using MlxBench.Core.Tests.Hub;
using MlxBench.Testing;

namespace MlxBench.Report.Tests;

/// <summary>
/// <c>dotnet build -t:Report</c> of a .benchproj (SDK imported from source, the CLI freshly built): the target runs
/// <c>mlxbench report</c> out of process and prints <c>&lt;project&gt; -&gt; &lt;page&gt;</c>, for a folder dataset
/// and for a HuggingFace dataset (served by the fake Hub, found through HF_ENDPOINT).
/// </summary>
[TestClass]
public sealed class ReportTargetTests
{
    [TestMethod]
    [Timeout(240_000)]
    public async Task Report_OfAFolderDataset_WritesThePage_AndPrintsItsPath()
    {
        using var project = new TempDirectory("report-target");
        int shards = await ReportDataset.WriteAsync(project.Combine("dataset"));
        string projectFile = WriteProject(project, "dataset", CliPath());

        (int exit, string output) = await BuildAsync(projectFile, ["-t:Report"], []);

        Assert.AreEqual(0, exit, output);
        string page = Path.Combine(project.Path, "bin", "bench-report.html");
        StringAssert.Contains(output, $"models -> {page}", output);
        string html = await File.ReadAllTextAsync(page);
        StringAssert.Contains(html, $"Loaded 35 rows from 5 models ({shards} shards)");
        StringAssert.Contains(html, "<title>models: MlxBench results</title>");
    }

    [TestMethod]
    [Timeout(240_000)]
    public async Task Report_OfAHubDataset_ReadsItThroughTheHubApi()
    {
        const string token = "hf_canaryReportReportReportReportReport00";
        await using FakeHubServer server = await FakeHubServer.StartAsync(token);
        server.CreateDataset("acme/llm-bench");
        IReadOnlyList<Shard> shards = await FixtureEnvelopes.ShardsAsync(FixtureEnvelopes.Three());
        await new HubSink(HubDatasetReference.Parse("hf://datasets/acme/llm-bench"), new HubSettings { Endpoint = server.Endpoint, Token = HubToken.Of(token) })
            .AddAsync(shards, CancellationToken.None);
        server.TreePageSize = 2;
        using var project = new TempDirectory("report-hub");
        string projectFile = WriteProject(project, "hf://datasets/acme/llm-bench", CliPath());

        (int exit, string output) = await BuildAsync(projectFile, ["-t:Report"], new() { ["HF_ENDPOINT"] = server.Endpoint.AbsoluteUri.TrimEnd('/') });

        Assert.AreEqual(0, exit, output);
        string html = await File.ReadAllTextAsync(Path.Combine(project.Path, "bin", "bench-report.html"));
        StringAssert.Contains(html, "models (3 shards) · hf://datasets/acme/llm-bench");
        CollectionAssert.AreEquivalent(new[] { "knowledge", "reasoning", "throughput" },
            Regex.Matches(html, "<section class=\"panel\" data-kind=\"latest\" data-suite=\"([a-z-]+)\"").Select(m => m.Groups[1].Value).Distinct().ToArray());
        Assert.IsTrue(server.Requests.Count(r => r.Operation == HubOperation.Resolve) == 3, "each shard downloaded once");
        Assert.IsTrue(server.Requests.Count(r => r.Operation == HubOperation.Tree) == 2, "the tree listing followed its Link pages");
    }

    [TestMethod]
    [Timeout(120_000)]
    public async Task Report_WithoutTheCli_IsMLXB8005()
    {
        using var project = new TempDirectory("report-nocli");
        string projectFile = WriteProject(project, "dataset", project.Combine("missing", "mlxbench.dll"));

        (int exit, string output) = await BuildAsync(projectFile, ["-t:Report"], []);

        Assert.AreNotEqual(0, exit);
        StringAssert.Contains(output, "error MLXB8005: The Report target needs the mlxbench CLI", output);
    }

    [TestMethod]
    [Timeout(120_000)]
    public async Task Report_OfAnEmptyFolder_FailsWithMLXB8001_AndWritesNoPage()
    {
        using var project = new TempDirectory("report-empty");
        Directory.CreateDirectory(project.Combine("dataset"));
        string projectFile = WriteProject(project, "dataset", CliPath());

        (int exit, string output) = await BuildAsync(projectFile, ["-t:Report"], []);

        Assert.AreNotEqual(0, exit);
        StringAssert.Contains(output, "error MLXB8001: The dataset", output);
        Assert.IsFalse(output.Contains("MSB3073", StringComparison.Ordinal), "the CLI's coded error is the target's error: " + output);
        Assert.IsFalse(File.Exists(Path.Combine(project.Path, "bin", "bench-report.html")));
    }

    private static string WriteProject(TempDirectory project, string dataset, string cli)
    {
        string sdk = Path.Combine(SharedData.RepoRoot, "Sdk");
        return project.Write("models.benchproj", $"""
            <Project>
              <Import Project="{sdk}/Sdk.props" />
              <PropertyGroup>
                <MlxBenchCliPath>{cli}</MlxBenchCliPath>
                <BenchDataset>{dataset}</BenchDataset>
              </PropertyGroup>
              <Import Project="{sdk}/Sdk.targets" />
            </Project>
            """);
    }

    /// <summary>The CLI built with this test project (same configuration).</summary>
    private static string CliPath()
    {
        string configuration = new DirectoryInfo(AppContext.BaseDirectory).Name;
        string path = Path.Combine(SharedData.RepoRoot, "artifacts", "bin", "MlxBench.Cli", configuration, "mlxbench.dll");
        Assert.IsTrue(File.Exists(path), $"{path} is missing; the test project references MlxBench.Cli so that it is built");
        return path;
    }

    private static Task<(int Exit, string Output)> BuildAsync(string projectFile, string[] args, Dictionary<string, string?> environment) =>
        Dotnet.BuildAsync(projectFile, args, environment);
}
