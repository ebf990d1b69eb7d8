namespace MlxBench.Core.Cells;

/// <summary>The v1 <c>suite</c> enum, read from the embedded schema so the two can never disagree.</summary>
public static class V1Suites
{
    private static readonly Lazy<string[]> s_names = new(() =>
    {
        var schema = System.Text.Json.Nodes.JsonNode.Parse(Envelopes.SchemaValidator.ReadEmbeddedSchema())!;
        return schema["properties"]!["suite"]!["enum"]!.AsArray().Select(n => n!.GetValue<string>()).ToArray();
    });

    public static IReadOnlyList<string> Names => s_names.Value;

    public static bool Contains(string name) => s_names.Value.Contains(name, StringComparer.Ordinal);
}
