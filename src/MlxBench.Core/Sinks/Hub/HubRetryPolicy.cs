using System.Globalization;
using System.Net;
using MlxBench.Core.Diagnostics;
using Polly;
using Polly.Retry;

namespace MlxBench.Core.Sinks.Hub;

/// <summary>
/// Which Hub answers are worth another try, and how long to wait first. huggingface_hub's <c>http_backoff</c>
/// (<c>utils/_http.py</c>) retries timeouts, connection errors and 5xx with exponential backoff; we do the same, add
/// 429 and 408, honour <c>Retry-After</c> when the server sends one (seconds or an HTTP date), and add jitter so
/// parallel publishers do not retry in lockstep. Every retry is reported as a coded warning.
/// </summary>
internal static class HubRetryPolicy
{
    public static readonly ResiliencePropertyKey<string> Operation = new("mlxbench.hub.operation");

    private static readonly HashSet<HttpStatusCode> s_transientStatus =
    [
        HttpStatusCode.RequestTimeout, HttpStatusCode.TooManyRequests, HttpStatusCode.InternalServerError,
        HttpStatusCode.BadGateway, HttpStatusCode.ServiceUnavailable, HttpStatusCode.GatewayTimeout,
    ];

    public static ResiliencePipeline<HttpResponseMessage> Create(HubSettings settings, Action<BenchDiagnostic>? report) =>
        new ResiliencePipelineBuilder<HttpResponseMessage> { TimeProvider = settings.TimeProvider }
            .AddRetry(new RetryStrategyOptions<HttpResponseMessage>
            {
                MaxRetryAttempts = settings.MaxRetries,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = settings.BaseDelay,
                MaxDelay = settings.MaxDelay,
                ShouldHandle = args => ValueTask.FromResult(IsTransient(args.Outcome, args.Context.CancellationToken)),
                DelayGenerator = args => ValueTask.FromResult(RetryAfter(args.Outcome.Result, settings)),
                OnRetry = args =>
                {
                    string reason = args.Outcome.Result is { } response
                        ? string.Create(CultureInfo.InvariantCulture, $"HTTP {(int)response.StatusCode} {response.ReasonPhrase}")
                        : Describe(args.Outcome.Exception);
                    args.Outcome.Result?.Dispose();
                    report?.Invoke(BenchDiagnostic.Warning("Hub.Retrying",
                        args.Context.Properties.GetValue(Operation, "request"), reason,
                        args.RetryDelay.TotalSeconds, args.AttemptNumber + 1, settings.MaxRetries));
                    return default;
                },
            })
            .Build();

    internal static bool IsTransient(Outcome<HttpResponseMessage> outcome, CancellationToken cancellationToken) => outcome switch
    {
        { Result: { } response } => s_transientStatus.Contains(response.StatusCode),
        { Exception: HttpRequestException or IOException } => true,
        // HttpClient.Timeout surfaces as a cancellation the caller did not ask for.
        { Exception: OperationCanceledException } => !cancellationToken.IsCancellationRequested,
        _ => false,
    };

    /// <summary>The server's Retry-After, capped; null lets the exponential backoff decide.</summary>
    internal static TimeSpan? RetryAfter(HttpResponseMessage? response, HubSettings settings)
    {
        if (response?.Headers.RetryAfter is not { } retryAfter) return null;
        TimeSpan? wait = retryAfter.Delta ?? (retryAfter.Date - settings.TimeProvider.GetUtcNow());
        if (wait is null) return null;
        if (wait < TimeSpan.Zero) return TimeSpan.Zero;
        return wait > settings.MaxRetryAfter ? settings.MaxRetryAfter : wait;
    }

    internal static string Describe(Exception? exception) => exception switch
    {
        null => "no answer",
        OperationCanceledException => "timed out",
        HttpRequestException { InnerException: { } inner } e => $"{e.Message} ({inner.Message})",
        _ => exception.Message,
    };
}
