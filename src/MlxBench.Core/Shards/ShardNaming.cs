using System.Security.Cryptography;
using System.Text;
using MlxBench.Core.Envelopes;

namespace MlxBench.Core.Shards;

/// <summary>
/// Upstream's shard file names: <c>data/run-&lt;ts_slug&gt;-&lt;git_sha&gt;-&lt;suite&gt;-&lt;model_slug&gt;-&lt;hash8&gt;.parquet</c>,
/// where hash8 is the start of the SHA-256 of the shard's bytes. Equal bytes give equal names, which is what makes
/// publishing idempotent and overwriting impossible.
/// </summary>
public static class ShardNaming
{
    public const string DataFolder = "data";

    public static string PathInDataset(Envelope envelope, ReadOnlySpan<byte> parquetBytes) =>
        $"{DataFolder}/run-{TimestampSlug(envelope.Timestamp)}-{envelope.GitSha}-{envelope.Suite}-{Slug(envelope.Model)}-{Hash8(parquetBytes)}.parquet";

    /// <summary>Every <c>:</c> becomes <c>-</c>, then trailing <c>Z</c>s go; fractional seconds stay.</summary>
    public static string TimestampSlug(string timestamp) => timestamp.Replace(':', '-').TrimEnd('Z');

    /// <summary>Characters outside <c>[a-zA-Z0-9-]</c> become <c>-</c>, lower case, trimmed of <c>-</c>, at most 50 characters.
    /// Runs of <c>-</c> are kept, as upstream keeps them.</summary>
    public static string Slug(string name)
    {
        var builder = new StringBuilder(name.Length);
        foreach (char c in name)
            builder.Append(char.IsAsciiLetterOrDigit(c) || c == '-' ? char.ToLowerInvariant(c) : '-');
        string slug = builder.ToString().Trim('-');
        return slug.Length > 50 ? slug[..50] : slug;
    }

    public static string Hash8(ReadOnlySpan<byte> bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes))[..8];
}
