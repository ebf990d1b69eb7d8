using System.CommandLine;

namespace MlxBench.Cli;

/// <summary>
/// The <c>--set Key=Value</c> option of the commands that run a harness without MSBuild: the same keys as a suite's
/// item metadata (<c>--set Concurrency=1;4;16 --set Limit=100</c>).
/// </summary>
internal static class SuiteSettings
{
    public static Option<string[]> Option(string description) =>
        new("--set") { Description = description, Arity = ArgumentArity.ZeroOrMore, AllowMultipleArgumentsPerToken = true };

    /// <summary>Adds each pair to <paramref name="metadata"/>; returns the first malformed pair, or null.</summary>
    public static string? TryAdd(IEnumerable<string>? pairs, IDictionary<string, string> metadata)
    {
        foreach (string pair in pairs ?? [])
        {
            int equals = pair.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0) return pair;
            metadata[pair[..equals].Trim()] = pair[(equals + 1)..].Trim();
        }
        return null;
    }

    public static string Malformed(string pair) => $"--set \"{pair}\" is not Key=Value (for example --set Concurrency=1;4;16)";
}
