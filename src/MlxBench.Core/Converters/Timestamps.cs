using System.Globalization;
using System.Text.RegularExpressions;

namespace MlxBench.Core.Converters;

/// <summary>The envelope's timestamp form: UTC, whole seconds, trailing Z (what upstream's converters write).</summary>
public static partial class Timestamps
{
    public static string Format(DateTimeOffset instant) =>
        instant.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    /// <summary>A Unix epoch in seconds, fraction truncated as Python's <c>strftime</c> does; null outside years 1..9999.</summary>
    public static string? FromUnixSeconds(double seconds)
    {
        double whole = Math.Floor(seconds);
        return whole >= DateTimeOffset.MinValue.ToUnixTimeSeconds() && whole <= DateTimeOffset.MaxValue.ToUnixTimeSeconds()
            ? Format(DateTimeOffset.FromUnixTimeSeconds((long)whole))
            : null;
    }

    /// <summary>Whether a string date is already in the only form upstream keeps verbatim.</summary>
    public static bool IsUtcIso(string text) => UtcIso().IsMatch(text);

    [GeneratedRegex(@"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z$")]
    private static partial Regex UtcIso();
}
