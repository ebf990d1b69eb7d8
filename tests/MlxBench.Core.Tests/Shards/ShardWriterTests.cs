using DuckDB.NET.Data;
using MlxBench.Core.Converters;
using MlxBench.Core.Envelopes;
using MlxBench.Core.Shards;
using MlxBench.Testing;

namespace MlxBench.Core.Tests.Shards;

/// <summary>Shards are read back by DuckDB, an independent parquet reader, the way dataset users read them.</summary>
[TestClass]
public sealed class ShardWriterTests
{
    private static async Task<string> WriteToDisk(TempDirectory dir, Envelope envelope)
    {
        Shard shard = await ShardWriter.WriteAsync(envelope);
        string path = dir.Combine(Path.GetFileName(shard.PathInDataset));
        await File.WriteAllBytesAsync(path, shard.Bytes);
        return path;
    }

    private static List<(string Name, string Type)> Describe(string parquet)
    {
        using var connection = new DuckDBConnection("Data Source=:memory:");
        connection.Open();
        using DuckDBCommand command = connection.CreateCommand();
        command.CommandText = $"DESCRIBE SELECT * FROM read_parquet('{parquet}')";
        using System.Data.Common.DbDataReader reader = command.ExecuteReader();
        var columns = new List<(string, string)>();
        while (reader.Read()) columns.Add((reader.GetString(0), reader.GetString(1)));
        return columns;
    }

    private static List<Dictionary<string, object?>> Rows(string parquet)
    {
        using var connection = new DuckDBConnection("Data Source=:memory:");
        connection.Open();
        using DuckDBCommand command = connection.CreateCommand();
        command.CommandText = $"SELECT * FROM read_parquet('{parquet}')";
        using System.Data.Common.DbDataReader reader = command.ExecuteReader();
        var rows = new List<Dictionary<string, object?>>();
        while (reader.Read())
            rows.Add(Enumerable.Range(0, reader.FieldCount).ToDictionary(reader.GetName, i => reader.IsDBNull(i) ? null : reader.GetValue(i)));
        return rows;
    }

    [TestMethod]
    public async Task LmEvalShard_ReadsBackWithUpstreamsColumnsAndTypes()
    {
        using var dir = new TempDirectory();
        string path = await WriteToDisk(dir, ShardRowsTests.LmEvalSample());

        List<(string Name, string Type)> columns = Describe(path);

        CollectionAssert.AreEqual(
            new[]
            {
                "schema_version VARCHAR", "timestamp VARCHAR", "git_sha VARCHAR", "trigger VARCHAR", "suite VARCHAR", "model VARCHAR",
                "os VARCHAR", "chip VARCHAR", "memory_gb BIGINT", "name VARCHAR", "metric VARCHAR", "value DOUBLE", "unit VARCHAR",
                "tag_lm_eval_key VARCHAR", "tag_run_tag VARCHAR", "tag_total_eval_time_s VARCHAR", "tag_n_limit VARCHAR",
                "tag_max_gen_toks VARCHAR", "tag_stderr VARCHAR",
            },
            columns.Select(c => $"{c.Name} {c.Type}").ToArray());
    }

    [TestMethod]
    public async Task LmEvalShard_HoldsOneRowPerResult_WithTheEnvelopesValues()
    {
        using var dir = new TempDirectory();
        string path = await WriteToDisk(dir, ShardRowsTests.LmEvalSample());

        List<Dictionary<string, object?>> rows = Rows(path);

        Assert.HasCount(2, rows);
        Assert.AreEqual("1", rows[0]["schema_version"]);
        Assert.AreEqual("2025-12-25T05:20:00Z", rows[0]["timestamp"]);
        Assert.AreEqual("deadbeef", rows[0]["git_sha"]);
        Assert.AreEqual("local", rows[0]["trigger"]);
        Assert.AreEqual("reasoning", rows[1]["suite"]);
        Assert.AreEqual("mlx-community/Qwen3.5-9B-MLX-4bit", rows[1]["model"]);
        Assert.AreEqual(24L, rows[0]["memory_gb"]);
        Assert.AreEqual("gsm8k_cot_zeroshot", rows[0]["name"]);
        Assert.AreEqual("exact_match_flexible", rows[0]["metric"]);
        Assert.AreEqual(0.7, rows[0]["value"]);
        Assert.AreEqual(0.5, rows[1]["value"]);
        Assert.AreEqual("ratio", rows[1]["unit"]);
        Assert.AreEqual("exact_match,strict-match", rows[1]["tag_lm_eval_key"]);
        Assert.AreEqual("123.45", rows[1]["tag_total_eval_time_s"]);
        Assert.AreEqual("0.158", rows[1]["tag_stderr"]);
    }

    [TestMethod]
    public async Task NullsAndOptionalColumns_SurviveTheRoundTrip()
    {
        Envelope envelope = new VllmServeConverter().Convert(SharedData.ReadFixture("serving", "er0080_vllm-benchmarking__bench_serve_v0.25.1.json"), Contexts.For("throughput", "facebook/opt-125m"));
        envelope.Seed = 7;
        envelope.ModelRevision = "a1b2c3d";
        envelope.Results[0].DurationSeconds = null;
        envelope.Results[^1].WithTag("only_last", "é ü 漢字");
        using var dir = new TempDirectory();
        string path = await WriteToDisk(dir, envelope);

        List<Dictionary<string, object?>> rows = Rows(path);
        List<(string Name, string Type)> columns = Describe(path);

        Assert.HasCount(envelope.Results.Count, rows);
        Assert.AreEqual("BIGINT", columns.Single(c => c.Name == "seed").Type);
        Assert.AreEqual("DOUBLE", columns.Single(c => c.Name == "duration_seconds").Type);
        Assert.IsNull(rows[0]["duration_seconds"]);
        Assert.AreEqual(1.5441598830002476, rows[1]["duration_seconds"]);
        Assert.AreEqual(7L, rows[3]["seed"]);
        Assert.AreEqual("a1b2c3d", rows[3]["model_revision"]);
        Assert.IsNull(rows[0]["tag_only_last"]);
        Assert.AreEqual("é ü 漢字", rows[^1]["tag_only_last"]);
        CollectionAssert.AreEqual(envelope.Results.Select(r => (object?)r.Value).ToArray(), rows.Select(r => r["value"]).ToArray());
    }

    [TestMethod]
    public async Task SameEnvelopeTwice_GivesTheSameBytesAndName()
    {
        Shard first = await ShardWriter.WriteAsync(ShardRowsTests.LmEvalSample());
        Shard second = await ShardWriter.WriteAsync(EnvelopeJson.Parse(EnvelopeJson.Serialize(ShardRowsTests.LmEvalSample())));

        CollectionAssert.AreEqual(first.Bytes, second.Bytes);
        Assert.AreEqual(first.PathInDataset, second.PathInDataset);
        CollectionAssert.AreEqual("PAR1"u8.ToArray(), first.Bytes[..4]);
        CollectionAssert.AreEqual("PAR1"u8.ToArray(), first.Bytes[^4..]);
    }

    [TestMethod]
    public async Task ChangedValue_GivesANewName()
    {
        Envelope changed = ShardRowsTests.LmEvalSample();
        changed.Results[0].Value = 0.71;

        Shard a = await ShardWriter.WriteAsync(ShardRowsTests.LmEvalSample());
        Shard b = await ShardWriter.WriteAsync(changed);

        Assert.AreNotEqual(a.PathInDataset, b.PathInDataset);
        StringAssert.StartsWith(a.PathInDataset, "data/run-2025-12-25T05-20-00-deadbeef-reasoning-mlx-community-qwen3-5-9b-mlx-4bit-");
        StringAssert.StartsWith(b.PathInDataset, "data/run-2025-12-25T05-20-00-deadbeef-reasoning-mlx-community-qwen3-5-9b-mlx-4bit-");
    }

    [TestMethod]
    public async Task ShardName_HashesTheShardsOwnBytes()
    {
        Shard shard = await ShardWriter.WriteAsync(ShardRowsTests.LmEvalSample());

        Assert.AreEqual(ShardNaming.PathInDataset(ShardRowsTests.LmEvalSample(), shard.Bytes), shard.PathInDataset);
        StringAssert.EndsWith(shard.PathInDataset, ShardNaming.Hash8(shard.Bytes) + ".parquet");
    }

    [TestMethod]
    public async Task ShardsOfSeveralRuns_ReadTogether_AsTheViewerReadsTheDataset()
    {
        using var dir = new TempDirectory();
        await WriteToDisk(dir, ShardRowsTests.LmEvalSample());
        await WriteToDisk(dir, new VllmServeConverter().Convert(SharedData.ReadFixture("upstream", "vllm_benchmark_serving_sample.json"), Contexts.For("throughput")));

        using var connection = new DuckDBConnection("Data Source=:memory:");
        connection.Open();
        using DuckDBCommand command = connection.CreateCommand();
        command.CommandText = $"SELECT suite, count(*) FROM read_parquet('{dir.Path}/run-*.parquet', union_by_name = true) GROUP BY suite ORDER BY suite";
        using System.Data.Common.DbDataReader reader = command.ExecuteReader();
        var counts = new List<string>();
        while (reader.Read()) counts.Add($"{reader.GetString(0)} {reader.GetInt64(1)}");

        CollectionAssert.AreEqual(new[] { "reasoning 2", "throughput 18" }, counts);
    }
}
