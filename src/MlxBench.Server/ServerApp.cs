using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using MlxBench.Server.Api;

namespace MlxBench.Server;

/// <summary>Builds the Kestrel app: routes, OpenAI-shaped errors for every failure, the optional API key, model loading.</summary>
internal static class ServerApp
{
    public const long MaxRequestBytes = 32L * 1024 * 1024;

    public static WebApplication Build(ServerOptions options, string[]? args = null)
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder(args ?? []);
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; });
        builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
        builder.WebHost.UseKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = MaxRequestBytes;
            if (options.Host is "localhost") k.ListenLocalhost(options.Port);
            else k.Listen(IPAddress.Parse(options.Host), options.Port);
        });
        // Continuations run where they are completed instead of hopping to the thread pool: a streamed token that the
        // stream relay hands to its SSE writer is sent from that thread at once (see SequenceJob.Stream), rather than
        // waiting for a pool thread, and then for a socket-sender thread, on a machine whose cores the engine keeps busy.
        // The handlers themselves never block (bodies are read and responses written asynchronously).
        builder.WebHost.UseSockets(s => s.UnsafePreferInlineScheduling = true);
        builder.Services.AddSingleton(new ModelHost(options));

        WebApplication app = builder.Build();
        ModelHost host = app.Services.GetRequiredService<ModelHost>();
        app.Use(ErrorsAsJson);
        if (options.ApiKey is { Length: > 0 } key) app.Use(RequireKey(key));

        app.MapGet("/health", () => InfoEndpoints.Health(host));
        app.MapGet("/v1/models", () => InfoEndpoints.Models(host));
        app.MapGet("/metrics", () => InfoEndpoints.Metrics(host));
        app.MapPost("/v1/completions", (Func<HttpContext, Task<IResult>>)((HttpContext http) => CompletionsEndpoint.HandleAsync(http, host)));
        app.MapPost("/v1/chat/completions", (Func<HttpContext, Task<IResult>>)((HttpContext http) => ChatCompletionsEndpoint.HandleAsync(http, host)));
        app.MapPost("/tokenize", (Func<HttpContext, Task<IResult>>)((HttpContext http) => InfoEndpoints.TokenizeAsync(http, host)));
        app.MapPost("/detokenize", (Func<HttpContext, Task<IResult>>)((HttpContext http) => InfoEndpoints.DetokenizeAsync(http, host)));
        app.MapGet("/tokenizer_info", () => InfoEndpoints.TokenizerInfo(host));
        app.MapFallback(() => new ApiError(404, "No such route. This server serves /v1/models, /v1/completions, /v1/chat/completions, /tokenize, /detokenize, /tokenizer_info, /health and /metrics.").ToResult());

        ILogger log = app.Logger;
        app.Lifetime.ApplicationStarted.Register(() => _ = Task.Run(async () =>
        {
            if (options.BeforeLoad is { } gate) await gate();
            var clock = Stopwatch.StartNew();
            if (host.Load())
                log.LogInformation("ready: {Model} ({Path}) in {Seconds:0.00} s; context {Context} x {Parallel} sequences, {Threads} threads; chat template: {Template}; engine: {Engine}",
                    host.ModelId, options.ModelPath, clock.Elapsed.TotalSeconds, host.Scheduler.ContextSize, host.Scheduler.Parallel, host.Scheduler.Threads, host.ChatTemplate.Source, host.SystemInfo);
            else
            {
                log.LogError("could not load {Path}: {Message}", options.ModelPath, host.FailureMessage);
                Environment.ExitCode = 1;
                app.Lifetime.StopApplication();
            }
        }));
        app.Lifetime.ApplicationStopped.Register(host.Dispose);
        if (options.ParentProcessId is { } parent) WatchParent(parent, app.Lifetime, log);
        return app;
    }

    /// <summary>Every failure a client sees is OpenAI-shaped JSON with the right status, never an HTML page.</summary>
    private static async Task ErrorsAsJson(HttpContext http, RequestDelegate next)
    {
        try
        {
            await next(http);
        }
        catch (ApiError e) when (!http.Response.HasStarted)
        {
            await Write(http, e);
        }
        catch (Microsoft.AspNetCore.Http.BadHttpRequestException e) when (!http.Response.HasStarted)
        {
            await Write(http, new ApiError(e.StatusCode, $"Bad request: {e.Message}"));
        }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
        {
            // The client disconnected; there is nobody to answer.
        }
        catch (Exception e) when (!http.Response.HasStarted)
        {
            http.RequestServices.GetRequiredService<ILogger<ModelHost>>().LogError(e, "unhandled error on {Path}", http.Request.Path);
            await Write(http, new ApiError(500, $"Internal error: {e.Message}"));
        }

        static async Task Write(HttpContext http, ApiError error)
        {
            http.Response.Clear();
            http.Response.StatusCode = error.Status;
            http.Response.ContentType = "application/json";
            await http.Response.Body.WriteAsync(error.ToJson());
        }
    }

    private static Func<HttpContext, RequestDelegate, Task> RequireKey(string key)
    {
        byte[] expected = Encoding.UTF8.GetBytes("Bearer " + key);
        return async (http, next) =>
        {
            if (http.Request.Path == "/health")
            {
                await next(http);
                return;
            }
            byte[] given = Encoding.UTF8.GetBytes(http.Request.Headers.Authorization.ToString());
            if (!CryptographicOperations.FixedTimeEquals(given, expected))
                throw new ApiError(401, "Missing or wrong API key: send 'Authorization: Bearer <key>'.", code: "invalid_api_key");
            await next(http);
        };
    }

    /// <summary>Stops the server when the process that started it is gone (a build killed with SIGKILL cannot stop it).</summary>
    private static void WatchParent(int pid, IHostApplicationLifetime lifetime, ILogger log)
    {
        _ = Task.Run(async () =>
        {
            while (!lifetime.ApplicationStopping.IsCancellationRequested)
            {
                if (!IsRunning(pid))
                {
                    log.LogWarning("parent process {Pid} is gone; stopping", pid);
                    lifetime.StopApplication();
                    return;
                }
                try { await Task.Delay(TimeSpan.FromSeconds(1), lifetime.ApplicationStopping); }
                catch (OperationCanceledException) { return; }
            }
        });

        static bool IsRunning(int pid)
        {
            try
            {
                using Process p = Process.GetProcessById(pid);
                return !p.HasExited;
            }
            catch (ArgumentException)
            {
                return false;
            }
            catch (InvalidOperationException)
            {
                return false;
            }
        }
    }
}
