namespace MlxBench.Core.Cells;

/// <summary>A harness a suite can name: its version (part of every cell's fingerprint) and, for the built-in ones,
/// the converter that reads the raw result file the harness writes.</summary>
public sealed record HarnessInfo(string Name, string Version, bool BuiltIn, string Converter = "", string RawFileName = "result.json");

/// <summary>The harness names a suite can give.</summary>
public static class Harnesses
{
    public const string Command = "command";

    /// <summary>Bump a harness's version when a change to it can change results: every cell using it reruns.
    /// Built-in harnesses run in the <c>mlxbench</c> CLI (see <c>MlxBench.Harness</c>).</summary>
    private static readonly HarnessInfo[] s_all =
    [
        new(Command, "1", BuiltIn: false),
        new("serving", "1", BuiltIn: true, Converter: "vllm", RawFileName: "serving.jsonl"),
        new("eval", "1", BuiltIn: true, Converter: "lm-eval", RawFileName: "results.json"),
        new("lm-eval", "1", BuiltIn: true, Converter: "lm-eval", RawFileName: "results.json"),
    ];

    public static IReadOnlyCollection<string> Names { get; } = s_all.Select(h => h.Name).ToArray();

    public static bool TryGet(string harness, out HarnessInfo? info)
    {
        info = s_all.FirstOrDefault(h => string.Equals(h.Name, harness, StringComparison.OrdinalIgnoreCase));
        return info is not null;
    }

    public static bool TryGetVersion(string harness, out string version)
    {
        bool found = TryGet(harness, out HarnessInfo? info);
        version = info?.Version ?? "";
        return found;
    }
}
