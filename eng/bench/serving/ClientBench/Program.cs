using System.Diagnostics;
using System.Globalization;
using MlxBench.Harness.Serving;
using MlxBench.Harness.Serving.Client;
using MlxBench.Harness.Serving.Metrics;

// Measures the serving harness's client against an instant server: requests/s with 1 output token, streamed
// events/s with 16, and the TTFT bias (client first-event stamp minus the server's first-byte stamp, one clock).
// Usage: ClientBench <base-url> [--quick]
string baseUrl = args.Length > 0 ? args[0] : "http://127.0.0.1:18090/v1";
bool quick = args.Contains("--quick");
if (Stopwatch.Frequency != 1_000_000_000)
    throw new InvalidOperationException("Stopwatch is not CLOCK_MONOTONIC in ns here; the TTFT bias needs the server's clock.");
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
if (!args.Contains("--no-inline")) ServingClient.PreferInlineSocketCompletions();   // as mlxbench run-cell does
using var http = new HttpClient();
string root = baseUrl[..^3];

Console.WriteLine($"client: {Environment.ProcessorCount} core(s) visible, server GC {System.Runtime.GCSettings.IsServerGC}, .NET {Environment.Version}");
// Untimed: lets tiered compilation reach optimized code, so the phases below measure the steady-state ceiling (a
// cell's first level runs partly on less optimized code; its warm-up requests compile every path first).
await RunAsync("warm-up (not reported)", outputTokens: 4, concurrency: 64, requests: quick ? 5_000 : 50_000);
Phase oneToken = await RunAsync("1 output token", outputTokens: 1, concurrency: 64, requests: quick ? 20_000 : 200_000);
Phase sixteen = await RunAsync("16 output tokens", outputTokens: 16, concurrency: 64, requests: quick ? 10_000 : 100_000);
Phase bias1 = await RunAsync("TTFT bias, concurrency 1", outputTokens: 16, concurrency: 1, requests: quick ? 1_000 : 5_000);
Phase biasRate = await RunAsync("TTFT bias, 2,000 req/s Poisson, uncapped", outputTokens: 16, concurrency: null, requests: quick ? 4_000 : 20_000, rate: 2000);

Console.WriteLine();
Console.WriteLine("| measurement | MlxBench client | vLLM client (reference) | ratio | target |");
Console.WriteLine("|---|---|---|---|---|");
Console.WriteLine($"| req/s, 1 output token, 64 connections | {oneToken.RequestsPerSecond:0} | ~2,700 | {oneToken.RequestsPerSecond / 2700:0.0}x | >= 20,000 |");
Console.WriteLine($"| req/s, 16 output tokens | {sixteen.RequestsPerSecond:0} | 2,000-2,250 | {sixteen.RequestsPerSecond / 2250:0.0}x | |");
Console.WriteLine($"| SSE events/s, 16 output tokens | {sixteen.EventsPerSecond:0} | 32,000-36,000 | {sixteen.EventsPerSecond / 36000:0.0}x | >= 300,000 |");
Console.WriteLine($"| TTFT bias median, concurrency 1 (ms) | {bias1.BiasMedianMs:0.000} (p99 {bias1.BiasP99Ms:0.000}) | +8.4 to +12.2 (vllm PR #54628, 8 concurrent) | | < 0.1 |");
Console.WriteLine($"| TTFT bias median, 2,000 req/s open loop (ms) | {biasRate.BiasMedianMs:0.000} (p99 {biasRate.BiasP99Ms:0.000}) | | | < 0.1 |");
Console.WriteLine($"| TTFT bias median at saturation, 64 connections (ms): queueing in a saturated client | {sixteen.BiasMedianMs:0.000} | | | |");
Console.WriteLine($"| client CPU over each phase, 1 token / 16 tokens (cores) | {oneToken.CpuCores:0.00} / {sixteen.CpuCores:0.00} | 1 (saturated) | | |");

async Task<Phase> RunAsync(string name, int outputTokens, int? concurrency, int requests, double rate = double.PositiveInfinity)
{
    var options = new ServingOptions
    {
        Suite = "bench", Requests = requests, InputTokens = 16, OutputTokens = outputTokens, Concurrencies = [concurrency], RequestRates = [rate],
        ReadyTimeoutSeconds = 10, ProgressIntervalSeconds = 30, Percentiles = [50, 99],
    };
    TimeSpan cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
    var wall = Stopwatch.StartNew();
    IReadOnlyList<LevelResult> levels = await new ServingBenchmark(options, baseUrl, "instant", Console.Out).RunAsync(CancellationToken.None);
    double cpuCores = (Process.GetCurrentProcess().TotalProcessorTime - cpuBefore).TotalSeconds / wall.Elapsed.TotalSeconds;
    LevelMetrics m = levels[0].Metrics;
    Dictionary<int, long> stamps = (await http.GetStringAsync($"{root}/stamps/0"))
        .Split('\n', StringSplitOptions.RemoveEmptyEntries)
        .Select(line => line.Split(' '))
        .ToDictionary(p => int.Parse(p[0], CultureInfo.InvariantCulture), p => long.Parse(p[1], CultureInfo.InvariantCulture));
    double[] bias = m.Run.Records.Where(r => r.Success && stamps.ContainsKey(r.Index))
        .Select(r => (r.FirstChunkTicks - stamps[r.Index]) / 1e6).ToArray();
    var biasStats = new SampleStatistics(bias);
    long events = m.Run.Records.Sum(r => (long)r.ChunkCount);
    var phase = new Phase(m.Completed / m.Duration, events / m.Duration, biasStats.Median, biasStats.Percentile(99), cpuCores);
    Console.WriteLine($"{name}: {m.Completed} ok, {m.Failed} failed in {m.Duration:0.00} s: {phase.RequestsPerSecond:0} req/s, {phase.EventsPerSecond:0} events/s, "
        + $"TTFT bias median {phase.BiasMedianMs:0.000} ms p99 {phase.BiasP99Ms:0.000} ms over {bias.Length} requests, client CPU {phase.CpuCores:0.00} cores");
    return phase;
}

internal sealed record Phase(double RequestsPerSecond, double EventsPerSecond, double BiasMedianMs, double BiasP99Ms, double CpuCores);
