using MlxBench.Core.Envelopes;

namespace MlxBench.Core.Converters;

/// <summary>Turns a harness's raw output into a v1 envelope.</summary>
public interface IResultConverter
{
    /// <summary>The name users give in <c>Converter="..."</c>.</summary>
    string Kind { get; }

    /// <summary>Converts <paramref name="rawText"/>; throws <see cref="ConversionException"/> when it is not this kind's output.</summary>
    Envelope Convert(string rawText, ConverterContext context);
}

/// <summary>The raw output is not what the converter reads; the message says what was wrong with it.</summary>
public sealed class ConversionException(string message) : Exception(message);

/// <summary>What a converter needs to know that the raw output does not say.</summary>
public sealed record ConverterContext
{
    public required string Suite { get; init; }
    public required string Model { get; init; }
    public required string GitSha { get; init; }
    public string Trigger { get; init; } = "local";
    public long? PrNumber { get; init; }
    /// <summary>When set, the envelope's timestamp; otherwise the converter uses the raw date or the clock.</summary>
    public string? TimestampOverride { get; init; }
    public SystemInfo? System { get; init; }
    /// <summary>Tags added to every result, in order, after the converter's own first tag.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> ExtraTags { get; init; } = [];
    public TimeProvider Clock { get; init; } = TimeProvider.System;

    internal string Now() => Timestamps.Format(Clock.GetUtcNow());

    internal string TimestampOr(Func<string?> fromRaw) => TimestampOverride ?? fromRaw() ?? Now();

    internal Envelope NewEnvelope(string timestamp) => new()
    {
        Timestamp = timestamp,
        GitSha = GitSha,
        Trigger = Trigger,
        PrNumber = PrNumber,
        Suite = Suite,
        Model = Model,
        // A copy: one SystemInfo is shared by every cell of a run, and converters add what their raw output knows.
        System = System?.Copy() ?? new SystemInfo(),
        Errors = [],
    };

    internal void AddExtraTags(BenchmarkResult result)
    {
        foreach ((string key, string value) in ExtraTags)
            result.WithTag(key, value);
    }
}

/// <summary>The converters users can name, by kind.</summary>
public static class ResultConverters
{
    private static readonly IResultConverter[] s_all =
        [new LmEvalConverter(), new VllmServeConverter(), new FrameworkEvalConverter(), new EnvelopePassthroughConverter()];

    public static IReadOnlyList<string> Kinds { get; } = s_all.Select(c => c.Kind).ToArray();

    public static bool TryGet(string kind, out IResultConverter converter)
    {
        converter = s_all.FirstOrDefault(c => string.Equals(c.Kind, kind, StringComparison.OrdinalIgnoreCase))!;
        return converter is not null;
    }
}
