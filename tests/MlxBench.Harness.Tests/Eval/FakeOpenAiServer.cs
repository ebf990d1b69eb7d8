using System.Collections.Concurrent;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace MlxBench.Harness.Tests.Eval;

/// <summary>
/// A real HTTP server on loopback (Kestrel) speaking the subset of the OpenAI and vLLM APIs the evaluator uses, over a
/// toy byte-level "model" whose log-probabilities are a fixed function of (previous token, token), so tests can compute
/// the expected log-likelihoods themselves. Every request is recorded.
/// </summary>
internal sealed class FakeOpenAiServer : IAsyncDisposable
{
    public const int Bos = 0;
    private const int Vocab = 257;
    private readonly WebApplication _app;

    public ConcurrentQueue<(string Path, JsonObject Body)> Requests { get; } = new();

    /// <summary>Called before answering each /v1/completions request with its 1-based number; may throw to fail it.</summary>
    public Action<int>? OnCompletion { get; set; }
    private int _completions;

    /// <summary>Answer a request with MlxBench.Server's <c>echo_logprobs_from</c> with a 400, as a strict server refuses
    /// a field it does not know (otherwise the field is honoured: positions before it get null).</summary>
    public bool RefuseLogprobsFrom { get; set; }

    /// <summary>What generation requests answer.</summary>
    public string GeneratedText { get; set; } = "The answer is 42.\n#### 42";

    private FakeOpenAiServer(WebApplication app) => _app = app;

    public string BaseUrl => _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First() + "/v1";

    public int Count(string path) => Requests.Count(r => r.Path == path);

    public static async Task<FakeOpenAiServer> StartAsync()
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        WebApplication app = builder.Build();
        var server = new FakeOpenAiServer(app);
        app.MapPost("/tokenize", (Delegate)server.TokenizeAsync);
        app.MapPost("/v1/completions", (Delegate)server.CompletionsAsync);
        app.MapPost("/v1/chat/completions", (Delegate)server.ChatAsync);
        await app.StartAsync();
        return server;
    }

    public static int[] Encode(string text, bool bos) => [.. bos ? [Bos] : Array.Empty<int>(), .. Encoding.UTF8.GetBytes(text).Select(b => b + 1)];

    /// <summary>The toy model: log P(token | previous).</summary>
    public static double LogProb(int previous, int token) => -(((previous * 31 + token * 17) % 97) + 1) / 16.0;

    public static double TopLogProb(int previous) => Enumerable.Range(0, Vocab).Max(t => LogProb(previous, t));

    private async Task<JsonObject> ReadAsync(HttpContext http)
    {
        var body = (JsonObject)(await JsonNode.ParseAsync(http.Request.Body))!;
        Requests.Enqueue((http.Request.Path.Value!, body));
        return body;
    }

    private async Task<IResult> TokenizeAsync(HttpContext http)
    {
        JsonObject body = await ReadAsync(http);
        int[] tokens = Encode((string)body["prompt"]!, (bool?)body["add_special_tokens"] ?? true);
        return Results.Json(new JsonObject { ["count"] = tokens.Length, ["max_model_len"] = 4096, ["tokens"] = new JsonArray(tokens.Select(t => (JsonNode)t).ToArray()) });
    }

    private async Task<IResult> CompletionsAsync(HttpContext http)
    {
        JsonObject body = await ReadAsync(http);
        OnCompletion?.Invoke(Interlocked.Increment(ref _completions));
        List<int[]> prompts = body["prompt"] switch
        {
            JsonArray a when a.Count > 0 && a[0] is JsonArray => a.Select(p => p!.AsArray().Select(t => (int)t!).ToArray()).ToList(),
            JsonArray a => [a.Select(t => (int)t!).ToArray()],
            var p => [Encode((string)p!, bos: false)],
        };
        bool echo = (bool?)body["echo"] ?? false;
        if (body["echo_logprobs_from"] is { } fromField && RefuseLogprobsFrom)
            return Results.Json(new JsonObject { ["error"] = new JsonObject { ["message"] = "Unrecognized request argument supplied: echo_logprobs_from" } }, statusCode: 400);
        int From(int prompt) => body["echo_logprobs_from"] is JsonArray list ? (int)list[prompt]! : 1;
        var choices = new JsonArray();
        for (int i = 0; i < prompts.Count; i++)
        {
            if (!echo)
            {
                choices.Add(new JsonObject { ["index"] = i, ["text"] = GeneratedText, ["finish_reason"] = "stop" });
                continue;
            }
            int[] p = prompts[i];
            int next = Enumerable.Range(0, Vocab).MaxBy(t => LogProb(p[^1], t));
            int[] all = [.. p, next];
            var tokenLogprobs = new JsonArray { null };
            var top = new JsonArray { null };
            for (int pos = 1; pos < all.Length; pos++)
            {
                bool wanted = pos >= From(i);
                tokenLogprobs.Add(wanted ? LogProb(all[pos - 1], all[pos]) : null);
                top.Add(wanted ? new JsonObject { ["t"] = TopLogProb(all[pos - 1]) } : null);
            }
            choices.Add(new JsonObject
            {
                ["index"] = i,
                ["text"] = "",
                ["logprobs"] = new JsonObject { ["token_logprobs"] = tokenLogprobs, ["top_logprobs"] = top, ["tokens"] = new JsonArray(), ["text_offset"] = new JsonArray() },
            });
        }
        int promptTokens = prompts.Sum(p => p.Length);
        return Results.Json(new JsonObject { ["object"] = "text_completion", ["choices"] = choices, ["usage"] = new JsonObject { ["prompt_tokens"] = promptTokens } });
    }

    private async Task<IResult> ChatAsync(HttpContext http)
    {
        await ReadAsync(http);
        return Results.Json(new JsonObject { ["choices"] = new JsonArray(new JsonObject { ["index"] = 0, ["message"] = new JsonObject { ["role"] = "assistant", ["content"] = GeneratedText } }) });
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
