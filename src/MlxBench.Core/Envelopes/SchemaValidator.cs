using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using NJsonSchema;
using NJsonSchema.Validation;

namespace MlxBench.Core.Envelopes;

/// <summary>One way an envelope breaks the contract, with the JSON path of the offending value.</summary>
public sealed record SchemaError(string Path, string Kind, string Message)
{
    public override string ToString() => $"{Path}: {Message}";
}

/// <summary>
/// Validates envelopes against a JSON Schema (by default the embedded <c>schema.json</c>), reporting every error.
/// NJsonSchema does the draft-07 work; <c>const</c>, which it silently ignores, and <c>format: date-time</c>, which it
/// accepts in any form .NET can parse, are checked here as Python's <c>jsonschema</c> format checker does (RFC 3339).
/// </summary>
public sealed class SchemaValidator
{
    private static readonly Lazy<SchemaValidator> s_default = new(() => FromJson(ReadEmbeddedSchema()));

    private readonly JsonSchema _schema;
    private readonly JsonNode _schemaNode;

    private SchemaValidator(JsonSchema schema, JsonNode schemaNode)
    {
        _schema = schema;
        _schemaNode = schemaNode;
    }

    /// <summary>The validator for MlxBench's own v1 contract.</summary>
    public static SchemaValidator Default => s_default.Value;

    /// <summary>The text of the embedded <c>schema.json</c>.</summary>
    public static string ReadEmbeddedSchema()
    {
        using Stream stream = typeof(SchemaValidator).Assembly.GetManifestResourceStream("MlxBench.Core.schema.json")
            ?? throw new InvalidOperationException("schema.json is not embedded in MlxBench.Core");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    public static SchemaValidator FromJson(string schemaJson) =>
        new(JsonSchema.FromJsonAsync(schemaJson).GetAwaiter().GetResult(), JsonNode.Parse(schemaJson)!);

    public IReadOnlyList<SchemaError> Validate(Envelope envelope) => Validate(EnvelopeJson.Serialize(envelope));

    /// <summary>Validates JSON text; a document that is not JSON at all gives one error at <c>$</c>.</summary>
    public IReadOnlyList<SchemaError> Validate(string json)
    {
        JsonNode? instance;
        try
        {
            instance = JsonNode.Parse(json);
        }
        catch (JsonException e)
        {
            return [new SchemaError("$", "InvalidJson", $"not valid JSON: {e.Message}")];
        }

        var errors = new List<SchemaError>();
        foreach (ValidationError error in _schema.Validate(json))
            Flatten(error, errors);
        errors.RemoveAll(e => e.Kind == nameof(ValidationErrorKind.DateTimeExpected));
        CheckKeywords(_schemaNode, instance, "$", errors);
        return errors
            .Distinct()
            .OrderBy(e => e.Path, StringComparer.Ordinal)
            .ThenBy(e => e.Kind, StringComparer.Ordinal)
            .ToList();
    }

    private static void Flatten(ValidationError error, List<SchemaError> into)
    {
        if (error is ChildSchemaValidationError child && child.Errors.Count > 0)
        {
            foreach (ValidationError inner in child.Errors.SelectMany(e => e.Value))
                Flatten(inner, into);
            return;
        }
        string path = ToJsonPath(error.Path);
        // A missing property is an error of the object that lacks it, as jsonschema reports it.
        if (error.Kind == ValidationErrorKind.PropertyRequired && error.Property is { } property && path.EndsWith("." + property, StringComparison.Ordinal))
            path = path[..^(property.Length + 1)];
        into.Add(new SchemaError(path, error.Kind.ToString(), Describe(error)));
    }

    private static string Describe(ValidationError error)
    {
        string property = error.Property ?? "";
        return error.Kind switch
        {
            ValidationErrorKind.PropertyRequired => $"'{property}' is a required property",
            ValidationErrorKind.NoAdditionalPropertiesAllowed => $"'{property}' is not allowed here (additional properties are not allowed)",
            ValidationErrorKind.NotInEnumeration => $"value is not one of the allowed values {EnumOf(error.Schema)}",
            ValidationErrorKind.PatternMismatch => $"value does not match the pattern {error.Schema?.Pattern}",
            ValidationErrorKind.StringTooShort => $"value is shorter than {error.Schema?.MinLength} characters",
            _ => $"{error.Kind} ({SplitWords(error.Kind.ToString())})",
        };
    }

    private static string EnumOf(JsonSchema? schema) =>
        schema is null ? "" : "[" + string.Join(", ", schema.Enumeration.Select(v => $"\"{v}\"")) + "]";

    private static string SplitWords(string pascal) =>
        string.Concat(pascal.Select((c, i) => i > 0 && char.IsUpper(c) ? " " + char.ToLowerInvariant(c) : char.ToLowerInvariant(c).ToString()));

    /// <summary>NJsonSchema paths look like <c>#/results[0].tags</c>; report them as <c>$.results[0].tags</c>.</summary>
    internal static string ToJsonPath(string? path)
    {
        if (string.IsNullOrEmpty(path) || path == "#") return "$";
        string rest = path.StartsWith("#/", StringComparison.Ordinal) ? path[2..] : path.TrimStart('#');
        return rest.Length == 0 ? "$" : "$." + rest.Replace('/', '.');
    }

    /// <summary>Walks schema and instance together through <c>properties</c> and <c>items</c>, enforcing <c>const</c> and
    /// <c>format: date-time</c>.</summary>
    private static void CheckKeywords(JsonNode? schema, JsonNode? instance, string path, List<SchemaError> errors)
    {
        if (schema is not JsonObject s) return;
        if (s.TryGetPropertyValue("const", out JsonNode? expected) && !JsonNode.DeepEquals(expected, instance))
            errors.Add(new SchemaError(path, "ConstMismatch", $"{expected?.ToJsonString()} was expected"));
        if (s["format"]?.GetValue<string>() == "date-time" && instance is JsonValue v && v.GetValueKind() == JsonValueKind.String
            && !Rfc3339.IsDateTime(v.GetValue<string>()))
            errors.Add(new SchemaError(path, "DateTimeExpected", "value is not an RFC 3339 date-time (e.g. 2026-04-24T18:30:00Z)"));

        if (instance is JsonObject obj && s["properties"] is JsonObject properties)
        {
            foreach ((string name, JsonNode? propertySchema) in properties)
                if (obj.TryGetPropertyValue(name, out JsonNode? value))
                    CheckKeywords(propertySchema, value, $"{path}.{name}", errors);
        }
        if (instance is JsonArray array && s["items"] is JsonObject itemSchema)
        {
            for (int i = 0; i < array.Count; i++)
                CheckKeywords(itemSchema, array[i], $"{path}[{i}]", errors);
        }
    }
}

/// <summary>RFC 3339 <c>date-time</c>: full date, <c>T</c>, full time with optional fraction, and <c>Z</c> or an offset.</summary>
internal static partial class Rfc3339
{
    public static bool IsDateTime(string text) =>
        Pattern().IsMatch(text)
        && DateTimeOffset.TryParse(text, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.None, out _);

    [System.Text.RegularExpressions.GeneratedRegex(@"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")]
    private static partial System.Text.RegularExpressions.Regex Pattern();
}
