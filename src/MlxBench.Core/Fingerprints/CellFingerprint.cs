using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using MlxBench.Core.Cells;

namespace MlxBench.Core.Fingerprints;

/// <summary>
/// The SHA-256 over everything that can change a cell's result: the suite's and model's metadata, the model's identity
/// (id, revision, content hash of a local file), the endpoint's identity, the harness and its version, the content of
/// the suite's data files, the SDK version and the schema version. The git commit is deliberately not part of it:
/// committing the benchmark project must not rerun every cell.
/// </summary>
public static class CellFingerprint
{
    public static string Compute(ModelSpec model, SuiteSpec suite, EndpointSpec? endpoint, string sdkVersion, FileHashCache hashes) =>
        Hash(Describe(model, suite, endpoint, sdkVersion, hashes));

    /// <summary>The canonical document that is hashed; written beside each cell's envelope so a rerun can be explained.</summary>
    public static string Describe(ModelSpec model, SuiteSpec suite, EndpointSpec? endpoint, string sdkVersion, FileHashCache hashes)
    {
        Harnesses.TryGetVersion(suite.Harness, out string? harnessVersion);
        var document = new JsonObject
        {
            ["schema_version"] = Envelopes.Envelope.CurrentSchemaVersion,
            ["sdk_version"] = sdkVersion,
            ["harness"] = new JsonObject { ["name"] = suite.Harness.ToLowerInvariant(), ["version"] = harnessVersion },
            ["model"] = new JsonObject
            {
                ["id"] = model.Id,
                ["revision"] = model.Revision,
                ["file_sha256"] = model.File is { } file && File.Exists(file) ? hashes.HashOf(file) : null,
                ["metadata"] = ToJson(model.Metadata),
            },
            ["suite"] = new JsonObject
            {
                ["name"] = suite.Name,
                ["metadata"] = ToJson(suite.Metadata),
                ["data_sha256"] = new JsonArray(suite.DataFiles.Select(f => (JsonNode?)JsonValue.Create(File.Exists(f) ? hashes.HashOf(f) : "missing:" + f)).ToArray()),
            },
            // A managed endpoint's URL is a random port chosen when it starts: its identity is what starts it (its
            // metadata: Server or Command and their settings), with the model already identified above.
            ["endpoint"] = endpoint is null ? null
                : endpoint.IsManaged ? new JsonObject { ["managed"] = true, ["metadata"] = ToJson(endpoint.Metadata) }
                : new JsonObject { ["base_url"] = endpoint.BaseUrl, ["metadata"] = ToJson(endpoint.Metadata) },
        };
        return CanonicalJson.Serialize(document);
    }

    public static string Hash(string canonical) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(canonical)));

    private static JsonObject ToJson(SortedDictionary<string, string> metadata) =>
        new(metadata.Select(p => new KeyValuePair<string, JsonNode?>(p.Key, p.Value)));
}
