using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace MlxBench.Harness.Tests.Serving;

/// <summary>What the server does for one request: when each token goes out (ms after arrival), or an error status.</summary>
public sealed record Script(double[] TokenTimesMs, int Status = 200)
{
    public static Script Tokens(double ttftMs, params double[] gapsMs)
    {
        var times = new List<double> { ttftMs };
        foreach (double gap in gapsMs) times.Add(times[^1] + gap);
        return new Script([.. times]);
    }

    public static Script Instant(int tokens) => new(new double[tokens]);
}

/// <summary>How the server frames its SSE stream, to exercise every part of the parser.</summary>
public enum SseStyle { Lf, CrLf, NoSpaceAfterColon, MultiLineData, CommentsAndEvents }

/// <summary>Which optional features the server has, to exercise the client's fallbacks.</summary>
public sealed record ServerFeatures
{
    public bool AcceptsTokenIds { get; init; } = true;
    public bool HasTokenize { get; init; } = true;
    public bool HasDetokenize { get; init; } = true;
    public bool AcceptsIgnoreEos { get; init; } = true;
    public bool SendsUsage { get; init; } = true;
    /// <summary>Chat: a role-only first delta before the first token (as vLLM and OpenAI send).</summary>
    public bool RoleChunk { get; init; } = true;
    public SseStyle Style { get; init; } = SseStyle.Lf;
    /// <summary>Pads every token message with this many bytes of an extra field (large events).</summary>
    public int PaddingBytes { get; init; }
    /// <summary>Tokens (by index) that decode to no text, as a sampled control token does.</summary>
    public int[] EmptyTokens { get; init; } = [];
    /// <summary>How the stream ends: no finish reason, on the last token's message (vLLM), or in a message of its own (llama.cpp).</summary>
    public FinishStyle Finish { get; init; } = FinishStyle.None;
    /// <summary>Added to the completion_tokens the server reports (a server that miscounts).</summary>
    public int UsageError { get; init; }
    /// <summary>Chat: tokens the chat template adds around the messages (counted in usage and by /tokenize with messages).</summary>
    public int ChatTemplateTokens { get; init; }
    /// <summary>/tokenize takes <c>messages</c> (vLLM); false: it reads only <c>prompt</c>/<c>content</c> (llama.cpp).</summary>
    public bool TokenizesMessages { get; init; } = true;
    /// <summary>Ids divisible by this detokenize to two words, so text re-encodes to more tokens than its ids (0: never).</summary>
    public int DriftEvery { get; init; }
}

public enum FinishStyle { None, OnLastToken, SeparateMessage }

/// <summary>What the server saw and did for one request, stamped with the same Stopwatch as the client.</summary>
public sealed class ServedRequest
{
    public required string RequestId { get; init; }
    public required long ArrivalTicks { get; init; }
    public required int PromptTokens { get; init; }
    public required bool Stream { get; init; }
    public required bool Chat { get; init; }
    public bool TokenIdPrompt { get; init; }
    public bool IgnoreEos { get; init; }
    /// <summary>Stamps taken just before each choice-bearing message (or the whole body) was written.</summary>
    public List<long> ChoiceWriteTicks { get; } = [];
    public int Status { get; set; } = 200;
    public int OutputTokens { get; set; }
}

/// <summary>
/// An OpenAI-compatible server on 127.0.0.1 (Kestrel, in the test process) that sends tokens on a scripted schedule
/// and records when it actually wrote each message, so tests compute the expected metrics from what it did.
/// It speaks /v1/models, /v1/completions, /v1/chat/completions and vLLM's /tokenize and /detokenize; a word is a token.
/// </summary>
public sealed class ScriptedServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly Func<string, Script> _script;
    private readonly ServerFeatures _features;

    private ScriptedServer(WebApplication app, Func<string, Script> script, ServerFeatures features)
    {
        _app = app;
        _script = script;
        _features = features;
    }

    public ConcurrentDictionary<string, ServedRequest> Requests { get; } = new();

    public string BaseUrl { get; private set; } = "";

    /// <summary>The measured requests of level <paramref name="level"/> in index order (ids mlxbench-L-i).</summary>
    public ServedRequest[] Measured(int level, int count) =>
        Enumerable.Range(0, count).Select(i => Requests[$"mlxbench-{level}-{i}"]).ToArray();

    public static async Task<ScriptedServer> StartAsync(Func<string, Script> script, ServerFeatures? features = null)
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        builder.Logging.ClearProviders();
        WebApplication app = builder.Build();
        var server = new ScriptedServer(app, script, features ?? new ServerFeatures());
        app.MapGet("/v1/models", () => Results.Json(new { @object = "list", data = new[] { new { id = "scripted", @object = "model" } } }));
        app.MapPost("/v1/completions", ctx => server.CompleteAsync(ctx, chat: false));
        app.MapPost("/v1/chat/completions", ctx => server.CompleteAsync(ctx, chat: true));
        if (server._features.HasTokenize) app.MapPost("/tokenize", server.TokenizeAsync);
        if (server._features.HasDetokenize) app.MapPost("/detokenize", server.DetokenizeAsync);
        await app.StartAsync();
        string address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        server.BaseUrl = address.TrimEnd('/') + "/v1";
        return server;
    }

    /// <summary>Word w&lt;n&gt; is token n; any other word is token 3 + (its length mod 500). Always adds a BOS (1), as some servers do.</summary>
    private static int[] Tokenize(string text) =>
        [1, .. text.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(w => w.Length > 1 && w[0] == 'w' && int.TryParse(w[1..], out int n) ? n : 3 + w.Length % 500)];

    private async Task TokenizeAsync(HttpContext context)
    {
        JsonNode body = (await JsonNode.ParseAsync(context.Request.Body))!;
        int[] tokens;
        if (body["messages"] is JsonArray messages && _features.TokenizesMessages)
            tokens = [.. Enumerable.Repeat(2, _features.ChatTemplateTokens), .. messages.SelectMany(m => Tokenize((string)m!["content"]!).Skip(1))];
        else if (((string?)body["prompt"] ?? (string?)body["content"]) is { } prompt) tokens = Tokenize(prompt);
        else tokens = [];
        await context.Response.WriteAsJsonAsync(new { count = tokens.Length, max_model_len = 4096, tokens });
    }

    private async Task DetokenizeAsync(HttpContext context)
    {
        JsonNode body = (await JsonNode.ParseAsync(context.Request.Body))!;
        string prompt = string.Join(' ', body["tokens"]!.AsArray().Select(t => (int)t!)
            .Select(t => _features.DriftEvery > 0 && t % _features.DriftEvery == 0 ? $"w{t} x" : $"w{t}"));
        await context.Response.WriteAsJsonAsync(new { prompt });
    }

    private async Task CompleteAsync(HttpContext context, bool chat)
    {
        long arrival = Stopwatch.GetTimestamp();
        JsonNode body = (await JsonNode.ParseAsync(context.Request.Body))!;
        string id = context.Request.Headers["x-request-id"].ToString();
        JsonNode? prompt = body["prompt"];
        bool ids = prompt is JsonArray;
        int promptTokens = chat
            ? _features.ChatTemplateTokens + body["messages"]!.AsArray().Sum(m => ((string)m!["content"]!).Split(' ', StringSplitOptions.RemoveEmptyEntries).Length)
            : ids ? prompt!.AsArray().Count : ((string)prompt!).Split(' ', StringSplitOptions.RemoveEmptyEntries).Length;
        bool stream = (bool?)body["stream"] ?? false;
        bool ignoreEos = (bool?)body["ignore_eos"] ?? false;
        var served = new ServedRequest
        {
            RequestId = id, ArrivalTicks = arrival, PromptTokens = promptTokens, Stream = stream, Chat = chat,
            TokenIdPrompt = ids, IgnoreEos = ignoreEos,
        };
        Requests[id] = served;

        if ((ids && !_features.AcceptsTokenIds) || (ignoreEos && !_features.AcceptsIgnoreEos))
        {
            served.Status = 400;
            context.Response.StatusCode = 400;
            await context.Response.WriteAsJsonAsync(new { error = new { message = ids ? "prompt must be a string" : "unknown field ignore_eos", type = "invalid_request_error" } });
            return;
        }
        Script script = id.StartsWith("mlxbench-test", StringComparison.Ordinal) || id.StartsWith("mlxbench-warmup", StringComparison.Ordinal)
            ? Script.Instant(1) : _script(id);
        if (script.Status != 200)
        {
            served.Status = script.Status;
            context.Response.StatusCode = script.Status;
            await context.Response.WriteAsJsonAsync(new { error = new { message = "scripted failure", type = "server_error" } });
            return;
        }
        served.OutputTokens = script.TokenTimesMs.Length;
        if (stream) await StreamAsync(context, served, script, chat);
        else await RespondAsync(context, served, script, chat);
    }

    private async Task StreamAsync(HttpContext context, ServedRequest served, Script script, bool chat)
    {
        HttpResponse response = context.Response;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        await response.StartAsync();
        string padding = _features.PaddingBytes > 0 ? new string('x', _features.PaddingBytes) : "";
        for (int i = 0; i < script.TokenTimesMs.Length; i++)
        {
            await WaitUntilAsync(served.ArrivalTicks, script.TokenTimesMs[i]);
            if (chat && i == 0 && _features.RoleChunk)
                await WriteMessageAsync(response, served, """{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant"},"finish_reason":null}],"usage":null}""", choice: true);
            string text = _features.EmptyTokens.Contains(i) ? "" : $"tok{i} ";
            string finish = _features.Finish == FinishStyle.OnLastToken && i == script.TokenTimesMs.Length - 1 ? "\"length\"" : "null";
            string json = chat
                ? $$"""{"id":"c","object":"chat.completion.chunk","pad":"{{padding}}","choices":[{"index":0,"delta":{"content":"{{text}}"},"finish_reason":{{finish}}}],"usage":null}"""
                : $$"""{"id":"c","object":"text_completion","pad":"{{padding}}","choices":[{"index":0,"text":"{{text}}","logprobs":null,"finish_reason":{{finish}}}],"usage":null}""";
            await WriteMessageAsync(response, served, json, choice: true);
        }
        if (_features.Finish == FinishStyle.SeparateMessage)
            await WriteMessageAsync(response, served, chat
                ? """{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"length"}],"usage":null}"""
                : """{"id":"c","object":"text_completion","choices":[{"index":0,"text":"","finish_reason":"length"}],"usage":null}""", choice: true);
        if (_features.SendsUsage)
            await WriteMessageAsync(response, served, """{"id":"c","choices":[],"usage":""" + Usage(served) + "}", choice: false);
        await WriteMessageAsync(response, served, "[DONE]", choice: false);
    }

    private async Task WriteMessageAsync(HttpResponse response, ServedRequest served, string data, bool choice)
    {
        string frame = _features.Style switch
        {
            SseStyle.CrLf => $"data: {data}\r\n\r\n",
            SseStyle.NoSpaceAfterColon => $"data:{data}\n\n",
            // Split after the first comma: the two data lines join with "\n", which JSON reads as whitespace.
            SseStyle.MultiLineData when data.IndexOf(',') is > 0 and var comma => $"data: {data[..(comma + 1)]}\ndata: {data[(comma + 1)..]}\n\n",
            SseStyle.CommentsAndEvents => $": keep-alive\nevent: message\nid: 7\ndata: {data}\n\n",
            _ => $"data: {data}\n\n",
        };
        byte[] bytes = Encoding.UTF8.GetBytes(frame);
        if (choice) lock (served.ChoiceWriteTicks) served.ChoiceWriteTicks.Add(Stopwatch.GetTimestamp());
        await response.Body.WriteAsync(bytes);
        await response.Body.FlushAsync();
    }

    private async Task RespondAsync(HttpContext context, ServedRequest served, Script script, bool chat)
    {
        if (script.TokenTimesMs.Length > 0) await WaitUntilAsync(served.ArrivalTicks, script.TokenTimesMs[^1]);
        string text = string.Concat(Enumerable.Range(0, served.OutputTokens).Select(i => $"tok{i} "));
        string choice = chat
            ? $$"""{"index":0,"message":{"role":"assistant","content":"{{text}}"},"finish_reason":"length"}"""
            : $$"""{"index":0,"text":"{{text}}","logprobs":null,"finish_reason":"length"}""";
        string usage = _features.SendsUsage
            ? ",\"usage\":" + Usage(served)
            : "";
        byte[] bytes = Encoding.UTF8.GetBytes($$"""{"id":"c","object":"{{(chat ? "chat.completion" : "text_completion")}}","choices":[{{choice}}]{{usage}}}""");
        context.Response.ContentType = "application/json";
        context.Response.ContentLength = bytes.Length;
        served.ChoiceWriteTicks.Add(Stopwatch.GetTimestamp());
        await context.Response.Body.WriteAsync(bytes);
    }

    private string Usage(ServedRequest served) =>
        $"{{\"prompt_tokens\":{served.PromptTokens},\"completion_tokens\":{served.OutputTokens + _features.UsageError},\"total_tokens\":{served.PromptTokens + served.OutputTokens}}}";

    private static async Task WaitUntilAsync(long originTicks, double offsetMs)
    {
        long target = originTicks + (long)(offsetMs * Stopwatch.Frequency / 1000);
        long remaining = target - Stopwatch.GetTimestamp();
        if (remaining > 0) await Task.Delay(TimeSpan.FromSeconds(remaining / (double)Stopwatch.Frequency));
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
