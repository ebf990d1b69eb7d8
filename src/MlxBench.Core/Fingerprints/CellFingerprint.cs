using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using MlxBench.Core.Cells;

namespace MlxBench.Core.Fingerprints;

/// <summary>
/// The SHA-256 over everything that can change a cell's result: the suite's and model's metadata, the model's identity
/// (id, revision, content hash of a local file), the endpoint's identity, the harness and its version, the content of
/// the suite's data files, the SDK version and the schema version. The git commit is deliberately not part of it:
/// committing the benchmark project must not rerun every cell; nor are a suite's <c>Models</c>, <c>Timeout</c> and
/// <c>CompareThreshold</c>, so adding a model to a suite or raising its time limit does not rerun the cells that already ran.
/// </summary>
public static class CellFingerprint
{
    public static string Compute(ModelSpec model, SuiteSpec suite, EndpointSpec? endpoint, string sdkVersion, FileHashCache hashes) =>
        Hash(Describe(model, suite, endpoint, sdkVersion, hashes));

    /// <summary>The canonical document that is hashed; written beside each cell's envelope so a rerun can be explained.</summary>
    public static string Describe(ModelSpec model, SuiteSpec suite, EndpointSpec? endpoint, string sdkVersion, FileHashCache hashes)
    {
        Harnesses.TryGetVersion(suite.Harness, out string? harnessVersion);
        return Describe(model, suite, endpoint, sdkVersion, hashes, harnessVersion);
    }

    /// <summary>Suite metadata that only selects, bounds or judges a run and cannot change its result: editing it reruns
    /// nothing (<c>CompareThreshold</c> is read by the Compare target, after the fact).</summary>
    private static readonly string[] s_selectionOnlyMetadata = ["Models", "Timeout", "CompareThreshold"];

    internal static string Describe(ModelSpec model, SuiteSpec suite, EndpointSpec? endpoint, string sdkVersion, FileHashCache hashes, string harnessVersion)
    {
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
                ["metadata"] = ToJson(suite.Metadata, s_selectionOnlyMetadata),
                ["data_sha256"] = new JsonArray(suite.DataFiles.Select(f => (JsonNode?)JsonValue.Create(
                    SuiteInputs.IsReference(f) ? f : File.Exists(f) ? hashes.HashOf(f) : "missing:" + f)).ToArray()),
            },
            // A managed endpoint's URL is a random port chosen when it starts: its identity is what starts it (its
            // metadata: Server or Command and their settings), with the model already identified above.
            ["endpoint"] = endpoint is null ? null
                : endpoint.IsManaged ? new JsonObject { ["managed"] = true, ["metadata"] = ToJson(endpoint.Metadata) }
                : new JsonObject { ["base_url"] = endpoint.BaseUrl, ["metadata"] = ToJson(endpoint.Metadata) },
        };
        // Only a model given as a folder (or a whole repository) has these keys, so every other fingerprint keeps its established form.
        if (model.File is { } folder && Directory.Exists(folder))
            document["model"]!["folder_sha256"] = FolderHash(folder, hashes);
        if (model.SnapshotCommit is { } commit) document["model"]!["snapshot"] = commit;
        return CanonicalJson.Serialize(document);
    }

    /// <summary>A model folder's content: every file's relative path and SHA-256 (each cached by size and time).</summary>
    private static JsonObject FolderHash(string folder, FileHashCache hashes) =>
        new(Models.ModelFolder.Files(folder).Select(f => new KeyValuePair<string, JsonNode?>(f, hashes.HashOf(Path.Combine(folder, f)))));

    public static string Hash(string canonical) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(canonical)));

    private static JsonObject ToJson(SortedDictionary<string, string> metadata, string[]? except = null) =>
        new(metadata.Where(p => except is null || !except.Contains(p.Key, StringComparer.OrdinalIgnoreCase))
                    .Select(p => new KeyValuePair<string, JsonNode?>(p.Key, p.Value)));
}
