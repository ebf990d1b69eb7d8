using MlxBench.Core.Diagnostics;

namespace MlxBench.Core.Sinks.Hub;

/// <summary>
/// Where the Hub is and how patiently to talk to it. <c>HF_ENDPOINT</c> points at a self-hosted mirror, as it does for
/// huggingface_hub (<c>constants.ENDPOINT</c>); <c>HF_TOKEN</c> is the write token. Both are read from the
/// environment of the process that publishes, never from MSBuild properties.
/// </summary>
public sealed record HubSettings
{
    public const string EndpointVariable = "HF_ENDPOINT";
    public static readonly Uri DefaultEndpoint = new("https://huggingface.co");

    public Uri Endpoint { get; init; } = DefaultEndpoint;
    public HubToken? Token { get; init; }

    /// <summary>Retries per request after the first attempt (429, 5xx, dropped connections, timeouts).</summary>
    public int MaxRetries { get; init; } = 5;
    /// <summary>First backoff delay; it doubles per retry, with jitter, up to <see cref="MaxDelay"/>.</summary>
    public TimeSpan BaseDelay { get; init; } = TimeSpan.FromSeconds(1);
    public TimeSpan MaxDelay { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>A server's Retry-After is honoured up to this long; a longer one is treated as this.</summary>
    public TimeSpan MaxRetryAfter { get; init; } = TimeSpan.FromMinutes(2);
    /// <summary>How often a commit may be re-planned because another writer moved the branch (HTTP 412).</summary>
    public int MaxCommitConflicts { get; init; } = 5;
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromMinutes(5);
    /// <summary>The clock retry delays run on; tests pass one that records delays instead of sleeping.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;
    /// <summary>Test seam: the handler under the Hub client.</summary>
    public HttpMessageHandler? Handler { get; init; }

    public static HubSettings FromEnvironment() => FromEnvironment(Environment.GetEnvironmentVariable);

    public static HubSettings FromEnvironment(Func<string, string?> environment)
    {
        string? endpoint = environment(EndpointVariable)?.Trim();
        Uri uri = DefaultEndpoint;
        if (!string.IsNullOrEmpty(endpoint))
        {
            if (!Uri.TryCreate(endpoint.TrimEnd('/'), UriKind.Absolute, out Uri? parsed) || (parsed.Scheme != Uri.UriSchemeHttp && parsed.Scheme != Uri.UriSchemeHttps))
                throw new BenchException(BenchDiagnostic.Error("Hub.BadEndpoint", endpoint));
            uri = parsed;
        }
        return new HubSettings { Endpoint = uri, Token = HubToken.FromEnvironment(environment) };
    }
}
