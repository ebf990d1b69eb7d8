using MlxBench.Core.Envelopes;

namespace MlxBench.Core.Running;

/// <summary>What every cell of one Bench run shares: provenance, machine, and where the project is.</summary>
public sealed record RunSettings
{
    public required string ProjectDirectory { get; init; }
    public required string GitSha { get; init; }
    public string Trigger { get; init; } = "local";
    public long? PrNumber { get; init; }
    public required SystemInfo System { get; init; }
    /// <summary>Tags added to every result after the converter's first tag (MlxBench and .NET versions).</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Tags { get; init; } = [];
    public TimeProvider Clock { get; init; } = TimeProvider.System;

    /// <summary>Where a model served from its whole HuggingFace repository was downloaded (its config gives the quantization).</summary>
    public Endpoints.HfModelCache HfCache { get; init; } = new();
}
