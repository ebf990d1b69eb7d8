using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using System.Net.Http.Json;
using System.Reflection;
using System.Text;
using System.Text.Json.Nodes;
using MlxBench.Server.Scheduling;
using MlxBench.Testing;

namespace MlxBench.Server.Tests;

/// <summary>A real server (Kestrel on a free loopback port) over the real engine and stories260K, started in this process.</summary>
internal sealed class TestServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private TestServer(WebApplication app, Uri baseAddress)
    {
        _app = app;
        BaseAddress = baseAddress;
        Client = new HttpClient { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(120) };
    }

    public Uri BaseAddress { get; }
    public HttpClient Client { get; }
    internal ModelHost Host => _app.Services.GetRequiredService<ModelHost>();

    public static string EngineLibrary =>
        typeof(TestServer).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "MlxBenchEngineLibrary").Value!;

    public static string Stories260K => SharedData.RequireShared("models", "stories260K.gguf");

    /// <summary>Runs <c>mlxbench-engine</c> (built beside the engine library) with <paramref name="args"/> and asserts it
    /// succeeded; the test is inconclusive when the CLI was not built.</summary>
    public static void RunEngineCli(params string[] args)
    {
        string cli = Path.Combine(Path.GetDirectoryName(EngineLibrary)!, OperatingSystem.IsWindows() ? "mlxbench-engine.exe" : "mlxbench-engine");
        if (!File.Exists(cli)) Assert.Inconclusive($"{cli} is not built (eng/test.sh builds it with the engine)");
        using System.Diagnostics.Process process = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo(cli, args) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        Assert.AreEqual(0, process.ExitCode, $"mlxbench-engine {string.Join(' ', args)}: {stderr.Result}");
    }

    public static async Task<TestServer> StartAsync(Func<ServerOptions, ServerOptions>? configure = null, bool waitUntilReady = true)
    {
        var options = new ServerOptions
        {
            ModelPath = Stories260K,
            ServedModelName = "stories260K-test",
            Port = 0,
            EngineLibrary = EngineLibrary,
            // One compute thread: CI runs test assemblies side by side on 2 cores, and a spinning pool degrades badly when oversubscribed.
            Scheduler = new SchedulerOptions { Parallel = 4, ContextSize = 512, Threads = 1 },
        };
        if (configure is not null) options = configure(options);
        WebApplication app = ServerApp.Build(options);
        await app.StartAsync();
        var server = new TestServer(app, new Uri(app.Urls.First().Replace("[::]", "127.0.0.1") + "/"));
        if (waitUntilReady) await server.WaitUntilReadyAsync();
        return server;
    }

    public async Task WaitUntilReadyAsync()
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            using HttpResponseMessage r = await Client.GetAsync("health");
            if (r.IsSuccessStatusCode) return;
            await Task.Delay(50);
        }
        Assert.Fail("the server did not become ready within 30 s: " + Host.FailureMessage);
    }

    public async Task<(int Status, JsonNode? Body)> PostAsync(string path, string json)
    {
        using var content = new StringContent(json, Encoding.UTF8, "application/json");
        using HttpResponseMessage r = await Client.PostAsync(path, content);
        string text = await r.Content.ReadAsStringAsync();
        JsonNode? body = null;
        try { body = JsonNode.Parse(text); } catch (System.Text.Json.JsonException) { Assert.Fail($"{path} answered {(int)r.StatusCode} with non-JSON: {text}"); }
        return ((int)r.StatusCode, body);
    }

    public async Task<JsonNode> PostOkAsync(string path, object payload)
    {
        (int status, JsonNode? body) = await PostAsync(path, System.Text.Json.JsonSerializer.Serialize(payload));
        Assert.AreEqual(200, status, body?.ToJsonString());
        return body!;
    }

    /// <summary>The data lines of an SSE response, without "data: ".</summary>
    public async Task<List<string>> StreamAsync(string path, object payload)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent.Create(payload) };
        using HttpResponseMessage r = await Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.AreEqual(200, (int)r.StatusCode, await r.Content.ReadAsStringAsync());
        Assert.AreEqual("text/event-stream", r.Content.Headers.ContentType?.MediaType);
        var events = new List<string>();
        await foreach (System.Net.ServerSentEvents.SseItem<string> item in System.Net.ServerSentEvents.SseParser.Create(await r.Content.ReadAsStreamAsync()).EnumerateAsync())
            events.Add(item.Data);
        return events;
    }

    public async Task<Dictionary<string, double>> MetricsAsync()
    {
        string text = await Client.GetStringAsync("metrics");
        return text.Split('\n').Where(l => l.StartsWith("mlxbench_", StringComparison.Ordinal))
            .Select(l => l.Split(' ')).ToDictionary(p => p[0], p => double.Parse(p[1], System.Globalization.CultureInfo.InvariantCulture));
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
