using MlxBench.Core.Envelopes;
using MlxBench.Testing;

namespace MlxBench.Core.Tests.Envelopes;

[TestClass]
public sealed class AtomicFileTests
{
    private static string[] Leftovers(TempDirectory dir) =>
        Directory.GetFiles(dir.Path, "*.tmp", SearchOption.AllDirectories).Select(Path.GetFileName).ToArray()!;

    [TestMethod]
    public void WriteAllText_CreatesFoldersAndReplacesAnOldFile_LeavingNoTempFile()
    {
        using var dir = new TempDirectory();
        string path = dir.Combine("a", "b", "envelope.json");

        AtomicFile.WriteAllText(path, "first");
        AtomicFile.WriteAllText(path, "second");

        Assert.AreEqual("second", File.ReadAllText(path));
        Assert.IsEmpty(Leftovers(dir));
    }

    [TestMethod]
    public void WrittenText_IsUtf8WithoutByteOrderMark()
    {
        using var dir = new TempDirectory();
        string path = dir.Combine("e.json");

        AtomicFile.WriteAllText(path, "{\"model\":\"qwen-é\"}");

        CollectionAssert.AreEqual(System.Text.Encoding.UTF8.GetBytes("{\"model\":\"qwen-é\"}"), File.ReadAllBytes(path));
    }

    [TestMethod]
    public void TryCreateNew_NeverReplacesAnExistingFile()
    {
        using var dir = new TempDirectory();
        string path = dir.Write("shard.parquet", "original");

        Assert.IsFalse(AtomicFile.TryCreateNew(path, "other"u8));

        Assert.AreEqual("original", File.ReadAllText(path));
        Assert.IsEmpty(Leftovers(dir));
        Assert.IsTrue(AtomicFile.TryCreateNew(dir.Combine("new.parquet"), "fresh"u8));
        Assert.AreEqual("fresh", File.ReadAllText(dir.Combine("new.parquet")));
    }

    [TestMethod]
    public void FailedMove_LeavesNoTempFileBehind()
    {
        using var dir = new TempDirectory();
        string path = dir.Combine("envelope.json");
        Directory.CreateDirectory(path);   // a folder where the file should go makes the final move fail

        Assert.ThrowsExactly<IOException>(() => AtomicFile.WriteAllText(path, "text"));

        Assert.IsEmpty(Leftovers(dir));
        Assert.IsEmpty(Directory.GetFiles(dir.Path));
    }

    [TestMethod]
    public void Serialize_ThenParse_RoundTripsAnEnvelope()
    {
        string text = SharedData.ReadFixture("upstream", "envelope.valid.json");

        string again = EnvelopeJson.Serialize(EnvelopeJson.Parse(text));

        Assert.IsTrue(System.Text.Json.Nodes.JsonNode.DeepEquals(System.Text.Json.Nodes.JsonNode.Parse(text), System.Text.Json.Nodes.JsonNode.Parse(again)), again);
        Assert.EndsWith("\n", again);
    }
}
