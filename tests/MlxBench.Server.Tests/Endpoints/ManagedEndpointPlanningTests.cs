using MlxBench.Core.Cells;
using MlxBench.Core.Fingerprints;
using MlxBench.Testing;

namespace MlxBench.Server.Tests.Endpoints;

/// <summary>How the planner reads managed endpoints: accepted with their settings checked, and fingerprinted by what
/// starts them, never by the port they get.</summary>
[TestClass]
public sealed class ManagedEndpointPlanningTests
{
    private static DeclaredItem Item(string name, params (string Key, string Value)[] metadata) =>
        new(name, metadata.ToDictionary(m => m.Key, m => m.Value));

    private static Plan PlanWith(TempDirectory dir, DeclaredItem endpoint, DeclaredItem? model = null) =>
        new CellPlanner(new PlanOptions { ProjectDirectory = dir.Path, SdkVersion = "1.0.0" }, new FileHashCache(null)).Plan(
            [model ?? Item("karpathy/tinyllamas", ("File", "m.gguf"), ("Endpoint", "engine"))],
            [Item("throughput", ("Harness", "command"), ("Command", "true"))],
            [endpoint]);

    [TestMethod]
    public void NativeServer_IsPlanned_WithAnEmptyBaseUrl_UntilItRuns()
    {
        using var dir = new TempDirectory("mlxb-plan");
        Plan plan = PlanWith(dir, Item("engine", ("Server", "native"), ("Parallel", "4")));
        Assert.IsFalse(plan.HasErrors, string.Join("\n", plan.Diagnostics));
        EndpointSpec endpoint = plan.Cells.Single().Endpoint!;
        Assert.IsTrue(endpoint.IsManaged);
        Assert.AreEqual("native", endpoint.Server);
        Assert.AreEqual("", endpoint.BaseUrl);
        Assert.AreEqual("4", endpoint.Metadata["Parallel"]);
    }

    [TestMethod]
    public void Fingerprint_DependsOnTheEndpointsSettings_NotOnItsUrl()
    {
        using var dir = new TempDirectory("mlxb-plan");
        BenchCell a = PlanWith(dir, Item("engine", ("Server", "native"))).Cells.Single();
        BenchCell b = PlanWith(dir, Item("engine", ("Server", "native"), ("Parallel", "2"))).Cells.Single();
        BenchCell c = PlanWith(dir, Item("engine", ("Command", "llama-server --port $MLXBENCH_PORT"))).Cells.Single();
        Assert.AreNotEqual(a.Fingerprint, b.Fingerprint);
        Assert.AreNotEqual(a.Fingerprint, c.Fingerprint);

        var hashes = new FileHashCache(null);
        string planned = CellFingerprint.Compute(a.Model, a.Suite, a.Endpoint, "1.0.0", hashes);
        string started = CellFingerprint.Compute(a.Model, a.Suite, a.Endpoint! with { BaseUrl = "http://127.0.0.1:41234/v1" }, "1.0.0", hashes);
        Assert.AreEqual(planned, started, "the random port a server gets is not part of the cell's identity");
        Assert.AreEqual(a.Fingerprint, planned);
    }

    [TestMethod]
    [DataRow("Server=llama", "MLXB5002")]
    [DataRow("Server=native;Command=x", "MLXB5003")]
    [DataRow("Server=native;BaseUrl=http://127.0.0.1:1/v1", "MLXB5004")]
    [DataRow("Command=x;ReadyTimeout=soon", "MLXB1012")]
    [DataRow("Server=native;Parallel=0", "MLXB1012")]
    public void BadManagedEndpoint_IsACodedError(string metadata, string code)
    {
        using var dir = new TempDirectory("mlxb-plan");
        var pairs = metadata.Split(';').Select(p => p.Split('=', 2)).Select(p => (p[0], p[1])).ToArray();
        Plan plan = PlanWith(dir, Item("engine", pairs));
        Assert.IsTrue(plan.HasErrors);
        CollectionAssert.Contains(plan.Diagnostics.Select(d => d.Code).ToArray(), code, string.Join("\n", plan.Diagnostics));
    }

    [TestMethod]
    public void NativeServer_ForAModelWithoutFile_IsIdentifiedByTheCommitOfItsCachedRepository()
    {
        // No File: the whole repository is the model folder (an MLX conversion); its snapshot commit is its identity.
        using var dir = new TempDirectory("mlxb-plan");
        string repo = Path.Combine(dir.Path, "hub", "models--some--model");
        void Snapshot(string commit)
        {
            Directory.CreateDirectory(Path.Combine(repo, "snapshots", commit));
            File.WriteAllText(Path.Combine(repo, "snapshots", commit, "config.json"), "{}");
            Directory.CreateDirectory(Path.Combine(repo, "refs"));
            File.WriteAllText(Path.Combine(repo, "refs", "main"), commit);
        }
        var env = new Dictionary<string, string> { ["HF_HUB_CACHE"] = Path.Combine(dir.Path, "hub"), ["HF_HUB_OFFLINE"] = "1" };
        BenchCell Planned()
        {
            Plan plan = new CellPlanner(new PlanOptions { ProjectDirectory = dir.Path, SdkVersion = "1.0.0", Environment = n => env.GetValueOrDefault(n) }, new FileHashCache(null)).Plan(
                [Item("some/model", ("Endpoint", "engine"))], [Item("throughput", ("Harness", "command"), ("Command", "true"))], [Item("engine", ("Server", "native"))]);
            Assert.IsFalse(plan.HasErrors, string.Join("\n", plan.Diagnostics));
            return plan.Cells.Single();
        }

        BenchCell uncached = Planned();
        Assert.IsNull(uncached.Model.SnapshotCommit, "offline and not cached: nothing to know it by but its revision");
        Snapshot("1111111111111111111111111111111111111111");
        BenchCell first = Planned();
        Assert.AreEqual("1111111111111111111111111111111111111111", first.Model.SnapshotCommit);
        Assert.AreEqual(first.Fingerprint, Planned().Fingerprint);
        Snapshot("2222222222222222222222222222222222222222");
        Assert.AreNotEqual(first.Fingerprint, Planned().Fingerprint, "the repository moved on: the cell reruns");
    }
}
