using System.Security.Cryptography;
using System.Text;

namespace MlxBench.Core.Tests.Hub;

/// <summary>A file in a commit: regular (content inline) or an LFS pointer to an object in storage.</summary>
internal sealed record HubFile(string Path, long Size, string BlobOid, string? LfsOid, byte[]? InlineBytes);

/// <summary>One commit: its parent, the full tree after it, and what it said.</summary>
internal sealed record HubCommit(string Oid, string? Parent, IReadOnlyDictionary<string, HubFile> Tree, string Summary, IReadOnlyList<string> AddedPaths);

/// <summary>A dataset repository the way git and the Hub keep it: branches point at commits; commits hold trees.</summary>
internal sealed class HubRepo(string id)
{
    public string Id { get; } = id;
    public Dictionary<string, string> Branches { get; } = new(StringComparer.Ordinal);
    public Dictionary<string, HubCommit> Commits { get; } = new(StringComparer.Ordinal);
    public string GitIgnore { get; set; } = "";

    public HubCommit? Resolve(string revision) =>
        Branches.TryGetValue(revision, out string? oid) ? Commits[oid]
        : Commits.TryGetValue(revision, out HubCommit? commit) ? commit
        : Commits.Values.FirstOrDefault(c => revision.Length >= 7 && c.Oid.StartsWith(revision, StringComparison.Ordinal));

    /// <summary>Commits <paramref name="files"/> on top of <paramref name="branch"/>; all or nothing.</summary>
    public HubCommit Commit(string branch, string summary, IReadOnlyList<HubFile> files)
    {
        string? parent = Branches.GetValueOrDefault(branch);
        var tree = new Dictionary<string, HubFile>(parent is null ? new Dictionary<string, HubFile>() : Commits[parent].Tree, StringComparer.Ordinal);
        foreach (HubFile file in files) tree[file.Path] = file;
        string oid = Convert.ToHexStringLower(SHA1.HashData(Encoding.UTF8.GetBytes(
            $"{parent}\n{summary}\n{string.Join("\n", tree.Values.OrderBy(f => f.Path, StringComparer.Ordinal).Select(f => $"{f.Path} {f.BlobOid}"))}\n{Commits.Count}")));
        var commit = new HubCommit(oid, parent, tree, summary, files.Select(f => f.Path).ToList());
        Commits[oid] = commit;
        Branches[branch] = oid;
        return commit;
    }

    /// <summary>Commits in branch order, newest first.</summary>
    public IEnumerable<HubCommit> History(string branch)
    {
        for (string? oid = Branches.GetValueOrDefault(branch); oid is not null; oid = Commits[oid].Parent)
            yield return Commits[oid];
    }
}

internal static class GitObjects
{
    public static string BlobOid(byte[] content)
    {
        using var sha1 = IncrementalHash.CreateHash(HashAlgorithmName.SHA1);
        sha1.AppendData(Encoding.ASCII.GetBytes($"blob {content.Length}\0"));
        sha1.AppendData(content);
        return Convert.ToHexStringLower(sha1.GetHashAndReset());
    }

    /// <summary>The pointer git-lfs commits in place of the content (git-lfs docs/spec.md).</summary>
    public static byte[] LfsPointer(string sha256, long size) =>
        Encoding.ASCII.GetBytes($"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n");

    public static HubFile Regular(string path, byte[] content) => new(path, content.Length, BlobOid(content), null, content);

    public static HubFile Lfs(string path, string sha256, long size) => new(path, size, BlobOid(LfsPointer(sha256, size)), sha256, null);

    public static string Sha256(byte[] content) => Convert.ToHexStringLower(SHA256.HashData(content));
}
