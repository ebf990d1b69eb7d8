using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;

namespace MlxBench.Harness.Eval.Client;

/// <summary>The endpoint answered with an error, or not at all, after its retries; the message says which.</summary>
public sealed class EndpointException(string message, HttpStatusCode? status = null) : Exception(message)
{
    public HttpStatusCode? Status { get; } = status;
}

/// <summary>
/// POSTs JSON to an OpenAI-compatible server (<c>BaseUrl</c> is its <c>/v1</c> root; <c>/tokenize</c> lives beside it,
/// as on vLLM), through the request cache. Transient failures (connection errors, 408, 429, 5xx) are retried a bounded
/// number of times with a cancellable, injectable delay; each retry is reported; client errors are not retried.
/// </summary>
public sealed class OpenAiEndpoint(HttpClient http, string baseUrl, RequestCache? cache, string? apiKey = null, int maxRetries = 3)
{
    private readonly string _v1 = baseUrl.TrimEnd('/');

    /// <summary>The server root: the base URL without its trailing <c>/v1</c>.</summary>
    public string ServerRoot => _v1.EndsWith("/v1", StringComparison.Ordinal) ? _v1[..^3] : _v1;

    public Func<TimeSpan, CancellationToken, Task> Delay { get; init; } = Task.Delay;
    public Action<string>? OnRetry { get; init; }

    /// <summary>Requests that went to the server (cache hits excluded).</summary>
    public int Sent => _sent;
    private int _sent;

    public Task<JsonNode> CompletionsAsync(JsonObject body, CancellationToken ct) => PostAsync(_v1 + "/completions", "/v1/completions", body, ct);

    public Task<JsonNode> ChatAsync(JsonObject body, CancellationToken ct) => PostAsync(_v1 + "/chat/completions", "/v1/chat/completions", body, ct);

    public Task<JsonNode> TokenizeAsync(JsonObject body, CancellationToken ct) => PostAsync(ServerRoot + "/tokenize", "/tokenize", body, ct);

    private async Task<JsonNode> PostAsync(string url, string cachePath, JsonObject body, CancellationToken ct)
    {
        string key = RequestCache.KeyOf(cachePath, body);
        if (cache is not null && cache.TryGet(key, out JsonNode cached)) return cached;
        JsonNode response = await SendWithRetriesAsync(url, body, ct);
        cache?.Put(key, response);
        return response;
    }

    private async Task<JsonNode> SendWithRetriesAsync(string url, JsonObject body, CancellationToken ct)
    {
        string payload = body.ToJsonString();
        for (int attempt = 0; ; attempt++)
        {
            string problem;
            HttpStatusCode? status = null;
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new StringContent(payload, Encoding.UTF8, "application/json") };
                if (!string.IsNullOrEmpty(apiKey)) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
                Interlocked.Increment(ref _sent);
                using HttpResponseMessage response = await http.SendAsync(request, ct);
                string text = await response.Content.ReadAsStringAsync(ct);
                if (response.IsSuccessStatusCode)
                {
                    try { return JsonNode.Parse(text) ?? throw new EndpointException($"{url} answered JSON null"); }
                    catch (System.Text.Json.JsonException e) { throw new EndpointException($"{url} answered with invalid JSON ({e.Message})"); }
                }
                status = response.StatusCode;
                problem = $"HTTP {(int)response.StatusCode}: {Shorten(text)}";
                if (!IsTransient(response.StatusCode)) throw new EndpointException($"{url} rejected the request: {problem}", status);
            }
            catch (HttpRequestException e)
            {
                problem = e.Message;
            }
            catch (TaskCanceledException e) when (!ct.IsCancellationRequested)
            {
                problem = "timed out (" + e.Message + ")";
            }
            if (attempt >= maxRetries)
                throw new EndpointException($"{url} failed after {attempt + 1} attempt(s): {problem}", status);
            TimeSpan wait = TimeSpan.FromSeconds(Math.Min(10, 0.5 * Math.Pow(2, attempt)));
            OnRetry?.Invoke($"{url}: {problem}; retry {attempt + 1} of {maxRetries} in {wait.TotalSeconds:0.#} s");
            await Delay(wait, ct);
        }
    }

    private static bool IsTransient(HttpStatusCode status) =>
        status is HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests || (int)status >= 500;

    private static string Shorten(string text) => text.Length <= 300 ? text : text[..300] + "...";
}
