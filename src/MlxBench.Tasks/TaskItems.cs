using MlxBench.Core.Cells;
using MlxBench.Core.Diagnostics;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

namespace MlxBench.Tasks;

/// <summary>Where task items become Core types, and Core diagnostics become MSBuild errors and warnings.</summary>
internal static class TaskItems
{
    public static DeclaredItem ToDeclared(ITaskItem item)
    {
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (System.Collections.DictionaryEntry entry in item.CloneCustomMetadata())
            metadata[(string)entry.Key] = (string?)entry.Value ?? "";
        return new DeclaredItem(item.ItemSpec, metadata);
    }

    public static IReadOnlyList<DeclaredItem> ToDeclared(ITaskItem[]? items) => (items ?? []).Select(ToDeclared).ToList();

    public static void Log(this TaskLoggingHelper log, BenchDiagnostic diagnostic)
    {
        if (diagnostic.Severity == DiagnosticSeverity.Error)
            log.LogError(null, diagnostic.Code, null, diagnostic.File, 0, 0, 0, 0, "{0}", diagnostic.Message);
        else
            log.LogWarning(null, diagnostic.Code, null, diagnostic.File, 0, 0, 0, 0, "{0}", diagnostic.Message);
    }
}
