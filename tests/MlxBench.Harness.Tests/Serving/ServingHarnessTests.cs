using System.Text.Json.Nodes;
using MlxBench.Core.Cells;
using MlxBench.Core.Converters;
using MlxBench.Core.Diagnostics;
using MlxBench.Core.Envelopes;
using MlxBench.Harness.Serving;
using MlxBench.Testing;

namespace MlxBench.Harness.Tests.Serving;

/// <summary>The harness as the CLI runs it for a cell: metadata in, a vLLM JSON Lines sweep out, an envelope through the vllm converter.</summary>
[TestClass]
public sealed class ServingHarnessTests
{
    private static readonly ConverterContext s_context = new()
    {
        Suite = "throughput", Model = "scripted", GitSha = "0123456789abcdef0123456789abcdef01234567",
        TimestampOverride = "2026-08-16T16:08:53Z", System = new SystemInfo { Os = "Linux", Chip = "x86_64", MemoryGb = 24 },
    };

    private static BenchCell Cell(string? baseUrl, Dictionary<string, string> metadata) => new(
        new ModelSpec("scripted", "scripted", null, null, null, baseUrl is null ? null : "engine", new SortedDictionary<string, string>()),
        new SuiteSpec("throughput", "throughput", "serving", null, "vllm", null, [], new SortedDictionary<string, string>(metadata)),
        baseUrl is null ? null : new EndpointSpec("engine", baseUrl, new SortedDictionary<string, string>()),
        "fingerprint");

    [TestMethod]
    public async Task Sweep_WritesOneVllmResultPerLevel_ThatConvertsToTaggedValidResults()
    {
        await using ScriptedServer server = await ScriptedServer.StartAsync(_ => Script.Tokens(2, 1, 1, 1));
        using var temp = new TempDirectory();
        string output = temp.Combine("serving.jsonl");
        var log = new StringWriter();
        BenchCell cell = Cell(server.BaseUrl, new() { ["Concurrency"] = "1;4", ["Requests"] = "8", ["InputTokens"] = "16", ["OutputTokens"] = "4", ["ProgressInterval"] = "0.05" });

        await new ServingHarness().RunAsync(new HarnessRun(cell, output, log), CancellationToken.None);

        string[] lines = File.ReadAllLines(output);
        Assert.AreEqual(2, lines.Length, log.ToString());
        Assert.IsFalse(File.Exists(output + ".tmp"));
        string text = log.ToString();
        Assert.AreEqual(2, text.Split('\n').Count(l => l.StartsWith("summary: concurrency=", StringComparison.Ordinal)), text);
        StringAssert.Contains(text, "summary: concurrency=4,rate=inf: 8/8 ok");

        Envelope envelope = ResultConverters.TryGet("vllm", out IResultConverter converter) ? converter.Convert(File.ReadAllText(output), s_context) : throw new AssertFailedException("no vllm converter");
        Assert.AreEqual(0, SchemaValidator.Default.Validate(EnvelopeJson.Serialize(envelope)).Count);
        var levels = envelope.Results.GroupBy(r => r.Tags!["level"]).ToDictionary(g => g.Key, g => g.ToList());
        CollectionAssert.AreEquivalent(new[] { "concurrency=1,rate=inf", "concurrency=4,rate=inf" }, levels.Keys.ToArray());
        Assert.IsTrue(envelope.Results.All(r => r.Tags!["workload"] == "random" && r.Tags["prompt_mode"] == "token-ids" && r.Tags["input_tokens"] == "16"));
        Assert.AreEqual(1, levels["concurrency=1,rate=inf"].Single(r => r.Metric == "concurrency_peak").Value);
        Assert.AreEqual(4, levels["concurrency=4,rate=inf"].Single(r => r.Metric == "concurrency_peak").Value);
        Assert.AreEqual("128", levels["concurrency=4,rate=inf"][0].Tags!["total_input_tokens"]);
        Assert.AreEqual("1.0", levels["concurrency=4,rate=inf"][0].Tags!["burstiness"], "floats written as Python writes them, as in vLLM's files");
    }

    [TestMethod]
    public async Task OurResult_ConvertsToTheSameMetricNamesAndUnits_AsVllmBenchServe()
    {
        await using ScriptedServer server = await ScriptedServer.StartAsync(_ => Script.Tokens(2, 1, 1));
        using var temp = new TempDirectory();
        string output = temp.Combine("serving.jsonl");
        await new ServingHarness().RunAsync(new HarnessRun(Cell(server.BaseUrl, new() { ["Concurrency"] = "2", ["Requests"] = "4", ["Percentiles"] = "99" }), output, new StringWriter()), CancellationToken.None);
        string fixture = SharedData.ReadFixture("serving", "er0080_vllm-benchmarking__bench_serve_v0.25.1.json");

        var converter = new VllmServeConverter();
        var ours = converter.Convert(File.ReadAllText(output), s_context).Results.ToDictionary(r => r.Metric, r => r.Unit);
        var theirs = converter.Convert(fixture, s_context).Results.ToDictionary(r => r.Metric, r => r.Unit);

        foreach ((string metric, string unit) in theirs)
        {
            Assert.IsTrue(ours.TryGetValue(metric, out string? ourUnit), $"{metric} is missing from our envelope");
            Assert.AreEqual(unit, ourUnit, metric);
        }
        string[] extras = ours.Keys.Except(theirs.Keys).Order().ToArray();
        CollectionAssert.AreEqual(
            new[] { "client_queue_time_mean_ms", "client_queue_time_p50_ms", "client_queue_time_p99_ms", "client_queue_time_std_ms",
                    "e2el_mean_ms", "e2el_p50_ms", "e2el_p99_ms", "e2el_std_ms",
                    "send_lag_mean_ms", "send_lag_p50_ms", "send_lag_p99_ms", "send_lag_std_ms" },
            extras, "only E2EL (vLLM's own, when asked) and the queue and send-lag statistics are added");

        // Every key of vLLM's result object is in ours, so tools reading vLLM results read ours.
        JsonObject vllm = JsonNode.Parse(fixture)!.AsObject();
        JsonObject mine = JsonNode.Parse(File.ReadAllLines(output)[0])!.AsObject();
        CollectionAssert.IsSubsetOf(vllm.Select(p => p.Key).ToArray(), mine.Select(p => p.Key).ToArray());
        Assert.AreEqual("inf", (string)mine["request_rate"]!);
        Assert.IsNull(mine["request_goodput"]);
    }

    [TestMethod]
    public async Task CellWithoutEndpoint_FailsWithACodedError()
    {
        using var temp = new TempDirectory();
        var e = await Assert.ThrowsExactlyAsync<BenchException>(() =>
            new ServingHarness().RunAsync(new HarnessRun(Cell(null, []), temp.Combine("serving.jsonl"), new StringWriter()), CancellationToken.None));
        Assert.AreEqual("MLXB6001", e.Diagnostic.Code);
    }

    [TestMethod]
    public async Task ServerThatNeverAnswers_FailsAfterReadyTimeout_AndWritesNothing()
    {
        using var temp = new TempDirectory();
        string output = temp.Combine("serving.jsonl");
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        int port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();   // nothing listens there now: connections are refused

        var e = await Assert.ThrowsExactlyAsync<BenchException>(() => new ServingHarness().RunAsync(
            new HarnessRun(Cell($"http://127.0.0.1:{port}/v1", new() { ["ReadyTimeout"] = "0.5" }), output, new StringWriter()), CancellationToken.None));
        Assert.AreEqual("MLXB6005", e.Diagnostic.Code);
        Assert.IsFalse(File.Exists(output));
    }

    [TestMethod]
    public async Task ServerThatAcceptsButNeverAnswers_StillTimesOut()
    {
        using var temp = new TempDirectory();
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();   // accepts connections (the kernel completes the handshake) and never answers
        try
        {
            int port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var e = await Assert.ThrowsExactlyAsync<BenchException>(() => new ServingHarness().RunAsync(
                new HarnessRun(Cell($"http://127.0.0.1:{port}/v1", new() { ["ReadyTimeout"] = "1" }), temp.Combine("serving.jsonl"), new StringWriter()), CancellationToken.None));
            Assert.AreEqual("MLXB6005", e.Diagnostic.Code);
            Assert.IsTrue(clock.Elapsed < TimeSpan.FromSeconds(10), clock.Elapsed.ToString());
        }
        finally
        {
            listener.Stop();
        }
    }

    [TestMethod]
    public async Task EveryRequestFailing_FailsTheCell()
    {
        await using ScriptedServer server = await ScriptedServer.StartAsync(_ => new Script([], Status: 503));
        using var temp = new TempDirectory();
        var e = await Assert.ThrowsExactlyAsync<BenchException>(() => new ServingHarness().RunAsync(
            new HarnessRun(Cell(server.BaseUrl, new() { ["Requests"] = "3" }), temp.Combine("serving.jsonl"), new StringWriter()), CancellationToken.None));
        Assert.AreEqual("MLXB6007", e.Diagnostic.Code);
        StringAssert.Contains(e.Message, "HTTP 503");
    }
}
