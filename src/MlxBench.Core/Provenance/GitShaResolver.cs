namespace MlxBench.Core.Provenance;

/// <summary>
/// The commit an envelope records as <c>git_sha</c>: an explicit value (<c>BenchGitSha</c>), else <c>HEAD</c> of the
/// git repository the project is in. Outside any repository it is <see cref="Fallback"/>, seven zeros: it satisfies the
/// schema's pattern and cannot be mistaken for a real commit; the caller warns.
/// </summary>
public static class GitShaResolver
{
    public const string Fallback = "0000000";

    public static (string Sha, bool IsFallback) Resolve(string? explicitSha, string projectDirectory)
    {
        if (!string.IsNullOrWhiteSpace(explicitSha)) return (explicitSha.Trim(), false);
        string? head = SystemDetector.RunQuiet("git", "rev-parse HEAD", projectDirectory);
        return head is { Length: >= 7 } && head.All(Uri.IsHexDigit) ? (head, false) : (Fallback, true);
    }
}
