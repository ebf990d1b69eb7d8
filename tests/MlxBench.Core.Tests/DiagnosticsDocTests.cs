using System.Text.RegularExpressions;
using MlxBench.Testing;

namespace MlxBench.Core.Tests;

/// <summary>Users look codes up in docs/errors.md; every code Core can raise must be there, and none twice in the resx.</summary>
[TestClass]
public sealed partial class DiagnosticsDocTests
{
    [TestMethod]
    public void EveryDiagnosticCode_IsUnique_AndDocumented()
    {
        string resx = File.ReadAllText(Path.Combine(SharedData.RepoRoot, "src", "MlxBench.Core", "Diagnostics", "Strings.resx"));
        string[] codes = Code().Matches(resx).Select(m => m.Groups[1].Value).ToArray();
        string doc = File.ReadAllText(Path.Combine(SharedData.RepoRoot, "docs", "errors.md"));

        Assert.IsTrue(codes.Length > 20);
        CollectionAssert.AllItemsAreUnique(codes);
        string[] missing = codes.Where(c => !doc.Contains($"| {c} |", StringComparison.Ordinal)).ToArray();
        Assert.AreEqual(0, missing.Length, "run eng/update-errors-doc.py; not in docs/errors.md: " + string.Join(", ", missing));
    }

    [GeneratedRegex(@"<value>(MLXB\d{4}):")]
    private static partial Regex Code();
}
