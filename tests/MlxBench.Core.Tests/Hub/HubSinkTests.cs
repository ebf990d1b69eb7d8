using System.Text;
using MlxBench.Core.Diagnostics;
using MlxBench.Core.Envelopes;
using MlxBench.Core.Shards;
using MlxBench.Core.Sinks;
using MlxBench.Core.Sinks.Hub;

namespace MlxBench.Core.Tests.Hub;

[TestClass]
public sealed class HubSinkTests
{
    private const string Token = "hf_canaryA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUv";
    private const string RepoId = "acme/llm-bench";

    private FakeHubServer _server = null!;
    private RecordingTimeProvider _clock = null!;
    private readonly List<BenchDiagnostic> _reported = [];

    [TestInitialize]
    public async Task StartAsync()
    {
        _server = await FakeHubServer.StartAsync(Token);
        _server.CreateDataset(RepoId);
        _clock = new RecordingTimeProvider();
    }

    [TestCleanup]
    public async Task StopAsync() => await _server.DisposeAsync();

    private HubSettings Settings(string? token = Token) => new()
    {
        Endpoint = _server.Endpoint,
        Token = token is null ? null : HubToken.Of(token),
        TimeProvider = _clock,
        RequestTimeout = TimeSpan.FromSeconds(20),
    };

    private HubSink Sink(string? token = Token, string dataset = "hf://datasets/" + RepoId) =>
        new(HubDatasetReference.Parse(dataset), Settings(token), d => { lock (_reported) _reported.Add(d); });

    private static Task<IReadOnlyList<Shard>> ThreeShardsAsync() => FixtureEnvelopes.ShardsAsync(FixtureEnvelopes.Three());

    private HubCommit[] History() => _server.Read(() => _server.Repo(RepoId).History("main").ToArray());

    private int Count(HubOperation operation) => _server.Requests.Count(r => r.Operation == operation);

    [TestMethod]
    public async Task ThreeEnvelopes_BecomeOneCommitWithThreeLfsShards()
    {
        IReadOnlyList<Shard> shards = await ThreeShardsAsync();
        HubSink sink = Sink();

        IReadOnlyList<ShardState> states = await sink.AddAsync(shards, CancellationToken.None);

        CollectionAssert.AreEqual(new[] { ShardState.Added, ShardState.Added, ShardState.Added }, states.ToArray());
        HubCommit[] history = History();
        Assert.AreEqual(2, history.Length, "initial commit + exactly one publish commit");
        Assert.AreEqual(sink.LastCommit, history[0].Oid);
        CollectionAssert.AreEquivalent(shards.Select(s => s.PathInDataset).ToArray(), history[0].AddedPaths.ToArray());
        foreach (Shard shard in shards)
        {
            HubFile file = history[0].Tree[shard.PathInDataset];
            Assert.AreEqual(GitObjects.Sha256(shard.Bytes), file.LfsOid, $"{shard.PathInDataset} must be an LFS pointer to its bytes");
            CollectionAssert.AreEqual(shard.Bytes, _server.StoredObject(file.LfsOid!));
            StringAssert.StartsWith(shard.PathInDataset, "data/run-2026-11-20T10-00-00-d5a124d-");
        }
        Assert.AreEqual(3, Count(HubOperation.LfsUpload));
        Assert.AreEqual(3, Count(HubOperation.LfsVerify));
        Assert.AreEqual(1, Count(HubOperation.LfsBatch));
        Assert.AreEqual(1, Count(HubOperation.Commit));
        Assert.IsFalse(_server.Requests.Any(r => r.Operation == HubOperation.LfsUpload && r.Authorized), "the token must never go to LFS storage");
        Assert.AreEqual(0, _reported.Count, string.Join("\n", _reported));
    }

    [TestMethod]
    public async Task PublishingAgain_CreatesNothing_AndReportsPresent()
    {
        IReadOnlyList<Shard> shards = await ThreeShardsAsync();
        await Sink().AddAsync(shards, CancellationToken.None);
        int requestsBefore = _server.Requests.Count;

        IReadOnlyList<ShardState> again = await Sink().AddAsync(await ThreeShardsAsync(), CancellationToken.None);

        CollectionAssert.AreEqual(new[] { ShardState.Present, ShardState.Present, ShardState.Present }, again.ToArray());
        Assert.AreEqual(2, History().Length, "no second commit");
        HubRequestRecord[] second = _server.Requests.Skip(requestsBefore).ToArray();
        CollectionAssert.AreEqual(new[] { HubOperation.Revision, HubOperation.PathsInfo }, second.Select(r => r.Operation).ToArray(),
            "a re-run only looks: " + string.Join(", ", second.Select(r => r.Operation)));
    }

    [TestMethod]
    public async Task InjectedFaults_429_500_AndADroppedUpload_EndInTheSameState_WithNothingDuplicated()
    {
        IReadOnlyList<Shard> shards = await ThreeShardsAsync();
        _server.Faults
            .Add(new StatusFault(HubOperation.Revision, 429, RetryAfter: "7"))
            .Add(new StatusFault(HubOperation.PathsInfo, 500))
            .Add(new StatusFault(HubOperation.Preupload, 503))
            .Add(new StatusFault(HubOperation.LfsBatch, 429, RetryAfter: "3"))
            .Add(new DropMidBodyFault(HubOperation.LfsUpload, BytesBeforeDrop: 256))
            .Add(new StatusFault(HubOperation.LfsVerify, 502))
            .Add(new StatusFault(HubOperation.Commit, 500));

        IReadOnlyList<ShardState> states = await Sink().AddAsync(shards, CancellationToken.None);

        Assert.AreEqual(0, _server.Faults.Pending, "every fault was hit");
        CollectionAssert.AreEqual(new[] { ShardState.Added, ShardState.Added, ShardState.Added }, states.ToArray());
        AssertExactlyOnce(shards, commits: 1);
        Assert.IsTrue(_server.Requests.Any(r => r.Fault == nameof(DropMidBodyFault)), "the upload was cut mid-body");
        Assert.AreEqual(7, _reported.Count, string.Join("\n", _reported));
        Assert.IsTrue(_reported.All(d => d.Code == "MLXB3109" && d.Severity == DiagnosticSeverity.Warning), string.Join("\n", _reported));
        // Retry-After is honoured as sent; without it the backoff starts near BaseDelay (1 s, with jitter).
        Assert.IsTrue(_clock.Delays.Contains(TimeSpan.FromSeconds(7)), string.Join(", ", _clock.Delays));
        Assert.IsTrue(_clock.Delays.Contains(TimeSpan.FromSeconds(3)), string.Join(", ", _clock.Delays));
        Assert.IsTrue(_clock.Delays.All(d => d <= TimeSpan.FromSeconds(30)), string.Join(", ", _clock.Delays));

        // And the same again with faults: still nothing new.
        _server.Faults.Add(new StatusFault(HubOperation.PathsInfo, 500)).Add(new StatusFault(HubOperation.Revision, 429, "1"));
        IReadOnlyList<ShardState> again = await Sink().AddAsync(await ThreeShardsAsync(), CancellationToken.None);
        CollectionAssert.AreEqual(new[] { ShardState.Present, ShardState.Present, ShardState.Present }, again.ToArray());
        AssertExactlyOnce(shards, commits: 1);
    }

    [TestMethod]
    public async Task ACommitWhoseAnswerIsLost_IsNotCommittedTwice()
    {
        IReadOnlyList<Shard> shards = await ThreeShardsAsync();
        _server.Faults.Add(new DropAnswerFault(HubOperation.Commit));

        IReadOnlyList<ShardState> states = await Sink().AddAsync(shards, CancellationToken.None);

        // The first commit landed; its retry met a moved branch (412), the re-plan found all three shards there.
        AssertExactlyOnce(shards, commits: 1);
        Assert.IsTrue(_server.Requests.Any(r => r.Operation == HubOperation.Commit && r.Status == 412), string.Join("\n", _server.Requests));
        CollectionAssert.AreEqual(new[] { ShardState.Present, ShardState.Present, ShardState.Present }, states.ToArray());
    }

    [TestMethod]
    public async Task AConflictingParentCommit_IsReplanned_AndKeepsTheOtherWritersWork()
    {
        IReadOnlyList<Shard> shards = await ThreeShardsAsync();
        HubRepo repo = _server.Repo(RepoId);
        _server.Faults.Add(new ConcurrentWriterFault(HubOperation.Commit,
            r => r.Commit("main", "another writer", [GitObjects.Regular("README.md", Encoding.UTF8.GetBytes("# llm-bench\n"))])));

        IReadOnlyList<ShardState> states = await Sink().AddAsync(shards, CancellationToken.None);

        CollectionAssert.AreEqual(new[] { ShardState.Added, ShardState.Added, ShardState.Added }, states.ToArray());
        HubCommit[] history = History();
        CollectionAssert.AreEqual(new[] { "feat: add 3 benchmark shards", "another writer", "initial commit" }, history.Select(c => c.Summary).ToArray());
        Assert.IsTrue(history[0].Tree.ContainsKey("README.md"), "the other writer's file survives");
        Assert.AreEqual(1, _server.Requests.Count(r => r.Operation == HubOperation.Commit && r.Status == 412));
        Assert.AreEqual(3, _server.StoredObjects, "re-planning does not upload again what storage already holds");
        Assert.AreEqual(3, Count(HubOperation.LfsUpload));
        AssertExactlyOnce(shards, commits: 1);
    }

    [TestMethod]
    public async Task AConcurrentWriterWhoAddsOneOfOurShards_LeavesItPresent_AndWeCommitTheRest()
    {
        IReadOnlyList<Shard> shards = await ThreeShardsAsync();
        _server.Faults.Add(new ConcurrentWriterFault(HubOperation.Commit,
            _ => _server.CommitAsAnotherWriter(_server.Repo(RepoId), "main", shards[1].PathInDataset, shards[1].Bytes, lfs: true)));

        IReadOnlyList<ShardState> states = await Sink().AddAsync(shards, CancellationToken.None);

        CollectionAssert.AreEqual(new[] { ShardState.Added, ShardState.Present, ShardState.Added }, states.ToArray());
        HubCommit[] history = History();
        CollectionAssert.AreEquivalent(new[] { shards[0].PathInDataset, shards[2].PathInDataset }, history[0].AddedPaths.ToArray());
        AssertExactlyOnce(shards, commits: 2);
    }

    [TestMethod]
    public async Task ARepoThatKeepsMoving_IsACodedError_AndCommitsNothing()
    {
        IReadOnlyList<Shard> shards = await ThreeShardsAsync();
        int n = 0;
        for (int i = 0; i < 10; i++)
            _server.Faults.Add(new ConcurrentWriterFault(HubOperation.Commit,
                r => r.Commit("main", "busy writer", [GitObjects.Regular($"notes/{Interlocked.Increment(ref n)}.md", [1, 2, 3])])));

        var error = await Assert.ThrowsExactlyAsync<BenchException>(() => Sink().AddAsync(shards, CancellationToken.None));

        Assert.AreEqual("MLXB3108", error.Diagnostic.Code, error.Message);
        Assert.IsFalse(History().Any(c => c.Summary.StartsWith("feat:", StringComparison.Ordinal)));
    }

    [TestMethod]
    public async Task PersistentServerErrors_AreACodedError_AfterTheRetryBudget()
    {
        _server.Faults.Add(new StatusFault(HubOperation.Preupload, 500) { Remaining = 100 });

        var error = await Assert.ThrowsExactlyAsync<BenchException>(async () => await Sink().AddAsync(await ThreeShardsAsync(), CancellationToken.None));

        Assert.AreEqual("MLXB3106", error.Diagnostic.Code, error.Message);
        StringAssert.Contains(error.Message, "failed after 6 attempt(s): HTTP 500");
        Assert.AreEqual(6, Count(HubOperation.Preupload), "1 attempt + MaxRetries (5)");
        Assert.AreEqual(5, _reported.Count(d => d.Code == "MLXB3109"));
        Assert.AreEqual(1, History().Length, "nothing committed");
    }

    [TestMethod]
    public async Task AMissingToken_IsMLXB3101_BeforeAnyRequest()
    {
        var error = await Assert.ThrowsExactlyAsync<BenchException>(async () => await Sink(token: null).AddAsync(await ThreeShardsAsync(), CancellationToken.None));

        Assert.AreEqual("MLXB3101", error.Diagnostic.Code);
        StringAssert.Contains(error.Message, "HF_TOKEN");
        Assert.AreEqual(0, _server.Requests.Count);
    }

    [TestMethod]
    public async Task ARejectedToken_IsMLXB3102_AndNeverShown()
    {
        const string wrong = "hf_canaryWRONGwrongWRONGwrongWRONGwrong";

        var error = await Assert.ThrowsExactlyAsync<BenchException>(async () => await Sink(token: wrong).AddAsync(await ThreeShardsAsync(), CancellationToken.None));

        Assert.AreEqual("MLXB3102", error.Diagnostic.Code, error.Message);
        StringAssert.Contains(error.Message, "401");
        Assert.IsFalse(error.ToString().Contains(wrong, StringComparison.Ordinal));
        Assert.AreEqual(1, History().Length);
    }

    [TestMethod]
    public async Task TheToken_AppearsInNoDiagnostic_NoException_AndNoLocation()
    {
        // Everything a user can see from a faulty, then failing publish.
        _server.Faults.Add(new StatusFault(HubOperation.Revision, 429, "1")).Add(new DropMidBodyFault(HubOperation.LfsUpload))
            .Add(new StatusFault(HubOperation.Commit, 500) { Remaining = 100 });
        HubSink sink = Sink();
        var error = await Assert.ThrowsExactlyAsync<BenchException>(async () => await sink.AddAsync(await ThreeShardsAsync(), CancellationToken.None));

        string seen = string.Join("\n", _reported.Select(d => d.Text)) + error + sink.Location + sink.Locate("data/x.parquet") + Settings().Token;
        Assert.IsFalse(seen.Contains(Token, StringComparison.Ordinal));
        Assert.IsFalse(seen.Contains(Token[3..], StringComparison.Ordinal));
        Assert.AreEqual("***", HubToken.Of(Token).ToString());
    }

    [TestMethod]
    public async Task AnExistingPathWithOtherBytes_IsRefused_NeverOverwritten()
    {
        IReadOnlyList<Shard> shards = await ThreeShardsAsync();
        _server.CommitAsAnotherWriter(_server.Repo(RepoId), "main", shards[0].PathInDataset, [9, 9, 9], lfs: true);

        var error = await Assert.ThrowsExactlyAsync<BenchException>(() => Sink().AddAsync(shards, CancellationToken.None));

        Assert.AreEqual("MLXB3110", error.Diagnostic.Code, error.Message);
        Assert.AreEqual(2, History().Length, "nothing committed over it");
    }

    [TestMethod]
    public async Task AnIgnoredShardPath_IsRefused_SoNoShardIsSilentlyLost()
    {
        _server.Repo(RepoId).GitIgnore = "*.parquet\n";

        var error = await Assert.ThrowsExactlyAsync<BenchException>(async () => await Sink().AddAsync(await ThreeShardsAsync(), CancellationToken.None));

        Assert.AreEqual("MLXB3111", error.Diagnostic.Code, error.Message);
    }

    [TestMethod]
    public async Task AnUnknownDataset_IsMLXB3105()
    {
        var error = await Assert.ThrowsExactlyAsync<BenchException>(async () =>
            await Sink(dataset: "hf://datasets/acme/nope").AddAsync(await ThreeShardsAsync(), CancellationToken.None));

        Assert.AreEqual("MLXB3105", error.Diagnostic.Code, error.Message);
    }

    [TestMethod]
    public async Task ARevision_PublishesToThatBranch()
    {
        _server.Read(() => _server.Repo(RepoId).Branches["bench"] = _server.Repo(RepoId).Branches["main"]);
        IReadOnlyList<Shard> shards = await ThreeShardsAsync();
        HubSink sink = Sink(dataset: $"hf://datasets/{RepoId}@bench");

        await sink.AddAsync(shards, CancellationToken.None);

        Assert.AreEqual(1, History().Length, "main is untouched");
        Assert.AreEqual(2, _server.Read(() => _server.Repo(RepoId).History("bench").Count()));
        StringAssert.EndsWith(sink.Locate(shards[0].PathInDataset), $"/datasets/{RepoId}/blob/bench/{shards[0].PathInDataset}");
    }

    [TestMethod]
    public async Task ADryRun_PlansEveryShard_WithoutARequestOrAToken()
    {
        using var folder = new MlxBench.Testing.TempDirectory("hub-dry");
        var paths = new List<string>();
        foreach ((Envelope envelope, int i) in FixtureEnvelopes.Three().Select((e, i) => (e, i)))
        {
            string path = Path.Combine(folder.Path, $"envelope{i}.json");
            EnvelopeJson.WriteAtomically(envelope, path);
            paths.Add(path);
        }
        var publisher = new DatasetPublisher(Sink(token: null), SchemaValidator.Default) { DryRun = true };

        var (published, problems) = await publisher.PublishAsync(paths, CancellationToken.None);

        Assert.AreEqual(0, problems.Count, string.Join("\n", problems));
        Assert.AreEqual(3, published.Count(p => p.State == ShardState.Planned && p.Size > 0));
        Assert.AreEqual(0, _server.Requests.Count, "a dry run sends nothing");
    }

    [TestMethod]
    public async Task TheTree_IsListedAcrossPages_AndShardsDownloadByteForByte()
    {
        IReadOnlyList<Shard> shards = await ThreeShardsAsync();
        await Sink().AddAsync(shards, CancellationToken.None);
        _server.TreePageSize = 2;
        using var client = new HubClient(Settings(token: null));
        var repo = HubDatasetReference.Parse("hf://datasets/" + RepoId);

        var listed = new List<HubPathInfo>();
        await foreach (HubPathInfo entry in client.ListTreeAsync(repo, "data", CancellationToken.None)) listed.Add(entry);

        CollectionAssert.AreEquivalent(shards.Select(s => s.PathInDataset).ToArray(), listed.Select(e => e.Path).ToArray());
        Assert.AreEqual(2, Count(HubOperation.Tree), "3 entries in pages of 2");
        foreach (Shard shard in shards)
            CollectionAssert.AreEqual(shard.Bytes, await client.DownloadAsync(repo, shard.PathInDataset, CancellationToken.None));
    }

    private void AssertExactlyOnce(IReadOnlyList<Shard> shards, int commits)
    {
        HubCommit[] history = History();
        foreach (Shard shard in shards)
        {
            Assert.AreEqual(1, history.Count(c => c.AddedPaths.Contains(shard.PathInDataset)), $"{shard.PathInDataset} committed exactly once");
            Assert.AreEqual(GitObjects.Sha256(shard.Bytes), history[0].Tree[shard.PathInDataset].LfsOid);
        }
        Assert.AreEqual(commits, history.Count(c => c.AddedPaths.Any(p => p.StartsWith("data/", StringComparison.Ordinal))), "commits adding shards");
        Assert.AreEqual(shards.Count, history[0].Tree.Keys.Count(p => p.StartsWith("data/", StringComparison.Ordinal)), "no extra shard files");
    }
}
