using MlxBench.Core.Cells;
using MlxBench.Testing;
using static MlxBench.Core.Tests.Cells.CellPlannerTests;

namespace MlxBench.Core.Tests.Cells;

[TestClass]
public sealed class CellStoreTests
{
    [TestMethod]
    public void CellFiles_LiveUnderSuiteModelAndFingerprint()
    {
        using var dir = new TempDirectory();
        BenchCell cell = Plan([Item("mlx-community/Qwen3-8B-4bit")], [Suite("reasoning")]).Cells.Single();
        var store = new CellStore(dir.Combine("obj", "bench"));

        CellPaths paths = store.PathsFor(cell);

        Assert.AreEqual(dir.Combine("obj", "bench", "reasoning", "mlx-community-qwen3-8b-4bit", cell.Fingerprint[..16]), paths.Directory);
        Assert.AreEqual(Path.Combine(paths.Directory, "envelope.json"), paths.Envelope);
        Assert.AreEqual(Path.Combine(paths.Directory, "raw"), paths.RawDirectory);
        Assert.AreEqual(Path.Combine(paths.Directory, "cell.log"), paths.Log);
        Assert.AreEqual(Path.Combine(paths.Directory, "cell.json"), paths.CellDocument);
        Assert.AreEqual(dir.Combine("obj", "bench", "file-hashes.json"), store.FileHashCachePath);
    }

    [TestMethod]
    public void Cell_IsUpToDate_OnlyWhenItsEnvelopeExists()
    {
        using var dir = new TempDirectory();
        BenchCell cell = Plan([Item("org/a")], [Suite("reasoning")]).Cells.Single();
        var store = new CellStore(dir.Path);
        Directory.CreateDirectory(store.PathsFor(cell).RawDirectory);
        File.WriteAllText(store.PathsFor(cell).Log, "ran, then failed");
        Assert.IsFalse(store.IsUpToDate(cell));

        File.WriteAllText(store.PathsFor(cell).Envelope, "{}");

        Assert.IsTrue(store.IsUpToDate(cell));
    }

    [TestMethod]
    public void ChangedFingerprint_IsANewFolder_SoTheOldResultStaysCached()
    {
        using var dir = new TempDirectory();
        var store = new CellStore(dir.Path);
        BenchCell first = Plan([Item("org/a")], [Suite("reasoning", ("Limit", "10"))]).Cells.Single();
        BenchCell second = Plan([Item("org/a")], [Suite("reasoning", ("Limit", "20"))]).Cells.Single();
        File.WriteAllText(Path.Combine(Directory.CreateDirectory(store.PathsFor(first).Directory).FullName, "envelope.json"), "{}");

        Assert.AreNotEqual(store.PathsFor(first).Directory, store.PathsFor(second).Directory);
        Assert.IsFalse(store.IsUpToDate(second));
        Assert.IsTrue(store.IsUpToDate(first), "switching back to Limit=10 is instantly up to date");
    }
}
