using MlxBench.Core.Envelopes;
using MlxBench.Core.Sinks;
using MlxBench.Core.Tests.Shards;
using MlxBench.Testing;

namespace MlxBench.Core.Tests.Sinks;

[TestClass]
public sealed class DatasetPublisherTests
{
    [TestMethod]
    public async Task ValidEnvelopes_BecomeShards_AndPublishingAgainAddsNothing()
    {
        using var dir = new TempDirectory();
        string lmEval = dir.Write("a/envelope.json", EnvelopeJson.Serialize(ShardRowsTests.LmEvalSample()));
        string valid = dir.Write("b/envelope.json", SharedData.ReadFixture("upstream", "envelope.valid.json"));
        var publisher = new DatasetPublisher(new FolderSink(dir.Combine("dataset")), SchemaValidator.Default);

        var (first, firstProblems) = await publisher.PublishAsync([lmEval, valid], CancellationToken.None);
        var (second, secondProblems) = await publisher.PublishAsync([lmEval, valid], CancellationToken.None);

        Assert.IsEmpty(firstProblems);
        Assert.IsEmpty(secondProblems);
        CollectionAssert.AreEqual(new[] { ShardState.Added, ShardState.Added }, first.Select(s => s.State).ToArray());
        CollectionAssert.AreEqual(new[] { ShardState.Present, ShardState.Present }, second.Select(s => s.State).ToArray());
        CollectionAssert.AreEqual(first.Select(s => s.PathInDataset).ToArray(), second.Select(s => s.PathInDataset).ToArray());
        Assert.AreEqual(lmEval, first[0].EnvelopePath);
        Assert.IsTrue(File.Exists(first[0].Location));
        Assert.HasCount(2, Directory.GetFiles(dir.Combine("dataset", "data")));
    }

    [TestMethod]
    public async Task InvalidEmptyAndMissingEnvelopes_AreEachACodedProblem_AndDoNotStopTheOthers()
    {
        using var dir = new TempDirectory();
        string invalid = dir.Write("invalid.json", SharedData.ReadFixture("upstream", "envelope.invalid.json"));
        System.Text.Json.Nodes.JsonNode noResults = System.Text.Json.Nodes.JsonNode.Parse(SharedData.ReadFixture("upstream", "envelope.valid.json"))!;
        noResults["results"] = new System.Text.Json.Nodes.JsonArray();
        string empty = dir.Write("empty.json", noResults.ToJsonString());
        string missing = dir.Combine("missing.json");
        string valid = dir.Write("valid.json", SharedData.ReadFixture("upstream", "envelope.valid.json"));
        var publisher = new DatasetPublisher(new FolderSink(dir.Combine("dataset")), SchemaValidator.Default);

        var (shards, problems) = await publisher.PublishAsync([invalid, empty, missing, valid], CancellationToken.None);

        Assert.AreEqual(valid, shards.Single().EnvelopePath);
        CollectionAssert.AreEqual(new[] { "MLXB3004", "MLXB3001", "MLXB2502" }, problems.Select(p => p.Code).ToArray(), string.Join("\n", problems));
        CollectionAssert.AreEqual(new[] { invalid, empty, missing }, problems.Select(p => p.File).ToArray());
        StringAssert.Contains(problems[0].Message, "memory_gb");
    }
}
