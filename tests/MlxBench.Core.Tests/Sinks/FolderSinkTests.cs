using MlxBench.Core.Diagnostics;
using MlxBench.Core.Shards;
using MlxBench.Core.Sinks;
using MlxBench.Core.Tests.Shards;
using MlxBench.Testing;

namespace MlxBench.Core.Tests.Sinks;

[TestClass]
public sealed class FolderSinkTests
{
    private static Task<Shard> SampleShard() => ShardWriter.WriteAsync(ShardRowsTests.LmEvalSample());

    private static string[] AllFiles(string root) =>
        Directory.Exists(root) ? Directory.GetFiles(root, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(root, f)).Order(StringComparer.Ordinal).ToArray() : [];

    [TestMethod]
    public async Task NewShard_IsAdded_UnderData_WithExactlyItsBytes()
    {
        using var dir = new TempDirectory();
        var sink = new FolderSink(dir.Combine("dataset"));
        Shard shard = await SampleShard();

        IReadOnlyList<ShardState> states = await sink.AddAsync([shard], CancellationToken.None);

        CollectionAssert.AreEqual(new[] { ShardState.Added }, states.ToArray());
        string path = sink.Locate(shard.PathInDataset);
        Assert.AreEqual(Path.Combine(dir.Combine("dataset"), "data", Path.GetFileName(shard.PathInDataset)), path);
        CollectionAssert.AreEqual(shard.Bytes, await File.ReadAllBytesAsync(path));
        CollectionAssert.AreEqual(new[] { shard.PathInDataset.Replace('/', Path.DirectorySeparatorChar) }, AllFiles(sink.Root), "no temp file is left beside it");
    }

    [TestMethod]
    public async Task PublishingTwice_AddsNothing_AndReportsPresent()
    {
        using var dir = new TempDirectory();
        var sink = new FolderSink(dir.Path);
        Shard shard = await SampleShard();
        await sink.AddAsync([shard], CancellationToken.None);
        DateTime written = File.GetLastWriteTimeUtc(sink.Locate(shard.PathInDataset));

        IReadOnlyList<ShardState> states = await sink.AddAsync([await SampleShard()], CancellationToken.None);

        CollectionAssert.AreEqual(new[] { ShardState.Present }, states.ToArray());
        Assert.HasCount(1, AllFiles(sink.Root));
        Assert.AreEqual(written, File.GetLastWriteTimeUtc(sink.Locate(shard.PathInDataset)), "the existing shard is not rewritten");
    }

    [TestMethod]
    public async Task DifferentFileAtTheSameName_IsAnError_AndIsNeverReplaced()
    {
        using var dir = new TempDirectory();
        var sink = new FolderSink(dir.Path);
        Shard shard = await SampleShard();
        string path = sink.Locate(shard.PathInDataset);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        await File.WriteAllTextAsync(path, "not the shard");
        var other = new Shard("data/run-other.parquet", [1, 2, 3]);

        BenchException e = await Assert.ThrowsExactlyAsync<BenchException>(() => sink.AddAsync([other, shard], CancellationToken.None));

        Assert.AreEqual("MLXB3007", e.Diagnostic.Code);
        StringAssert.Contains(e.Diagnostic.Message, path);
        Assert.AreEqual("not the shard", await File.ReadAllTextAsync(path));
        Assert.IsFalse(File.Exists(sink.Locate(other.PathInDataset)), "a refused batch writes nothing");
    }

    [TestMethod]
    public async Task FailedWrite_IsACodedError_AndLeavesNoTempFile()
    {
        using var dir = new TempDirectory();
        var sink = new FolderSink(dir.Path);
        Shard shard = await SampleShard();
        Directory.CreateDirectory(sink.Locate(shard.PathInDataset));   // a folder in the way makes the final move fail

        BenchException e = await Assert.ThrowsExactlyAsync<BenchException>(() => sink.AddAsync([shard], CancellationToken.None));

        Assert.AreEqual("MLXB3003", e.Diagnostic.Code);
        Assert.IsEmpty(AllFiles(sink.Root), "no temp file and no partial shard");
    }

    [TestMethod]
    public async Task SeveralShards_AreAddedInOneCall_EachReported()
    {
        using var dir = new TempDirectory();
        var sink = new FolderSink(dir.Path);
        Shard first = await SampleShard();
        await sink.AddAsync([first], CancellationToken.None);
        var second = new Shard("data/run-second.parquet", [9, 9]);

        IReadOnlyList<ShardState> states = await sink.AddAsync([first, second], CancellationToken.None);

        CollectionAssert.AreEqual(new[] { ShardState.Present, ShardState.Added }, states.ToArray());
    }

    [TestMethod]
    public async Task Cancelled_BeforeStarting_WritesNothing()
    {
        using var dir = new TempDirectory();
        var sink = new FolderSink(dir.Path);

        await Assert.ThrowsAsync<OperationCanceledException>(() => sink.AddAsync([new Shard("data/run-x.parquet", [1])], new CancellationToken(canceled: true)));

        Assert.IsEmpty(AllFiles(sink.Root));
    }
}
