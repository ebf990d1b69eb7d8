using System.Text.RegularExpressions;
using MlxBench.Core.Diagnostics;

namespace MlxBench.Core.Sinks.Hub;

/// <summary>
/// <c>hf://datasets/&lt;owner&gt;/&lt;name&gt;[@revision]</c>, the form huggingface_hub's <c>HfFileSystem</c> and the
/// <c>datasets</c> library accept. The revision defaults to <c>main</c>.
/// </summary>
public sealed partial record HubDatasetReference(string RepoId, string Revision)
{
    public const string Prefix = "hf://datasets/";
    public const string DefaultRevision = "main";

    /// <summary>The revision as one URL path segment: huggingface_hub quotes it with <c>safe=""</c>, so
    /// <c>refs/pr/1</c> travels as <c>refs%2Fpr%2F1</c>.</summary>
    public string QuotedRevision => Uri.EscapeDataString(Revision);

    public override string ToString() => Revision == DefaultRevision ? Prefix + RepoId : $"{Prefix}{RepoId}@{Revision}";

    public static bool IsHub(string dataset) => dataset.StartsWith(Prefix, StringComparison.OrdinalIgnoreCase);

    public static HubDatasetReference Parse(string dataset)
    {
        Match match = Pattern().Match(dataset.Trim());
        if (!match.Success)
            throw new BenchException(BenchDiagnostic.Error("Hub.BadReference", dataset));
        string revision = match.Groups["revision"].Success ? match.Groups["revision"].Value : DefaultRevision;
        return new HubDatasetReference($"{match.Groups["owner"].Value}/{match.Groups["name"].Value}", revision);
    }

    // Owner and repository names on the Hub: letters, digits, '-', '_', '.'; a revision is a branch, tag or commit
    // (branch names may contain '/').
    [GeneratedRegex(@"^hf://datasets/(?<owner>[A-Za-z0-9][A-Za-z0-9._-]*)/(?<name>[A-Za-z0-9][A-Za-z0-9._-]*)(@(?<revision>[A-Za-z0-9][A-Za-z0-9._/-]*))?/?$", RegexOptions.IgnoreCase)]
    private static partial Regex Pattern();
}
