using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using MlxBench.Harness.Serving;
using MlxBench.Harness.Serving.Results;

namespace MlxBench.Harness.Tests.Serving;

/// <summary>Runs the serving benchmark against a server and keeps its log and its vLLM result objects.</summary>
public sealed class ServingTestRun
{
    public required IReadOnlyList<LevelResult> Levels { get; init; }
    public required string Log { get; init; }

    public JsonObject Json(int level)
    {
        var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
            VllmResultWriter.Write(writer, Levels[level].Metrics, Levels[level].Description);
        return JsonNode.Parse(buffer.ToArray())!.AsObject();
    }

    public static ServingOptions Options(int requests, int inputTokens = 8, int outputTokens = 4) => new()
    {
        Suite = "throughput",
        Requests = requests,
        InputTokens = inputTokens,
        OutputTokens = outputTokens,
        ReadyTimeoutSeconds = 10,
        RequestTimeoutSeconds = 30,
        Percentiles = [50, 90, 99],
    };

    public static async Task<ServingTestRun> RunAsync(ScriptedServer server, ServingOptions options, CancellationToken cancellationToken = default)
    {
        var log = new StringWriter(new StringBuilder());
        IReadOnlyList<LevelResult> levels = await new ServingBenchmark(options, server.BaseUrl, "scripted", log).RunAsync(cancellationToken);
        return new ServingTestRun { Levels = levels, Log = log.ToString() };
    }
}
