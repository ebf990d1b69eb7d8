using System.Security;
using DuckDB.NET.Data;
using MlxBench.Testing;

namespace MlxBench.Sdk.Tests;

/// <summary>Publish through the packed SDK: shards with upstream's columns that DuckDB reads; a second Publish adds nothing.</summary>
[TestClass]
public sealed class PublishTests
{
    [TestMethod]
    public void Publish_WritesUpstreamShards_AndIsIdempotent()
    {
        string fixture = SharedData.Fixture("upstream", "lm_eval_results_sample.json");
        string command = SecurityElement.Escape($"cp '{fixture}' \"$MLXBENCH_OUTPUT\"");
        using var project = new UserProject($"""
            <BenchModel Include="mlx-community/Qwen3.5-9B-MLX-4bit" Quantization="mlx-4bit" />
            <BenchModel Include="org/beta" />
            <BenchSuite Include="reasoning" Harness="command" Converter="lm-eval" Command="{command}" />
            """, "<BenchGitSha>aaa3ff3</BenchGitSha>");

        BuildRun first = project.Build("Bench;Publish", resultOf: "Publish");
        Assert.IsTrue(first.Succeeded, first.Output);
        Assert.AreEqual(2, first.Items.Count);
        Assert.IsTrue(first.Items.All(s => s["State"] == "Added"), first.Output);
        StringAssert.StartsWith(first.Items.Single(s => s["Identity"].Contains("qwen", StringComparison.Ordinal))["Identity"], "data/run-");
        StringAssert.Contains(first.Items.Single(s => s["Identity"].Contains("qwen", StringComparison.Ordinal))["Identity"], "-aaa3ff3-reasoning-mlx-community-qwen3-5-9b-mlx-4bit-");

        string data = Path.Combine(project.Directory, "dataset", "data");
        using (var connection = new DuckDBConnection("DataSource=:memory:"))
        {
            connection.Open();
            using var command2 = connection.CreateCommand();
            command2.CommandText = $"DESCRIBE SELECT * FROM read_parquet('{data}/*.parquet', union_by_name=true)";
            var columns = new List<string>();
            using (var reader = command2.ExecuteReader())
                while (reader.Read()) columns.Add(reader.GetString(0));
            string[] upstream = ["schema_version", "timestamp", "git_sha", "trigger", "suite", "model", "os", "chip", "memory_gb", "name", "metric", "value", "unit", "tag_lm_eval_key"];
            CollectionAssert.IsSubsetOf(upstream, columns, string.Join(", ", columns));

            command2.CommandText = $"SELECT quantization, metric, value, unit FROM read_parquet('{data}/*.parquet', union_by_name=true) WHERE model LIKE 'mlx-community/%' ORDER BY metric";
            using var rows = command2.ExecuteReader();
            Assert.IsTrue(rows.Read());
            Assert.AreEqual("mlx-4bit", rows.GetString(0));
            Assert.AreEqual("exact_match_flexible", rows.GetString(1));
            Assert.AreEqual(0.7, rows.GetDouble(2), 1e-12);
            Assert.AreEqual("ratio", rows.GetString(3));
        }

        string[] before = Directory.GetFiles(data);
        BuildRun second = project.Build("Publish", resultOf: "Publish");
        Assert.IsTrue(second.Succeeded, second.Output);
        Assert.IsTrue(second.Items.All(s => s["State"] == "Present"));
        CollectionAssert.AreEquivalent(before, Directory.GetFiles(data));
    }
}
