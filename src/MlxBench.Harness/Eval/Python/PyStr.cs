using System.Globalization;
using System.Text;

namespace MlxBench.Harness.Eval.Python;

/// <summary>Python <c>str</c> semantics that lm-eval's prompts and metrics depend on and .NET does differently.</summary>
public static class PyStr
{
    /// <summary><c>len(s)</c>: code points, not UTF-16 units (acc_norm divides by it).</summary>
    public static int Len(string s)
    {
        int n = 0;
        foreach (Rune _ in s.EnumerateRunes()) n++;
        return n;
    }

    /// <summary><c>str.isspace()</c> for one character: .NET's white space plus the separators U+001C..U+001F.</summary>
    public static bool IsSpace(char c) => char.IsWhiteSpace(c) || (c >= '\x1c' && c <= '\x1f');

    /// <summary><c>s.strip()</c> with no argument.</summary>
    public static string Strip(string s)
    {
        int start = 0, end = s.Length;
        while (start < end && IsSpace(s[start])) start++;
        while (end > start && IsSpace(s[end - 1])) end--;
        return s[start..end];
    }

    /// <summary><c>s.split(sep)</c> with an explicit separator: empty fields are kept.</summary>
    public static string[] Split(string s, string separator) => s.Split(separator);

    /// <summary><c>str(x)</c> for the values lm-eval writes in samples files.</summary>
    public static string Str(object? value) => value switch
    {
        null => "None",
        bool b => b ? "True" : "False",
        double d => PyFloat.Repr(d),
        float f => PyFloat.Repr(f),
        int i => i.ToString(CultureInfo.InvariantCulture),
        long l => l.ToString(CultureInfo.InvariantCulture),
        string s => s,
        _ => Convert.ToString(value, CultureInfo.InvariantCulture) ?? "",
    };
}
