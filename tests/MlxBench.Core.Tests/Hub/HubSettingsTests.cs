using MlxBench.Core.Diagnostics;
using MlxBench.Core.Sinks;
using MlxBench.Core.Sinks.Hub;

namespace MlxBench.Core.Tests.Hub;

[TestClass]
public sealed class HubSettingsTests
{
    [TestMethod]
    [DataRow("hf://datasets/acme/llm-bench", "acme/llm-bench", "main")]
    [DataRow("hf://datasets/acme/llm-bench/", "acme/llm-bench", "main")]
    [DataRow("hf://datasets/JacobPEvans/mlx-benchmarks@v0.6.1", "JacobPEvans/mlx-benchmarks", "v0.6.1")]
    [DataRow("hf://datasets/acme/llm.bench_2@refs/pr/1", "acme/llm.bench_2", "refs/pr/1")]
    public void References_Parse_AsHfFileSystemWritesThem(string dataset, string repo, string revision)
    {
        HubDatasetReference reference = HubDatasetReference.Parse(dataset);
        Assert.AreEqual((repo, revision), (reference.RepoId, reference.Revision));
    }

    [TestMethod]
    public void ARevisionTravelsAsOneQuotedPathSegment() =>
        Assert.AreEqual("refs%2Fpr%2F1", HubDatasetReference.Parse("hf://datasets/a/b@refs/pr/1").QuotedRevision);

    [TestMethod]
    [DataRow("hf://datasets/acme")]
    [DataRow("hf://datasets/acme/llm bench")]
    [DataRow("hf://datasets/acme/llm-bench/extra")]
    [DataRow("hf://models/acme/llm-bench")]
    public void MalformedHubReferences_AreMLXB3103(string dataset)
    {
        var error = Assert.ThrowsExactly<BenchException>(() => DatasetReference.Open(dataset, "/tmp"));
        Assert.AreEqual(dataset.StartsWith("hf://datasets/", StringComparison.Ordinal) ? "MLXB3103" : "MLXB3002", error.Diagnostic.Code);
    }

    [TestMethod]
    public void TheEndpoint_DefaultsToTheHub_AndHF_ENDPOINTOverridesIt()
    {
        Assert.AreEqual(HubSettings.DefaultEndpoint, HubSettings.FromEnvironment(_ => null).Endpoint);
        var mirror = HubSettings.FromEnvironment(name => name == "HF_ENDPOINT" ? "https://hub.example.com/" : null);
        Assert.AreEqual(new Uri("https://hub.example.com"), mirror.Endpoint);
        Assert.IsNull(mirror.Token);
        var error = Assert.ThrowsExactly<BenchException>(() => HubSettings.FromEnvironment(name => name == "HF_ENDPOINT" ? "hub.example.com" : null));
        Assert.AreEqual("MLXB3104", error.Diagnostic.Code);
    }

    [TestMethod]
    public void TheToken_ComesFromHF_TOKEN_AndNeverPrintsItself()
    {
        HubSettings settings = HubSettings.FromEnvironment(name => name == "HF_TOKEN" ? "  hf_secretsecret  " : null);
        Assert.IsNotNull(settings.Token);
        Assert.AreEqual("***", settings.Token.ToString());
        Assert.IsFalse(settings.ToString().Contains("hf_secretsecret", StringComparison.Ordinal), settings.ToString());
        Assert.AreEqual("x *** y", settings.Token.Redact("x hf_secretsecret y"));
    }

    [TestMethod]
    public void TheCommitPayload_IsNdjson_HeaderFirst_WithTheParentCommit()
    {
        var shard = new HubUpload("data/run-x.parquet", [1, 2, 3]);
        var readme = new HubUpload("README.md", "# hi\n"u8.ToArray());
        string[] lines = System.Text.Encoding.UTF8.GetString(HubClient.CommitPayload("feat: add", "why", new string('a', 40), [(shard, true), (readme, false)]))
            .Split('\n', StringSplitOptions.RemoveEmptyEntries);

        Assert.AreEqual(3, lines.Length);
        Assert.AreEqual($$$"""{"key":"header","value":{"summary":"feat: add","description":"why","parentCommit":"{{{new string('a', 40)}}}"}}""", lines[0]);
        Assert.AreEqual($$$"""{"key":"lfsFile","value":{"path":"data/run-x.parquet","algo":"sha256","oid":"{{{shard.Sha256}}}"}}""", lines[1]);
        Assert.AreEqual("""{"key":"file","value":{"content":"IyBoaQo=","path":"README.md","encoding":"base64"}}""", lines[2]);
    }
}
