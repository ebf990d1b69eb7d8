namespace MlxBench.Harness;

/// <summary>The built-in harnesses by name; the CLI's <c>run-cell</c> picks one from a cell's <c>Harness</c>.</summary>
public static class BuiltInHarnesses
{
    private static readonly IBuiltInHarness[] s_all =
    [
        new Serving.ServingHarness(),
        new Eval.EvalHarness(),
        new LmEval.LmEvalHarness(),
    ];

    public static IReadOnlyList<IBuiltInHarness> All => s_all;

    public static IBuiltInHarness? Find(string name) =>
        s_all.FirstOrDefault(h => string.Equals(h.Name, name, StringComparison.OrdinalIgnoreCase));
}
