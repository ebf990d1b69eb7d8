using DuckDB.NET.Data;

namespace MlxBench.Tasks.Tests;

/// <summary>Publish to a folder dataset: shards DuckDB reads with upstream's columns, never overwritten, never duplicated.</summary>
[TestClass]
public sealed class PublishTargetTests
{
    private const string Items = """
        <BenchModel Include="mlx-community/Qwen3.5-9B-MLX-4bit" />
        <BenchModel Include="org/beta" />
        <BenchSuite Include="throughput" Harness="command" Converter="vllm" Command="printf '{&quot;duration&quot;: 60.12, &quot;completed&quot;: 100, &quot;total_input_tokens&quot;: 25600, &quot;total_output_tokens&quot;: 25600, &quot;request_throughput&quot;: 1.66, &quot;output_throughput&quot;: 425.8}' &gt; $MLXBENCH_OUTPUT" />
        """;

    [TestMethod]
    public void Publish_WritesReadableShards_AndAddsNothingTheSecondTime()
    {
        using var project = new BenchProject(Items);

        BuildOutcome first = project.Build("Bench;Publish");
        Assert.IsTrue(first.Succeeded, first.Log);
        Assert.AreEqual(2, first["Publish"].Count);
        Assert.IsTrue(first["Publish"].All(s => s.GetMetadata("State") == "Added"));
        foreach (var shard in first["Publish"])
            StringAssert.Matches(shard.ItemSpec, new System.Text.RegularExpressions.Regex(@"^data/run-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d(\.\d+)?-abcdef1-throughput-[a-z0-9-]+-[0-9a-f]{8}\.parquet$"));
        string dataset = Path.Combine(project.Directory, "dataset", "data");
        string[] files = Directory.GetFiles(dataset);
        Assert.AreEqual(2, files.Length);

        using (var connection = new DuckDBConnection("DataSource=:memory:"))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = $"SELECT model, suite, git_sha, metric, value, unit, tag_completed_requests FROM read_parquet('{dataset}/*.parquet', union_by_name=true) WHERE metric = 'throughput_output_toks_per_s' ORDER BY model";
            using var reader = command.ExecuteReader();
            Assert.IsTrue(reader.Read());
            Assert.AreEqual("mlx-community/Qwen3.5-9B-MLX-4bit", reader.GetString(0));
            Assert.AreEqual("throughput", reader.GetString(1));
            Assert.AreEqual("abcdef1", reader.GetString(2));
            Assert.AreEqual(425.8, reader.GetDouble(4), 1e-9);
            Assert.AreEqual("tok/s", reader.GetString(5));
            Assert.AreEqual("100", reader.GetString(6));
            Assert.IsTrue(reader.Read());
            Assert.AreEqual("org/beta", reader.GetString(0));
            Assert.IsFalse(reader.Read());
        }

        BuildOutcome second = project.Build("Publish");
        Assert.IsTrue(second.Succeeded, second.Log);
        Assert.IsTrue(second["Publish"].All(s => s.GetMetadata("State") == "Present"));
        CollectionAssert.AreEquivalent(first["Publish"].Select(s => s.ItemSpec).ToArray(), second["Publish"].Select(s => s.ItemSpec).ToArray());
        Assert.AreEqual(2, Directory.GetFiles(dataset).Length);
    }

    [TestMethod]
    public void EmptyResults_RefuseToPublish_WithACodedError()
    {
        using var project = new BenchProject("""
            <BenchModel Include="m" />
            <BenchSuite Include="throughput" Harness="command" Converter="vllm" Command="printf '{&quot;duration&quot;: 1}' &gt; $MLXBENCH_OUTPUT" />
            """);

        BuildOutcome outcome = project.Build("Bench;Publish");

        Assert.IsFalse(outcome.Succeeded);
        Assert.IsTrue(outcome.ErrorCodes.Contains("MLXB3001"), outcome.Log);
        Assert.IsFalse(Directory.Exists(Path.Combine(project.Directory, "dataset", "data")) && Directory.EnumerateFiles(Path.Combine(project.Directory, "dataset", "data")).Any());
    }
}
