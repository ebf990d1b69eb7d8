using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace MlxBench.Harness.Eval.Python;

/// <summary>
/// Python's <c>json.dumps</c> output, byte for byte, for the values lm-eval hashes and writes (<c>doc_hash</c> is the
/// SHA-256 of <c>json.dumps(doc, indent=2, ensure_ascii=False)</c>; chat prompts are <c>json.dumps(messages)</c>).
/// Integers keep their written form; other numbers print as Python's <c>repr(float)</c>.
/// </summary>
public static class PyJson
{
    public static string Dumps(JsonNode? node, int? indent = null, bool ensureAscii = true)
    {
        var builder = new StringBuilder();
        Write(builder, node, indent, ensureAscii, 0);
        return builder.ToString();
    }

    private static void Write(StringBuilder b, JsonNode? node, int? indent, bool ascii, int depth)
    {
        switch (node)
        {
            case null:
                b.Append("null");
                return;
            case JsonObject obj:
                if (obj.Count == 0) { b.Append("{}"); return; }
                b.Append('{');
                bool first = true;
                foreach ((string key, JsonNode? value) in obj)
                {
                    if (!first) b.Append(indent is null ? ", " : ",");
                    first = false;
                    NewLine(b, indent, depth + 1);
                    WriteString(b, key, ascii);
                    b.Append(": ");
                    Write(b, value, indent, ascii, depth + 1);
                }
                NewLine(b, indent, depth);
                b.Append('}');
                return;
            case JsonArray array:
                if (array.Count == 0) { b.Append("[]"); return; }
                b.Append('[');
                for (int i = 0; i < array.Count; i++)
                {
                    if (i > 0) b.Append(indent is null ? ", " : ",");
                    NewLine(b, indent, depth + 1);
                    Write(b, array[i], indent, ascii, depth + 1);
                }
                NewLine(b, indent, depth);
                b.Append(']');
                return;
            case JsonValue value:
                WriteScalar(b, value, ascii);
                return;
        }
    }

    private static void NewLine(StringBuilder b, int? indent, int depth)
    {
        if (indent is not { } n) return;
        b.Append('\n').Append(' ', n * depth);
    }

    private static void WriteScalar(StringBuilder b, JsonValue value, bool ascii)
    {
        if (value.TryGetValue(out string? s)) { WriteString(b, s, ascii); return; }
        if (value.TryGetValue(out bool flag)) { b.Append(flag ? "true" : "false"); return; }
        if (value.GetValueKind() == JsonValueKind.Number)
        {
            // Parsed numbers keep Python's int/float distinction through their written form; numbers built in code
            // through theirs CLR type (a double is a Python float, an integer type a Python int).
            if (value.TryGetValue(out JsonElement element))
            {
                string raw = element.GetRawText();
                b.Append(raw.IndexOfAny(['.', 'e', 'E']) < 0 ? raw : PyFloat.Repr(element.GetDouble()));
            }
            else if (value.TryGetValue(out double d)) b.Append(JsonFloat(d));
            else if (value.TryGetValue(out float f)) b.Append(PyFloat.Repr(f));
            else b.Append(value.ToJsonString());
            return;
        }
        if (value.GetValueKind() == JsonValueKind.Null) { b.Append("null"); return; }
        b.Append(value.ToJsonString());
    }

    /// <summary>How <c>json.dumps</c> writes a float: its repr, or the bare tokens NaN / Infinity / -Infinity.</summary>
    public static string JsonFloat(double d) =>
        double.IsNaN(d) ? "NaN" : double.IsPositiveInfinity(d) ? "Infinity" : double.IsNegativeInfinity(d) ? "-Infinity" : PyFloat.Repr(d);

    /// <summary>Python's string escaping: short escapes for the usual five, \u00XX for other controls, \uXXXX past ASCII when asked.</summary>
    public static void WriteString(StringBuilder b, string s, bool ascii)
    {
        b.Append('"');
        foreach (char c in s)
        {
            switch (c)
            {
                case '"': b.Append("\\\""); break;
                case '\\': b.Append("\\\\"); break;
                case '\n': b.Append("\\n"); break;
                case '\r': b.Append("\\r"); break;
                case '\t': b.Append("\\t"); break;
                case '\b': b.Append("\\b"); break;
                case '\f': b.Append("\\f"); break;
                default:
                    if (c < 0x20 || (ascii && c > 0x7e))
                        b.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else b.Append(c);
                    break;
            }
        }
        b.Append('"');
    }
}

/// <summary>Python's <c>repr(float)</c> / <c>str(float)</c>: the shortest round-trip digits, in Python's layout.</summary>
public static class PyFloat
{
    public static string Repr(double value)
    {
        if (double.IsNaN(value)) return "nan";
        if (double.IsPositiveInfinity(value)) return "inf";
        if (double.IsNegativeInfinity(value)) return "-inf";
        if (value == 0) return double.IsNegative(value) ? "-0.0" : "0.0";

        // .NET's "R" gives the same shortest digits as Python; only the layout differs.
        string r = Math.Abs(value).ToString("R", CultureInfo.InvariantCulture);
        int exponent = 0;
        int e = r.IndexOfAny(['E', 'e']);
        string mantissa = r;
        if (e >= 0)
        {
            exponent = int.Parse(r[(e + 1)..], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
            mantissa = r[..e];
        }
        int dot = mantissa.IndexOf('.');
        string intPart = dot < 0 ? mantissa : mantissa[..dot];
        string fracPart = dot < 0 ? "" : mantissa[(dot + 1)..];
        string digits = (intPart + fracPart).TrimStart('0');
        int leadingZeros = (intPart + fracPart).Length - (intPart + fracPart).TrimStart('0').Length;
        // value = 0.<digits> x 10^decpt
        int decpt = intPart.Length + exponent - leadingZeros;
        digits = digits.TrimEnd('0');
        if (digits.Length == 0) digits = "0";

        var b = new StringBuilder();
        if (value < 0) b.Append('-');
        if (decpt > -4 && decpt <= 16)
        {
            if (decpt <= 0) b.Append("0.").Append('0', -decpt).Append(digits);
            else if (decpt >= digits.Length) b.Append(digits).Append('0', decpt - digits.Length).Append(".0");
            else b.Append(digits, 0, decpt).Append('.').Append(digits, decpt, digits.Length - decpt);
        }
        else
        {
            b.Append(digits[0]);
            if (digits.Length > 1) b.Append('.').Append(digits, 1, digits.Length - 1);
            int exp = decpt - 1;
            b.Append('e').Append(exp < 0 ? '-' : '+').Append(Math.Abs(exp).ToString("00", CultureInfo.InvariantCulture));
        }
        return b.ToString();
    }
}
