using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using MlxBench.BenchSupport;
using MlxBench.Core.Endpoints;
using MlxBench.Server.Engine;

namespace MlxBench.ServerBench;

/// <summary>
/// Server throughput against the engine's own decode speed, measured in one run on one machine:
/// <list type="number">
/// <item>baseline: the engine's tg128 (128 single-token decodes after BOS, greedy) through its C API, in process;</item>
/// <item>one stream through HTTP: a streamed greedy completion of 128 tokens, decode rate between first and last token;</item>
/// <item>N concurrent streams (default 8): aggregate output tokens/s over the wall time, against one stream measured the same way.</item>
/// </list>
/// Targets (issue 4): HTTP single stream >= 90% of tg128; N streams >= 3x one stream. Each ratio is the median of the
/// per-round ratios, each figure the median of
/// --repeats rounds after a 4 s warm-up; the rounds interleave the four measurements so all see the same machine load.
/// Exit code 1 when a target is missed.
/// </summary>
internal static class Program
{
    private static async Task<int> Main(string[] args)
    {
        Dictionary<string, string> o = ParseArgs(args);
        string repo = FindRepo();
        string engine = o.GetValueOrDefault("engine-library") ?? Path.Combine(repo, "artifacts", "native", "build", "libmlxbench.so");
        string server = o.GetValueOrDefault("server") ?? Path.Combine(repo, "artifacts", "bin", "MlxBench.Server", "release", "MlxBench.Server.dll");
        int threads = int.Parse(o.GetValueOrDefault("threads") ?? Environment.ProcessorCount.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
        int streams = int.Parse(o.GetValueOrDefault("streams") ?? "8", CultureInfo.InvariantCulture);
        int tokens = int.Parse(o.GetValueOrDefault("tokens") ?? "128", CultureInfo.InvariantCulture);
        int repeats = int.Parse(o.GetValueOrDefault("repeats") ?? "3", CultureInfo.InvariantCulture);
        string model = o.GetValueOrDefault("model") ?? Path.Combine(repo, "artifacts", "bench", "stories110M-shape-q4_0.gguf");
        // The engine's own CLI (the native build's mlxbench-engine), when there is one, gives the named baseline
        // (`mlxbench-engine bench` tg128) and the model (`gen-model`); otherwise the same measurements go through the C API.
        string? cli = o.GetValueOrDefault("engine-cli") ?? FindEngineCli(repo, engine);
        if (!File.Exists(model) && cli is not null)
        {
            Console.WriteLine($"generating {model} with {cli} gen-model --shape stories110M --type Q4_0");
            Directory.CreateDirectory(Path.GetDirectoryName(model)!);
            RunCli(cli, ["gen-model", "--shape", "stories110M", "--type", "Q4_0", "-o", model]);
        }
        if (!File.Exists(model))
        {
            string vocab = o.GetValueOrDefault("vocab") ?? Path.Combine(repo, "..", "shared", "tokenizers", "ggml-vocab-llama-spm.gguf");
            Console.WriteLine($"generating {model} (stories110M shape, random Q4_0 weights, tokenizer of {Path.GetFileName(vocab)})");
            Directory.CreateDirectory(Path.GetDirectoryName(model)!);
            GgufModelWriter.Write(model, GgufModelWriter.Stories110M, vocab);
        }
        Console.WriteLine($"model {model} ({new FileInfo(model).Length / 1e6:0.0} MB), {threads} threads, {streams} streams x {tokens} tokens, {repeats} repeats");

        EngineLibrary.Configure(engine);
        Console.WriteLine($"engine: {EngineLibrary.Verify()}");
        await using RunningEndpoint srv = await BenchServer.StartAsync(server, engine, model, Path.GetFileNameWithoutExtension(model),
            Path.Combine(repo, "artifacts", "bench", "logs"), new Dictionary<string, string>
            {
                ["Threads"] = threads.ToString(CultureInfo.InvariantCulture),
                ["Parallel"] = Math.Max(streams, 1).ToString(CultureInfo.InvariantCulture),
                ["ContextSize"] = "1024",
            });
        using var http = new HttpClient { BaseAddress = new Uri(new Uri(srv.BaseUrl), "/"), Timeout = TimeSpan.FromMinutes(10) };

        // Warm-up, then the four measurements interleaved round by round, so the engine's figures and the server's
        // see the same machine (other load on a shared machine drifts over minutes).
        Func<double> baseline = cli is not null ? () => CliTg(cli, model, threads, tokens) : () => EngineTg(model, threads, tokens);
        string baselineName = cli is not null ? $"mlxbench-engine bench tg{tokens}" : $"engine tg{tokens} (C API, in process)";
        baseline();
        // Warm-up long enough for .NET's tiered compilation to settle: in the first seconds it re-JITs the server's hot
        // paths (perf: ~27 % of the server's samples on the core Kestrel and this client share), which no long
        // benchmark run sees.
        for (var until = DateTime.UtcNow.AddSeconds(4); DateTime.UtcNow < until;)
        {
            StreamRun(http, "warm-up", tokens).GetAwaiter().GetResult();
            ConcurrentRun(http, streams, tokens).GetAwaiter().GetResult();
        }
        var tgs = new List<double>();
        var tgBatcheds = new List<double>();
        var singles = new List<StreamResult>();
        var aggregates = new List<double>();
        // Ratios are taken within a round (paired measurements), then the median over rounds: on a shared machine the
        // absolute figures drift between rounds, a round's ratio much less.
        var singleRatios = new List<double>();
        var scaleRatios = new List<double>();
        var steal = RunProbe.Take(http, srv.ProcessId);
        for (int r = 0; r < repeats; r++)
        {
            tgs.Add(baseline());
            singles.Add(StreamRun(http, "Once upon a time", tokens).GetAwaiter().GetResult());
            tgBatcheds.Add(EngineTg(model, threads, tokens, streams));
            RunProbe before = RunProbe.Take(http, srv.ProcessId);
            aggregates.Add(ConcurrentRun(http, streams, tokens).GetAwaiter().GetResult());
            Console.WriteLine($"round {r + 1}: {streams} streams: {RunProbe.Take(http, srv.ProcessId).Since(before)}");
            singleRatios.Add(singles[^1].DecodeRate / tgs[^1]);
            scaleRatios.Add(aggregates[^1] / singles[^1].OutputRate);
            Console.WriteLine($"round {r + 1}: tg {tgs[^1]:0.0}, 1 stream {singles[^1].DecodeRate:0.0} (output {singles[^1].OutputRate:0.0}), engine x{streams} {tgBatcheds[^1]:0.0}, {streams} streams {aggregates[^1]:0.0} tok/s; ratios {singleRatios[^1]:0.000} and {scaleRatios[^1]:0.00}x");
        }
        double tg = Median(tgs), tgBatched = Median(tgBatcheds), aggregate = Median(aggregates);
        double singleDecode = Median(singles.Select(x => x.DecodeRate));
        double singleOutput = Median(singles.Select(x => x.OutputRate));
        Console.WriteLine();
        Console.WriteLine($"baseline  {baselineName,-50}{tg,9:0.0} tok/s");
        Console.WriteLine($"baseline  engine {streams} sequences x tg{tokens}, one decode per step   {tgBatched,9:0.0} tok/s  (the engine's own ceiling: {tgBatched / tg:0.00}x tg{tokens})");
        Console.WriteLine($"http      1 stream decode rate (first..last token)            {singleDecode,9:0.0} tok/s");
        Console.WriteLine($"http      1 stream output throughput (wall, with prefill)     {singleOutput,9:0.0} tok/s");
        Console.WriteLine($"http      {streams} streams aggregate output throughput (wall)     {aggregate,9:0.0} tok/s  ({aggregate / tgBatched:0.00} of the engine's {streams}-sequence rate)");
        Dictionary<string, double> metrics = Metrics(http);
        Console.WriteLine($"server    decode steps {metrics.GetValueOrDefault("mlxbench_decode_steps_total")}, most sequences in one step {metrics.GetValueOrDefault("mlxbench_batch_sequences_max")}");
        Console.WriteLine($"machine   CPU steal during the rounds: {RunProbe.Take(http, srv.ProcessId).StealTicks - steal.StealTicks} ticks of 10 ms");

        double singleRatio = Median(singleRatios), scaleRatio = Median(scaleRatios);
        bool okSingle = singleRatio >= 0.90, okScale = scaleRatio >= 3.0;
        Console.WriteLine();
        Console.WriteLine($"ratio     1 stream over HTTP / {baselineName,-28}{singleRatio,9:0.000}  (target >= 0.90) {(okSingle ? "PASS" : "FAIL")}");
        Console.WriteLine($"ratio     {streams} streams / 1 stream (output throughput)    {scaleRatio,9:0.000}  (target >= 3.00) {(okScale ? "PASS" : "FAIL")}");
        return okSingle && okScale ? 0 : 1;
    }

    private sealed record StreamResult(int Tokens, double DecodeRate, double OutputRate);

    /// <summary>One streamed greedy completion; ignore_eos makes every run exactly <paramref name="tokens"/> long.</summary>
    private static async Task<StreamResult> StreamRun(HttpClient http, string prompt, int tokens)
    {
        string body = $"{{\"prompt\": {System.Text.Json.JsonSerializer.Serialize(prompt)}, \"max_tokens\": {tokens}, \"temperature\": 0, \"ignore_eos\": true, \"stream\": true}}";
        var clock = Stopwatch.StartNew();
        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/completions") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        using HttpResponseMessage response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        response.EnsureSuccessStatusCode();
        double first = -1, last = 0;
        int count = 0;
        await foreach (var item in System.Net.ServerSentEvents.SseParser.Create(await response.Content.ReadAsStreamAsync()).EnumerateAsync())
        {
            if (item.Data == "[DONE]") break;
            JsonNode chunk = JsonNode.Parse(item.Data)!;
            if (chunk["choices"]![0]!["finish_reason"] is not null && (string?)chunk["choices"]![0]!["text"] == "") continue;
            count++;
            last = clock.Elapsed.TotalSeconds;
            if (first < 0) first = last;
        }
        double total = clock.Elapsed.TotalSeconds;
        return new StreamResult(count, (count - 1) / (last - first), count / total);
    }

    private static async Task<double> ConcurrentRun(HttpClient http, int streams, int tokens)
    {
        var clock = Stopwatch.StartNew();
        StreamResult[] results = await Task.WhenAll(Enumerable.Range(0, streams).Select(i => StreamRun(http, $"Story number {i}: once upon a time", tokens)));
        return results.Sum(r => r.Tokens) / clock.Elapsed.TotalSeconds;
    }

    /// <summary>llama-bench's tg: decode BOS, then <paramref name="tokens"/> single-token steps, timed; with
    /// <paramref name="sequences"/> &gt; 1, that many sequences advance together, one token each per decode.</summary>
    private static unsafe double EngineTg(string path, int threads, int tokens, int sequences = 1)
    {
        using EngineModel model = EngineModel.Load(path);
        MlxbContextParams p = NativeMethods.ContextDefaultParams();
        p.NCtx = tokens + 8;
        p.NThreads = threads;
        p.NSeqMax = sequences;
        nint ctx, sampler;
        EngineException.ThrowIfFailed(NativeMethods.ContextNew(model.Handle, &p, &ctx), "mlxb_context_new");
        MlxbSamplerParams sp = NativeMethods.SamplerDefaultParams();
        EngineException.ThrowIfFailed(NativeMethods.SamplerNew(model.Handle, &sp, &sampler), "mlxb_sampler_new");
        try
        {
            int[] tokenIds = Enumerable.Repeat(model.Bos, sequences).ToArray();
            int[] seqIds = Enumerable.Range(0, sequences).ToArray();
            fixed (int* t = tokenIds)
            fixed (int* s = seqIds)
            {
                var batch = new MlxbBatch { NTokens = sequences, Tokens = t, SeqIds = s };
                EngineException.ThrowIfFailed(NativeMethods.Decode(ctx, &batch), "mlxb_decode");
                for (int q = 0; q < sequences; q++) t[q] = NativeMethods.SamplerSample(sampler, ctx, q);
                var clock = Stopwatch.StartNew();
                for (int i = 0; i < tokens; i++)
                {
                    EngineException.ThrowIfFailed(NativeMethods.Decode(ctx, &batch), "mlxb_decode");
                    for (int q = 0; q < sequences; q++) t[q] = NativeMethods.SamplerSample(sampler, ctx, q);
                }
                return tokens * sequences / clock.Elapsed.TotalSeconds;
            }
        }
        finally
        {
            NativeMethods.SamplerFree(sampler);
            NativeMethods.ContextFree(ctx);
        }
    }

    private static string? FindEngineCli(string repo, string engineLibrary)
    {
        string name = OperatingSystem.IsWindows() ? "mlxbench-engine.exe" : "mlxbench-engine";
        string[] candidates =
        [
            Path.Combine(Path.GetDirectoryName(engineLibrary)!, name),
            Path.Combine(repo, "artifacts", "native", "build", "bin", name),
            Path.Combine(repo, "artifacts", "native", "build", name),
            Path.Combine(repo, "artifacts", "native", name),
        ];
        return candidates.FirstOrDefault(File.Exists);
    }

    private static string RunCli(string cli, string[] args)
    {
        var start = new ProcessStartInfo(cli) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in args) start.ArgumentList.Add(a);
        using Process p = Process.Start(start)!;
        Task<string> stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"{cli} {string.Join(' ', args)} failed ({p.ExitCode}): {stderr.Result}");
        return stdout;
    }

    /// <summary><c>mlxbench-engine bench -p 0 -n 128 -r 1 -o json</c>: the engine's own tg figure (avg_ts).</summary>
    private static double CliTg(string cli, string model, int threads, int tokens)
    {
        string json = RunCli(cli, ["bench", "-m", model, "-p", "0", "-n", tokens.ToString(CultureInfo.InvariantCulture),
            "-t", threads.ToString(CultureInfo.InvariantCulture), "-r", "1", "-o", "json", "--quiet"]);
        JsonNode row = JsonNode.Parse(json)!.AsArray().First(r => (string?)r!["test"] == $"tg{tokens}")!;
        return (double)row["avg_ts"]!;
    }

    private static Dictionary<string, double> Metrics(HttpClient http) =>
        http.GetStringAsync("metrics").GetAwaiter().GetResult().Split('\n').Where(l => l.StartsWith("mlxbench_", StringComparison.Ordinal))
            .Select(l => l.Split(' ')).ToDictionary(p => p[0], p => double.Parse(p[1], CultureInfo.InvariantCulture));

    /// <summary>What one run cost: server counters, CPU seconds of this client, of the server and of its engine thread
    /// (the one whose name starts mlxbench-engine; the engine's pool threads count as the server's), machine steal.</summary>
    private sealed record RunProbe(Dictionary<string, double> Counters, double ClientCpu, double ServerCpu, double EngineThreadCpu, long StealTicks, double Wall)
    {
        public static RunProbe Take(HttpClient http, int serverPid)
        {
            Dictionary<string, double> m = Program.Metrics(http);
            string[] cpu = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries);
            double engineCpu = 0;
            foreach (string task in Directory.EnumerateDirectories($"/proc/{serverPid}/task"))
            {
                try
                {
                    if (File.ReadAllText(Path.Combine(task, "comm")).StartsWith("mlxbench-engin", StringComparison.Ordinal)) engineCpu += CpuSeconds(Path.Combine(task, "stat"));
                }
                catch (IOException)
                {
                    // the thread ended
                }
            }
            return new RunProbe(m, Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds, CpuSeconds($"/proc/{serverPid}/stat"), engineCpu,
                long.Parse(cpu[8], CultureInfo.InvariantCulture), Stopwatch.GetTimestamp() / (double)Stopwatch.Frequency);
        }

        /// <summary>utime + stime of a /proc stat file (clock ticks of 10 ms).</summary>
        private static double CpuSeconds(string statFile)
        {
            string[] stat = File.ReadAllText(statFile).Split(')')[1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            return (double.Parse(stat[11], CultureInfo.InvariantCulture) + double.Parse(stat[12], CultureInfo.InvariantCulture)) / 100;
        }

        public string Since(RunProbe b)
        {
            double D(string name) => Counters.GetValueOrDefault("mlxbench_" + name) - b.Counters.GetValueOrDefault("mlxbench_" + name);
            double steps = D("decode_steps_total"), wall = Wall - b.Wall;
            return FormattableString.Invariant($"{steps} steps, {D("generation_tokens_total") / steps:0.00} tokens/step; per step: decode {D("decode_seconds_total") / steps * 1e3:0.00} ms, step {D("step_seconds_total") / steps * 1e3:0.00} ms (sample {D("sample_seconds_total") / steps * 1e3:0.00}, emit {D("emit_seconds_total") / steps * 1e3:0.00}; relay {D("relay_seconds_total") / steps * 1e3:0.00}), wall {wall / steps * 1e3:0.00} ms; CPU s: client {ClientCpu - b.ClientCpu:0.00}, server {ServerCpu - b.ServerCpu:0.00} (engine thread {EngineThreadCpu - b.EngineThreadCpu:0.00}), wall {wall:0.00}; steal {StealTicks - b.StealTicks}");
        }
    }

    private static List<T> Repeat<T>(int n, Func<T> run) => Enumerable.Range(0, n).Select(_ => run()).ToList();

    private static double Median(IEnumerable<double> values)
    {
        double[] sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }

    private static Dictionary<string, string> ParseArgs(string[] args)
    {
        var o = new Dictionary<string, string>(StringComparer.Ordinal);
        for (int i = 0; i + 1 < args.Length; i += 2) o[args[i].TrimStart('-')] = args[i + 1];
        return o;
    }

    private static string FindRepo()
    {
        for (string? dir = AppContext.BaseDirectory; dir is not null; dir = Path.GetDirectoryName(dir))
            if (File.Exists(Path.Combine(dir, "global.json")) && File.Exists(Path.Combine(dir, "schema.json"))) return dir;
        throw new InvalidOperationException("run from the repository's artifacts");
    }
}
