using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace MlxBench.Core.Converters;

/// <summary>
/// Parses the almost-JSON that Python's <c>json.dump</c> writes: bare <c>NaN</c>, <c>Infinity</c> and
/// <c>-Infinity</c> tokens become the strings "NaN", "Infinity", "-Infinity", so readers treat them as non-numeric.
/// </summary>
public static class LenientJson
{
    private static readonly string[] s_tokens = ["-Infinity", "Infinity", "NaN"];

    public static JsonNode Parse(string text)
    {
        try
        {
            return JsonNode.Parse(QuoteNonFiniteTokens(text), documentOptions: new JsonDocumentOptions { AllowTrailingCommas = true })
                ?? throw new ConversionException("the file holds JSON null");
        }
        catch (JsonException e)
        {
            throw new ConversionException($"not valid JSON ({e.Message})");
        }
    }

    /// <summary>Reads JSON Lines: one value per non-blank line.</summary>
    public static List<JsonNode> ParseLines(string text)
    {
        var values = new List<JsonNode>();
        int lineNumber = 0;
        foreach (string line in text.Split('\n'))
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            try
            {
                values.Add(Parse(line));
            }
            catch (ConversionException e)
            {
                throw new ConversionException($"line {lineNumber}: {e.Message}");
            }
        }
        return values;
    }

    internal static string QuoteNonFiniteTokens(string text)
    {
        if (!text.Contains("NaN", StringComparison.Ordinal) && !text.Contains("Infinity", StringComparison.Ordinal))
            return text;

        var builder = new StringBuilder(text.Length + 16);
        bool inString = false;
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (inString)
            {
                builder.Append(c);
                if (c == '\\' && i + 1 < text.Length) builder.Append(text[++i]);
                else if (c == '"') inString = false;
                continue;
            }
            if (c == '"')
            {
                inString = true;
                builder.Append(c);
                continue;
            }
            string? token = s_tokens.FirstOrDefault(t => string.CompareOrdinal(text, i, t, 0, t.Length) == 0);
            if (token is not null)
            {
                builder.Append('"').Append(token).Append('"');
                i += token.Length - 1;
                continue;
            }
            builder.Append(c);
        }
        return builder.ToString();
    }
}

/// <summary>Small helpers for reading loosely typed JSON values the way Python code would see them.</summary>
internal static class JsonValues
{
    /// <summary>A number (or a Python bool, which is numeric there); strings such as "N/A" or "NaN" are not.</summary>
    public static bool TryGetNumber(JsonNode? node, out double value)
    {
        value = 0;
        if (node is not JsonValue v) return false;
        switch (v.GetValueKind())
        {
            case JsonValueKind.Number:
                // 1e400 does not fit a double: not a usable number, as NaN is not.
                return v.TryGetValue(out value) && double.IsFinite(value);
            case JsonValueKind.True:
                value = 1;
                return true;
            case JsonValueKind.False:
                value = 0;
                return true;
            default:
                return false;
        }
    }

    /// <summary><c>node[key]</c> when node is an object; null for anything else, where the indexer would throw.</summary>
    public static JsonNode? Member(JsonNode? node, string key) => node is JsonObject map ? map[key] : null;

    public static bool TryGetInteger(JsonNode? node, out long value)
    {
        value = 0;
        return node is JsonValue v && v.GetValueKind() == JsonValueKind.Number && v.TryGetValue(out value);
    }

    /// <summary>What Python's <c>str()</c> gives for a JSON scalar: numbers keep their written form, strings their text.</summary>
    public static string? PythonStr(JsonNode? node) => node switch
    {
        null => null,
        JsonValue v when v.GetValueKind() == JsonValueKind.String => v.GetValue<string>(),
        JsonValue v when v.GetValueKind() == JsonValueKind.True => "True",
        JsonValue v when v.GetValueKind() == JsonValueKind.False => "False",
        JsonValue v when v.GetValueKind() == JsonValueKind.Null => null,
        _ => node.ToJsonString(),
    };

    public static string? GetString(JsonNode? node) =>
        node is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : null;

    /// <summary><c>str(int(x))</c> for a count that may be written as 100 or 100.0.</summary>
    public static string? IntegerString(JsonNode? node) =>
        TryGetNumber(node, out double d) ? ((long)d).ToString(System.Globalization.CultureInfo.InvariantCulture) : null;
}
