using System.Text.Json;

namespace MlxBench.Server.Api;

/// <summary>
/// Typed reads of a request's JSON fields. A field that is absent or null gives the default; a field of the wrong
/// type or out of range is a 400 naming the field. Fields the server does not know are ignored, as OpenAI-compatible
/// servers do (clients such as lm-eval send extras like <c>seed</c> or <c>type</c>).
/// </summary>
internal readonly struct JsonFields(JsonElement root)
{
    public JsonElement Root { get; } = root;

    public static async Task<JsonFields> ReadBodyAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        JsonDocument document;
        try
        {
            // Read whole (Kestrel caps the size) so invalid UTF-8 is refused here, not when a string is first read.
            using var body = new MemoryStream();
            await request.Body.CopyToAsync(body, cancellationToken);
            ReadOnlyMemory<byte> bytes = body.GetBuffer().AsMemory(0, (int)body.Length);
            if (!System.Text.Unicode.Utf8.IsValid(bytes.Span)) throw ApiError.BadRequest("The request body is not valid UTF-8.");
            document = JsonDocument.Parse(bytes.ToArray(), new JsonDocumentOptions { MaxDepth = 64 });
        }
        catch (JsonException e)
        {
            throw ApiError.BadRequest($"The request body is not valid JSON: {e.Message}");
        }
        catch (Microsoft.AspNetCore.Http.BadHttpRequestException e)
        {
            throw new ApiError(e.StatusCode, $"The request body could not be read: {e.Message}");
        }
        if (document.RootElement.ValueKind != JsonValueKind.Object)
            throw ApiError.BadRequest($"The request body must be a JSON object, not {Describe(document.RootElement.ValueKind)}.");
        return new JsonFields(document.RootElement);
    }

    public bool Has(string name) => Root.TryGetProperty(name, out JsonElement e) && e.ValueKind != JsonValueKind.Null;

    public JsonElement? Get(string name) => Root.TryGetProperty(name, out JsonElement e) && e.ValueKind != JsonValueKind.Null ? e : null;

    public string? String(string name)
    {
        if (Get(name) is not { } e) return null;
        return e.ValueKind == JsonValueKind.String ? e.GetString() : throw WrongType(name, "a string", e);
    }

    public bool? Bool(string name)
    {
        if (Get(name) is not { } e) return null;
        return e.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw WrongType(name, "a boolean", e),
        };
    }

    public int? Int(string name, int min, int max)
    {
        if (Get(name) is not { } e) return null;
        if (e.ValueKind != JsonValueKind.Number) throw WrongType(name, "an integer", e);
        if (!e.TryGetInt64(out long value))
        {
            // 1.0 is an integer in JSON Schema terms; 1.5 is not.
            if (e.TryGetDouble(out double d) && d == Math.Floor(d) && Math.Abs(d) < 1e15) value = (long)d;
            else throw ApiError.BadRequest($"'{name}' must be an integer, got {e.GetRawText()}.", name);
        }
        if (value < min || value > max) throw ApiError.BadRequest($"'{name}' must be between {min} and {max}, got {value}.", name);
        return (int)value;
    }

    public double? Number(string name, double min, double max)
    {
        if (Get(name) is not { } e) return null;
        if (e.ValueKind != JsonValueKind.Number) throw WrongType(name, "a number", e);
        double value = e.GetDouble();
        if (!double.IsFinite(value) || value < min || value > max)
            throw ApiError.BadRequest($"'{name}' must be between {min} and {max}, got {e.GetRawText()}.", name);
        return value;
    }

    /// <summary><c>stop</c>: a string or a list of strings.</summary>
    public IReadOnlyList<string> StringOrList(string name, int maxItems)
    {
        if (Get(name) is not { } e) return [];
        if (e.ValueKind == JsonValueKind.String) return [e.GetString()!];
        if (e.ValueKind != JsonValueKind.Array) throw WrongType(name, "a string or a list of strings", e);
        if (e.GetArrayLength() > maxItems) throw ApiError.BadRequest($"'{name}' may hold at most {maxItems} entries.", name);
        var list = new List<string>();
        foreach (JsonElement item in e.EnumerateArray())
            list.Add(item.ValueKind == JsonValueKind.String ? item.GetString()! : throw WrongType(name + "[]", "a string", item));
        return list;
    }

    public static ApiError WrongType(string name, string expected, JsonElement actual) =>
        ApiError.BadRequest($"'{name}' must be {expected}, got {Describe(actual.ValueKind)}.", name);

    public static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => "nothing",
    };
}
