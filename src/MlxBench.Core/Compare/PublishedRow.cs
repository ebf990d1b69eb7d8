namespace MlxBench.Core.Compare;

/// <summary>One published result, as much of a shard row as comparing needs.</summary>
public sealed record PublishedRow(string Timestamp, string Model, string Suite, string Name, string Metric, double Value, string? Unit,
    double? Stderr, bool? HigherIsBetter, string? Fingerprint = null);
