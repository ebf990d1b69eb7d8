using System.Security.Cryptography;
using MlxBench.Core.Envelopes;
using MlxBench.Core.Shards;
using MlxBench.Testing;

namespace MlxBench.Core.Tests.Shards;

[TestClass]
public sealed class ShardNamingTests
{
    [TestMethod]
    [DataRow("2025-12-25T05:20:00Z", "2025-12-25T05-20-00")]
    [DataRow("2025-12-25T05:20:00.123456Z", "2025-12-25T05-20-00.123456")]
    [DataRow("2025-12-25T05:20:00ZZ", "2025-12-25T05-20-00")]
    [DataRow("2025-12-25T05:20:00+02:00", "2025-12-25T05-20-00+02-00")]
    public void TimestampSlug_ReplacesColonsAndStripsTrailingZs(string timestamp, string slug)
    {
        Assert.AreEqual(slug, ShardNaming.TimestampSlug(timestamp));
    }

    [TestMethod]
    [DataRow("mlx-community/Qwen3.5-9B-MLX-4bit", "mlx-community-qwen3-5-9b-mlx-4bit")]
    [DataRow("openrouter/openai/gpt-5-mini", "openrouter-openai-gpt-5-mini")]
    [DataRow("mlx-community/Qwen3-8-27B-4bit", "mlx-community-qwen3-8-27b-4bit")]
    [DataRow("org//model", "org--model")]
    [DataRow("/org/model_", "org-model")]
    [DataRow("--Model--", "model")]
    [DataRow("gemma3:12b-u1", "gemma3-12b-u1")]
    [DataRow("modèle", "mod-le")]
    [DataRow("ggml-org/models", "ggml-org-models")]
    public void Slug_FollowsUpstreamsRules(string model, string slug)
    {
        Assert.AreEqual(slug, ShardNaming.Slug(model));
    }

    [TestMethod]
    public void Slug_IsTruncatedTo50Characters_AfterTrimming()
    {
        string model = "-" + new string('a', 49) + "/b" + new string('c', 20);

        string slug = ShardNaming.Slug(model);

        Assert.AreEqual(new string('a', 49) + "-", slug, "trimmed first, then cut at 50 (a trailing dash may remain, as upstream's does)");
    }

    [TestMethod]
    public void PathInDataset_IsUpstreamsPattern_WithTheHashOfTheBytes()
    {
        var envelope = new Envelope { Timestamp = "2025-12-25T05:20:00Z", GitSha = "deadbeef", Suite = "reasoning", Model = "mlx-community/Qwen3.5-9B-MLX-4bit" };
        byte[] bytes = "PAR1 example bytes PAR1"u8.ToArray();

        string path = ShardNaming.PathInDataset(envelope, bytes);

        string hash8 = Convert.ToHexStringLower(SHA256.HashData(bytes))[..8];
        Assert.AreEqual($"data/run-2025-12-25T05-20-00-deadbeef-reasoning-mlx-community-qwen3-5-9b-mlx-4bit-{hash8}.parquet", path);
        Assert.DoesNotContain(":", path);
    }

    [TestMethod]
    public void PathInDataset_KeepsAFullShaVerbatim()
    {
        var envelope = new Envelope { Timestamp = "2026-08-24T04:19:37Z", GitSha = "249cf89e6f8936ef146afa2d4119a29c82866288", Suite = "throughput", Model = "mlx-community/Qwen3-8-27B-4bit" };

        string path = ShardNaming.PathInDataset(envelope, [1, 2, 3]);

        StringAssert.Matches(path, new System.Text.RegularExpressions.Regex(
            "^data/run-2026-08-24T04-19-37-249cf89e6f8936ef146afa2d4119a29c82866288-throughput-mlx-community-qwen3-8-27b-4bit-[0-9a-f]{8}\\.parquet$"));
    }

    [TestMethod]
    public void DifferentBytes_GiveDifferentNamesWithTheSamePrefix()
    {
        Envelope envelope = EnvelopeJson.Parse(SharedData.ReadFixture("upstream", "envelope.valid.json"));

        string a = ShardNaming.PathInDataset(envelope, [1]);
        string b = ShardNaming.PathInDataset(envelope, [2]);

        Assert.AreNotEqual(a, b);
        Assert.AreEqual(a[..^"12345678.parquet".Length], b[..^"12345678.parquet".Length]);
    }
}
