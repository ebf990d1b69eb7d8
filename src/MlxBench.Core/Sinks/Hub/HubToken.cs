namespace MlxBench.Core.Sinks.Hub;

/// <summary>
/// The Hub access token. It is read from the environment (<c>HF_TOKEN</c>) inside the process that needs it and only
/// ever leaves it as an <c>Authorization</c> header to the Hub endpoint itself; <see cref="ToString"/> never shows it,
/// so it cannot reach a log or an exception message by accident.
/// </summary>
public sealed class HubToken
{
    private readonly string _value;

    private HubToken(string value) => _value = value;

    public const string EnvironmentVariable = "HF_TOKEN";

    public static HubToken? FromEnvironment(Func<string, string?> environment)
    {
        string? value = environment(EnvironmentVariable)?.Trim();
        return string.IsNullOrEmpty(value) ? null : new HubToken(value);
    }

    public static HubToken Of(string value) => new(value);

    internal string BearerValue => _value;

    /// <summary>Replaces the token wherever it appears in text that came back from a server, before it is shown.</summary>
    public string Redact(string text) => text.Replace(_value, "***", StringComparison.Ordinal);

    public override string ToString() => "***";
}
