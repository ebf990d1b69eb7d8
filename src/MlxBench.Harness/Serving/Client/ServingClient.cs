using System.Buffers;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.ServerSentEvents;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace MlxBench.Harness.Serving.Client;

/// <summary>A request body serialized before the run, so nothing is built while the clock runs.</summary>
public sealed record PreparedRequest(Uri Uri, byte[] Body, string RequestId, bool Stream);

/// <summary>
/// The HTTP side of the benchmark: one <see cref="HttpClient"/> over one <see cref="SocketsHttpHandler"/> with pooled,
/// unlimited connections, SSE read with <see cref="SseParser"/> (CRLF, multi-line data, comments, data without a
/// space), arrival stamps taken at socket reads, no retries. Measured requests never throw: what went wrong is
/// recorded on the <see cref="RequestRecord"/>, as vLLM records <c>error</c> and <c>success</c>.
/// </summary>
public sealed class ServingClient : IDisposable
{
    private static readonly MediaTypeHeaderValue s_json = new("application/json");
    private readonly HttpClient _http;
    private readonly TimeSpan _requestTimeout;

    /// <param name="baseUrl">The OpenAI root, e.g. <c>http://127.0.0.1:8000/v1</c>.</param>
    public ServingClient(string baseUrl, TimeSpan requestTimeout)
    {
        BaseUrl = baseUrl.TrimEnd('/');
        ServerRoot = BaseUrl.EndsWith("/v1", StringComparison.OrdinalIgnoreCase) ? BaseUrl[..^3] : BaseUrl;
        _requestTimeout = requestTimeout;
        var handler = new SocketsHttpHandler
        {
            UseProxy = false,
            UseCookies = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            MaxConnectionsPerServer = int.MaxValue,
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
            ConnectTimeout = TimeSpan.FromSeconds(30),
            // No trace headers: the request on the wire is exactly what vLLM's client sends.
            ActivityHeadersPropagator = null,
        };
        _http = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
        // The key is read from the environment here and only ever sent to the endpoint; it is never logged.
        if (Environment.GetEnvironmentVariable("OPENAI_API_KEY") is { Length: > 0 } key)
            _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
    }

    /// <summary>
    /// Asks .NET to run socket continuations on its epoll threads instead of hopping to the thread pool: one context
    /// switch less per read, which is most of a small request's client cost (~25% more requests/s on one core).
    /// It is read once, when the process first uses a socket, so it is set before any (or not at all when the user
    /// already chose). Call it only at the start of a process that exists to run the benchmark (mlxbench run-cell).
    /// </summary>
    public static void PreferInlineSocketCompletions()
    {
        const string name = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";
        if (Environment.GetEnvironmentVariable(name) is null) Environment.SetEnvironmentVariable(name, "1");
    }

    public string BaseUrl { get; }
    /// <summary>The server root without <c>/v1</c>, where vLLM and llama.cpp serve <c>/tokenize</c> and <c>/detokenize</c>.</summary>
    public string ServerRoot { get; }

    public Uri CompletionsUri => new(BaseUrl + "/completions");
    public Uri ChatUri => new(BaseUrl + "/chat/completions");

    /// <summary>Sends one measured request and fills <paramref name="record"/>; never throws for server or network faults.</summary>
    public async Task ExecuteAsync(PreparedRequest request, RequestRecord record, CancellationToken cancellationToken)
    {
        using var deadline = new RequestDeadline(cancellationToken);
        await ExecuteAsync(request, record, deadline, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>As above, with a deadline the caller reuses from one request to the next (no timer per request).</summary>
    internal async Task ExecuteAsync(PreparedRequest request, RequestRecord record, RequestDeadline deadline, CancellationToken cancellationToken)
    {
        CancellationToken timeout = deadline.Start(_requestTimeout);
        try
        {
            await SendAsync(request, record, timeout, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            deadline.Reset();
        }
    }

    private async Task SendAsync(PreparedRequest request, RequestRecord record, CancellationToken timeoutToken, CancellationToken cancellationToken)
    {
        using var message = new HttpRequestMessage(HttpMethod.Post, request.Uri) { Content = new ByteArrayContent(request.Body) };
        message.Content.Headers.ContentType = s_json;
        message.Headers.TryAddWithoutValidation("x-request-id", request.RequestId);
        record.StartTicks = Stopwatch.GetTimestamp();
        try
        {
            using HttpResponseMessage response = await _http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, timeoutToken).ConfigureAwait(false);
            record.StatusCode = (int)response.StatusCode;
            await using var body = new ArrivalStampingStream(await response.Content.ReadAsStreamAsync(timeoutToken).ConfigureAwait(false));
            if (!response.IsSuccessStatusCode)
            {
                byte[] text = await ReadToEndAsync(body, timeoutToken).ConfigureAwait(false);
                record.Error = $"HTTP {(int)response.StatusCode} {response.ReasonPhrase}: {ChunkReader.Preview(text)}";
                return;
            }
            if (request.Stream) await ReadEventsAsync(body, record, timeoutToken).ConfigureAwait(false);
            else ReadCompletion(await ReadToEndAsync(body, timeoutToken).ConfigureAwait(false), body.LastArrivalTicks, record);
            record.Success = record.ChunkCount > 0;
            if (!record.Success)
                record.Error ??= "Never received a valid chunk to calculate TTFT. This response will be marked as failed!";
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            record.Success = false;
            record.Error = $"timed out after {_requestTimeout.TotalSeconds:0.#} s (RequestTimeout)";
        }
        catch (Exception e) when (e is HttpRequestException or IOException or JsonException or InvalidOperationException)
        {
            record.Success = false;
            record.Error = $"{e.GetType().Name}: {e.Message}";
        }
        finally
        {
            record.EndTicks = Stopwatch.GetTimestamp();
        }
    }

    private static async Task ReadEventsAsync(ArrivalStampingStream body, RequestRecord record, CancellationToken cancellationToken)
    {
        var events = new EventSink(body, record);
        await foreach (SseItem<byte> _ in SseParser.Create(body, events.OnEvent).EnumerateAsync(cancellationToken).ConfigureAwait(false))
        {
            // All the work happens in OnEvent, while the bytes that completed the message are the latest read.
        }
    }

    private static void ReadCompletion(byte[] body, long arrivalTicks, RequestRecord record)
    {
        ChunkInfo info = ChunkReader.Read(body);
        if (info.HasChoices) record.AddChunk(arrivalTicks, info.HasText, info.Finishes, info.HasRole);
        record.UsageCompletionTokens = info.CompletionTokens ?? record.UsageCompletionTokens;
        record.UsagePromptTokens = info.PromptTokens ?? record.UsagePromptTokens;
        if (info.Error is { } error) record.Error = error;
    }

    /// <summary>Turns each SSE message into record updates; the item value itself is unused.</summary>
    private sealed class EventSink(ArrivalStampingStream body, RequestRecord record)
    {
        public byte OnEvent(string eventType, ReadOnlySpan<byte> data)
        {
            long arrival = body.LastArrivalTicks;
            data = data.Trim(" \r\n\t"u8);
            if (data.IsEmpty || data.SequenceEqual("[DONE]"u8)) return 0;
            ChunkInfo info = ChunkReader.Read(data);
            if (info.HasChoices) record.AddChunk(arrival, info.HasText, info.Finishes, info.HasRole);
            else if (info.CompletionTokens is not null || info.PromptTokens is not null)
            {
                // vLLM reads usage from the trailing chunk that has no choices.
                record.UsageCompletionTokens = info.CompletionTokens ?? record.UsageCompletionTokens;
                record.UsagePromptTokens = info.PromptTokens ?? record.UsagePromptTokens;
            }
            if (info.Error is { } error) record.Error = "server error event: " + error;
            return 0;
        }
    }

    private static async Task<byte[]> ReadToEndAsync(Stream body, CancellationToken cancellationToken)
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(16 * 1024);
        try
        {
            int length = 0;
            while (true)
            {
                if (length == buffer.Length)
                {
                    byte[] larger = ArrayPool<byte>.Shared.Rent(buffer.Length * 2);
                    buffer.AsSpan(0, length).CopyTo(larger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = larger;
                }
                int read = await body.ReadAsync(buffer.AsMemory(length), cancellationToken).ConfigureAwait(false);
                if (read == 0) break;
                length += read;
            }
            return buffer.AsSpan(0, length).ToArray();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    // ---- Unmeasured calls: readiness, tokenizer endpoints ----

    /// <summary>GET /models, waiting at most <paramref name="timeout"/>; returns null on 200, else what went wrong.</summary>
    public async Task<string?> ProbeModelsAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            using HttpResponseMessage response = await _http.GetAsync(BaseUrl + "/models", deadline.Token).ConfigureAwait(false);
            return response.IsSuccessStatusCode ? null : $"HTTP {(int)response.StatusCode} {response.ReasonPhrase}";
        }
        catch (HttpRequestException e)
        {
            return e.Message;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return $"no answer within {timeout.TotalSeconds:0.#} s";
        }
    }

    /// <summary>
    /// Tokenizes with the server's tokenizer, vLLM shape (<c>{model, prompt}</c> → <c>tokens</c>) or llama.cpp shape
    /// (<c>{content}</c> → <c>tokens</c>); one body carries both. Null when the server has no such endpoint.
    /// </summary>
    public async Task<int[]?> TryTokenizeAsync(string model, string text, CancellationToken cancellationToken)
    {
        var body = new JsonObject { ["model"] = model, ["prompt"] = text, ["content"] = text, ["add_special_tokens"] = false, ["add_special"] = false };
        JsonNode? reply = await TryPostJsonAsync("/tokenize", body, cancellationToken).ConfigureAwait(false);
        if (reply?["tokens"] is not JsonArray tokens) return null;
        var ids = new int[tokens.Count];
        for (int i = 0; i < ids.Length; i++)
        {
            // llama.cpp may return {id, piece} objects when asked for pieces; plain ids otherwise.
            JsonNode? token = tokens[i] is JsonObject o ? o["id"] : tokens[i];
            if (token is not JsonValue v || !v.TryGetValue(out int id)) return null;
            ids[i] = id;
        }
        return ids;
    }

    /// <summary>
    /// How many tokens the server will evaluate for <paramref name="text"/> sent as the harness sends it: as the one
    /// user message of a chat request (vLLM's <c>/tokenize</c> with <c>messages</c>: the chat template applied, with
    /// the generation prompt), or as a completions prompt (with the special tokens the server adds, such as BOS). Null
    /// when the server cannot say (no such endpoint, or one that ignores <c>messages</c>, as llama.cpp's does).
    /// </summary>
    public async Task<int?> TryCountPromptAsync(string model, string text, bool chat, CancellationToken cancellationToken)
    {
        JsonObject body = chat
            ? new JsonObject
            {
                ["model"] = model,
                ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = text }),
                ["add_generation_prompt"] = true,
            }
            : new JsonObject { ["model"] = model, ["prompt"] = text, ["content"] = text, ["add_special_tokens"] = true, ["add_special"] = true };
        JsonNode? reply = await TryPostJsonAsync("/tokenize", body, cancellationToken).ConfigureAwait(false);
        int? count = reply?["count"] is JsonValue c && c.TryGetValue(out int n) ? n : (reply?["tokens"] as JsonArray)?.Count;
        return count > 0 ? count : null;
    }

    /// <summary>Detokenizes, vLLM shape (<c>{model, tokens}</c> → <c>prompt</c>) or llama.cpp shape (→ <c>content</c>).</summary>
    public async Task<string?> TryDetokenizeAsync(string model, IReadOnlyList<int> ids, CancellationToken cancellationToken)
    {
        var tokens = new JsonArray();
        foreach (int id in ids) tokens.Add(id);
        JsonNode? reply = await TryPostJsonAsync("/detokenize", new JsonObject { ["model"] = model, ["tokens"] = tokens }, cancellationToken).ConfigureAwait(false);
        return (reply?["prompt"] ?? reply?["content"]) is JsonValue v && v.TryGetValue(out string? text) ? text : null;
    }

    private async Task<JsonNode?> TryPostJsonAsync(string path, JsonObject body, CancellationToken cancellationToken)
    {
        foreach (string root in ServerRoot == BaseUrl ? [BaseUrl] : new[] { ServerRoot, BaseUrl })
        {
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            deadline.CancelAfter(_requestTimeout);
            try
            {
                using var content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
                using HttpResponseMessage response = await _http.PostAsync(root + path, content, deadline.Token).ConfigureAwait(false);
                if (!response.IsSuccessStatusCode) continue;
                return JsonNode.Parse(await response.Content.ReadAsStringAsync(deadline.Token).ConfigureAwait(false));
            }
            catch (Exception e) when (e is HttpRequestException or JsonException
                || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
            {
                // An endpoint the server does not have (or answers with non-JSON, or not in time) is simply not used.
            }
        }
        return null;
    }

    public void Dispose() => _http.Dispose();
}

/// <summary>
/// A request timeout linked to the run's cancellation, reset and reused between requests of one worker, so the
/// hot path does not create a timer per request.
/// </summary>
internal sealed class RequestDeadline(CancellationToken outer) : IDisposable
{
    private CancellationTokenSource _source = CancellationTokenSource.CreateLinkedTokenSource(outer);

    public CancellationToken Start(TimeSpan timeout)
    {
        _source.CancelAfter(timeout);
        return _source.Token;
    }

    public void Reset()
    {
        if (_source.TryReset()) return;
        _source.Dispose();
        _source = CancellationTokenSource.CreateLinkedTokenSource(outer);
    }

    public void Dispose() => _source.Dispose();
}
