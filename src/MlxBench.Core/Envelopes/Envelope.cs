using System.Text.Json;
using System.Text.Json.Serialization;

namespace MlxBench.Core.Envelopes;

/// <summary>
/// A v1 result envelope: one benchmark run of one model on one suite. Field names and optionality follow
/// <c>schema.json</c>; fields this type does not know are kept in <see cref="Extra"/> so a passthrough never loses data.
/// Reading JSON that lacks a required field fails (<see cref="JsonRequiredAttribute"/>) rather than filling in a default
/// that would then validate.
/// </summary>
public sealed class Envelope
{
    public const string CurrentSchemaVersion = "1";

    [JsonRequired] public string SchemaVersion { get; set; } = CurrentSchemaVersion;
    [JsonRequired] public string Timestamp { get; set; } = "";
    [JsonRequired] public string GitSha { get; set; } = "";
    [JsonRequired] public string Trigger { get; set; } = "local";
    public long? PrNumber { get; set; }
    [JsonRequired] public string Suite { get; set; } = "";
    [JsonRequired] public string Model { get; set; } = "";
    public string? ModelRevision { get; set; }
    public string? Quantization { get; set; }
    public bool? Skipped { get; set; }
    public long? Seed { get; set; }
    public GenKwargs? GenKwargs { get; set; }
    public string? EnvClass { get; set; }
    public long? Concurrency { get; set; }
    public string? ReasoningEffort { get; set; }
    [JsonRequired] public SystemInfo System { get; set; } = new();
    [JsonRequired] public List<BenchmarkResult> Results { get; set; } = [];
    public JsonElement? MemorySnapshots { get; set; }
    public List<string>? Errors { get; set; }

    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Extra { get; set; }
}

/// <summary>Generation hyperparameters as passed to the inference API.</summary>
public sealed class GenKwargs
{
    public long? MaxGenToks { get; set; }
    public double? Temperature { get; set; }
    public double? TopP { get; set; }
    public long? TopK { get; set; }

    [JsonIgnore]
    public bool IsEmpty => MaxGenToks is null && Temperature is null && TopP is null && TopK is null;
}

/// <summary>The machine a run happened on. Only <c>os</c>, <c>chip</c> and <c>memory_gb</c> are required.</summary>
public sealed class SystemInfo
{
    [JsonRequired] public string Os { get; set; } = "";
    [JsonRequired] public string Chip { get; set; } = "";
    [JsonRequired] public long MemoryGb { get; set; }
    public string? VllmMlxVersion { get; set; }
    public string? Runner { get; set; }
    public string? PythonVersion { get; set; }
    public string? MlxVersion { get; set; }
    public string? MlxLmVersion { get; set; }
    public string? LmEvalVersion { get; set; }
    public string? Kernel { get; set; }

    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Extra { get; set; }

    /// <summary>A copy that can be changed without changing this one.</summary>
    public SystemInfo Copy()
    {
        var copy = (SystemInfo)MemberwiseClone();
        copy.Extra = Extra is null ? null : new Dictionary<string, JsonElement>(Extra);
        return copy;
    }
}

/// <summary>One measured value. <see cref="Tags"/> keeps insertion order, which becomes the order of tag columns.</summary>
public sealed class BenchmarkResult
{
    [JsonRequired] public string Name { get; set; } = "";
    [JsonRequired] public string Metric { get; set; } = "";
    [JsonRequired] public double Value { get; set; }
    [JsonRequired] public string Unit { get; set; } = "";
    public double? DurationSeconds { get; set; }
    public OrderedDictionary<string, string>? Tags { get; set; }
    public JsonElement? Raw { get; set; }

    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Extra { get; set; }

    /// <summary>Sets a tag, creating the tag map on first use.</summary>
    public BenchmarkResult WithTag(string key, string value)
    {
        Tags ??= [];
        Tags[key] = value;
        return this;
    }
}
