using MlxBench.Core.Endpoints;

namespace MlxBench.Core.Cells;

/// <summary>
/// What a suite reads besides its metadata, named the way its fingerprint records it (see
/// <see cref="SuiteSpec.DataFiles"/>): a local file by its full path (the fingerprint hashes its content), and a
/// HuggingFace data set by its <c>hf://datasets/...</c> reference, followed by <c>#</c> and the snapshot commit the
/// local HF cache resolves its revision to, when the cache has it.
/// </summary>
/// <remarks>
/// The forms are those the harnesses read: <c>Data</c> and <c>FewshotData</c> hold <c>;</c>-separated paths (a file
/// name may be a glob), <c>task=path</c> entries for the suite's <c>Tasks</c> (the eval harness), or
/// <c>hf://datasets/&lt;owner&gt;/&lt;name&gt;[@revision]/&lt;file or glob&gt;</c>; a serving suite's
/// <c>Dataset</c> names a JSONL file unless it is <c>random</c> or <c>shared-prefix</c>; a <c>Tasks</c> entry that is a
/// task file (<c>.yaml</c>, <c>.yml</c>, <c>.json</c>) is hashed too (not the data file it names). A reference pinned to a commit
/// (<c>@</c> and 40 hex digits) is identified by its text alone. A branch reference gets its commit once the data is in
/// the cache, so the first Bench after a harness downloads it reruns the cell once (download it beforehand with
/// <c>huggingface-cli download --repo-type dataset</c>, or pin the commit, to avoid that).
/// </remarks>
public static class SuiteInputs
{
    public const string HfPrefix = "hf://datasets/";

    /// <summary>True for an entry that names no local file (a HuggingFace reference).</summary>
    public static bool IsReference(string entry) => entry.StartsWith(HfPrefix, StringComparison.Ordinal);

    /// <param name="missing">Receives each Data or FewshotData entry that names no local file: (metadata name, entry, full path).</param>
    public static string[] Resolve(DeclaredItem suite, string projectDirectory, HfModelCache hf, List<(string Key, string Entry, string Path)>? missing = null)
    {
        IReadOnlyList<string> tasks = CellPlanner.SplitList(suite.Get("Tasks"));
        var entries = new List<string>();
        foreach (string key in new[] { "Data", "FewshotData" })
            foreach (string part in CellPlanner.SplitList(suite.Get(key)))
                foreach (string entry in ResolveOne(WithoutTask(part, tasks), projectDirectory, hf))
                {
                    if (!IsReference(entry) && !File.Exists(entry)) missing?.Add((key, part, entry));
                    entries.Add(entry);
                }
        // A user task file (eval's task format) is read like data; other Tasks entries are task names.
        foreach (string task in tasks)
            if (Path.GetExtension(task).ToLowerInvariant() is ".yaml" or ".yml" or ".json" && Path.GetFullPath(Path.Combine(projectDirectory, task)) is var file && File.Exists(file))
                entries.Add(file);
        if (string.Equals(suite.Get("Harness"), "serving", StringComparison.OrdinalIgnoreCase) && suite.Get("Dataset") is { } dataset
            && !dataset.Equals("random", StringComparison.OrdinalIgnoreCase) && !dataset.Equals("shared-prefix", StringComparison.OrdinalIgnoreCase))
            entries.Add(Path.GetFullPath(Path.Combine(projectDirectory, dataset)));
        // A file named twice (in Data and as the Dataset, say) is one input.
        return entries.Distinct(StringComparer.Ordinal).ToArray();
    }

    /// <summary><c>task=path</c> for one of the suite's tasks is that path (which task reads it is in the metadata).</summary>
    private static string WithoutTask(string part, IReadOnlyList<string> tasks)
    {
        int eq = part.IndexOf('=');
        return eq > 0 && tasks.Contains(part[..eq].Trim(), StringComparer.Ordinal) ? part[(eq + 1)..].Trim() : part;
    }

    private static IEnumerable<string> ResolveOne(string value, string projectDirectory, HfModelCache hf)
    {
        if (IsReference(value)) return [WithCachedCommit(value, hf)];
        string path = Path.GetFullPath(Path.Combine(projectDirectory, value));
        string name = Path.GetFileName(path);
        if (name.IndexOfAny(['*', '?']) < 0) return [path];
        string directory = Path.GetDirectoryName(path)!;
        string[] matches = Directory.Exists(directory) ? Directory.GetFiles(directory, name).Order(StringComparer.Ordinal).ToArray() : [];
        return matches.Length > 0 ? matches : [path];
    }

    /// <summary><c>hf://datasets/owner/name[@revision]/pattern</c>, plus <c>#commit</c> when the cache resolves the revision.</summary>
    private static string WithCachedCommit(string reference, HfModelCache hf)
    {
        string[] parts = reference[HfPrefix.Length..].Split('/', 3);
        if (parts.Length < 3 || parts[0].Length == 0 || parts[1].Length == 0) return reference;   // the harness reports the bad form
        string name = parts[1], revision = "main";
        if (name.IndexOf('@') is var at and >= 0)
        {
            revision = name[(at + 1)..];
            name = name[..at];
        }
        if (HfModelCache.IsCommitHash(revision)) return reference;
        return hf.CachedDatasetCommit($"{parts[0]}/{name}", revision) is { } commit ? $"{reference}#{commit}" : reference;
    }
}
