using System.Collections;
using System.Globalization;
using System.Resources;
using System.Text.RegularExpressions;
using MlxBench.Core.Diagnostics;

namespace MlxBench.Core.Tests.Diagnostics;

[TestClass]
public sealed partial class BenchDiagnosticTests
{
    private static List<(string Name, string Text)> AllMessages()
    {
        ResourceSet set = BenchDiagnostic.Resources.GetResourceSet(CultureInfo.InvariantCulture, createIfNotExists: true, tryParents: true)!;
        return set.Cast<DictionaryEntry>().Select(e => ((string)e.Key, (string)e.Value!)).OrderBy(e => e.Item1, StringComparer.Ordinal).ToList();
    }

    [GeneratedRegex(@"^MLXB\d{4}: \S")]
    private static partial Regex CodedMessage();

    [GeneratedRegex(@"\{(\d+)\}")]
    private static partial Regex Placeholder();

    [TestMethod]
    public void EveryMessage_StartsWithItsCode_AndFormats()
    {
        List<(string Name, string Text)> messages = AllMessages();
        Assert.IsNotEmpty(messages);
        foreach ((string name, string text) in messages)
        {
            Assert.IsTrue(CodedMessage().IsMatch(text), $"{name} does not start with \"MLXBnnnn: \": {text}");
            int arguments = Placeholder().Matches(text).Select(m => int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) + 1).DefaultIfEmpty(0).Max();
            string formatted = new BenchDiagnostic(name, Enumerable.Range(0, arguments).Select(i => (object?)$"<{i}>").ToArray()).Text;
            Assert.DoesNotContain("{", formatted, $"{name} has a placeholder beyond its arguments or a stray brace");
        }
    }

    [TestMethod]
    public void Codes_AreNeverShared()
    {
        var byCode = AllMessages().GroupBy(m => m.Text[..8]).Where(g => g.Count() > 1).Select(g => $"{g.Key}: {string.Join(", ", g.Select(m => m.Name))}").ToArray();

        Assert.IsEmpty(byCode, string.Join("\n", byCode));
    }

    [TestMethod]
    public void Diagnostic_SplitsCodeAndMessage_AndNamesItsFile()
    {
        BenchDiagnostic diagnostic = BenchDiagnostic.Error("Items.BadShard", "5/2").InFile("/p/models.benchproj");

        Assert.AreEqual("MLXB1011", diagnostic.Code);
        StringAssert.StartsWith(diagnostic.Message, "BenchShard=\"5/2\" is not");
        Assert.AreEqual("MLXB1011: " + diagnostic.Message, diagnostic.Text);
        Assert.AreEqual("/p/models.benchproj", diagnostic.File);
        Assert.AreEqual(DiagnosticSeverity.Error, diagnostic.Severity);
        Assert.AreEqual(diagnostic.Text, new BenchException(diagnostic).Message);
    }

    [TestMethod]
    public void UnknownResource_IsAProgrammingError()
    {
        Assert.ThrowsExactly<InvalidOperationException>(() => _ = BenchDiagnostic.Error("Items.NoSuchMessage").Text);
    }
}
