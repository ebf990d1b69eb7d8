namespace MlxBench.Core.Cells;

/// <summary>The harness names a suite can give, with the version that goes into every cell's fingerprint.</summary>
public static class Harnesses
{
    public const string Command = "command";

    /// <summary>Bump a harness's version when a change to it can change results: every cell using it reruns.</summary>
    private static readonly Dictionary<string, string> s_versions = new(StringComparer.OrdinalIgnoreCase)
    {
        [Command] = "1",
    };

    public static IReadOnlyCollection<string> Names => s_versions.Keys;

    public static bool TryGetVersion(string harness, out string version) => s_versions.TryGetValue(harness, out version!);
}
