using System.Security.Cryptography;
using MlxBench.Core.Fingerprints;
using MlxBench.Testing;

namespace MlxBench.Core.Tests.Fingerprints;

[TestClass]
public sealed class FileHashCacheTests
{
    [TestMethod]
    public void HashOf_IsTheSha256OfTheContent()
    {
        using var dir = new TempDirectory();
        string file = dir.Write("weights.gguf", "GGUF weights");

        Assert.AreEqual(Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(file))), new FileHashCache(null).HashOf(file));
    }

    [TestMethod]
    public void ChangedContent_IsRehashed()
    {
        using var dir = new TempDirectory();
        string file = dir.Write("weights.gguf", "GGUF weights");
        var cache = new FileHashCache(dir.Combine("hashes.json"));
        string before = cache.HashOf(file);

        File.WriteAllText(file, "GGUF weights, retrained");
        File.SetLastWriteTimeUtc(file, DateTime.UtcNow.AddMinutes(1));

        Assert.AreNotEqual(before, cache.HashOf(file));
    }

    [TestMethod]
    public void SavedCache_IsUsedByTheNextBuild_WithoutRereadingUnchangedFiles()
    {
        using var dir = new TempDirectory();
        string file = dir.Write("weights.gguf", "GGUF weights");
        string cachePath = dir.Combine("obj", "file-hashes.json");
        var first = new FileHashCache(cachePath);
        string hash = first.HashOf(file);
        first.Save();
        Assert.IsTrue(File.Exists(cachePath));

        // Same size and write time: the next build trusts the saved hash instead of reading gigabytes again.
        DateTime written = File.GetLastWriteTimeUtc(file);
        File.WriteAllText(file, "GGUF WEIGHTS");
        File.SetLastWriteTimeUtc(file, written);

        Assert.AreEqual(hash, new FileHashCache(cachePath).HashOf(file));
    }

    [TestMethod]
    public void Save_WritesOnlyWhenSomethingChanged()
    {
        using var dir = new TempDirectory();
        string file = dir.Write("weights.gguf", "GGUF weights");
        string cachePath = dir.Combine("file-hashes.json");
        var first = new FileHashCache(cachePath);
        first.HashOf(file);
        first.Save();
        File.SetLastWriteTimeUtc(cachePath, new DateTime(2020, 1, 1, 0, 0, 0, DateTimeKind.Utc));

        var second = new FileHashCache(cachePath);
        second.HashOf(file);
        second.Save();

        Assert.AreEqual(new DateTime(2020, 1, 1, 0, 0, 0, DateTimeKind.Utc), File.GetLastWriteTimeUtc(cachePath));
    }

    [TestMethod]
    public void DamagedCacheFile_OnlyCostsARehash()
    {
        using var dir = new TempDirectory();
        string file = dir.Write("weights.gguf", "GGUF weights");
        string cachePath = dir.Write("file-hashes.json", "{ damaged");

        var cache = new FileHashCache(cachePath);

        Assert.AreEqual(new FileHashCache(null).HashOf(file), cache.HashOf(file));
        cache.Save();
        Assert.AreEqual(cache.HashOf(file), new FileHashCache(cachePath).HashOf(file));
    }
}
