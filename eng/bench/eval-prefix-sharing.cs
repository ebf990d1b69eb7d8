#:project ../../src/MlxBench.Harness/MlxBench.Harness.csproj
#:project ../BenchSupport/BenchSupport.csproj
#:property TargetFramework=net10.0
#:property TreatWarningsAsErrors=false
#:property AllowUnsafeBlocks=true
// Benchmark: ARC-Easy log-likelihood scoring, the evaluator's way (all choices of a document in one request, so a
// server with prefix reuse computes the shared context once) against lm-eval's way (local-completions: one request
// per (context, choice) pair, all pairs sorted by descending token length as lm-eval's Collator orders them), the same
// number in flight, against the same server in the same run. The evaluator's requests also carry the server's
// extension echo_logprobs_from (ctxlen per prompt: no log-probabilities for the context, which no log-likelihood
// reads); lm-eval's way sends lm-eval's request exactly (OpenAiModel.ScorePairAsync). Tokenization is done first and
// not timed, for both.
// Both ways are warmed up (JIT tiering of server and client, connections) before anything is timed; then each round
// times both, alternating which goes first, and the ratio is the median of the rounds' ratios (paired measurements:
// on a shared machine the absolute figures drift between rounds, a round's ratio much less). Prints, per way and
// round, wall time, requests, prompt tokens computed and reused, decode steps and the engine thread's busy time (from
// the server's /metrics). With --engine-library and --model-file it also scores every pair with the engine itself
// (mlxb_decode + mlxb_get_token_logprob, summed as the evaluator sums the server's JSON values). Fails (exit 1) if
// the two ways, or a way and the engine, score any choice differently, or the median ratio is below the target.
//
//   eng/bench-eval.sh [--threads 1]     # builds and starts MlxBench.Server itself (stories260K), then runs this
//   dotnet run eng/bench/eval-prefix-sharing.cs -- --base-url http://127.0.0.1:8080/v1 --model stories260K \
//       --data ../shared/tasks/mosaicml__llm-foundry__arc_easy_test.jsonl [--limit 500] [--concurrency 4] [--rounds 5]
//   ... or --server MlxBench.Server.dll --model-file model.gguf --engine-library libmlxbench.so [--threads 1]
//       [--parallel 4] [--logs DIR] instead of --base-url: the server is started as a Server="native" endpoint (the
//       SDK's launcher) on a free port and stopped at the end.
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using MlxBench.BenchSupport;
using MlxBench.Core.Endpoints;
using MlxBench.Harness.Eval.Client;
using MlxBench.Harness.Eval.Data;
using MlxBench.Harness.Eval.Python;
using MlxBench.Harness.Eval.Tasks;

var o = new Dictionary<string, string>(StringComparer.Ordinal)
{
    ["--limit"] = "500", ["--concurrency"] = "4", ["--model"] = "model", ["--rounds"] = "5", ["--warmup"] = "2", ["--target"] = "2",
};
for (int i = 0; i + 1 < args.Length; i += 2) o[args[i]] = args[i + 1];
if (!(o.ContainsKey("--base-url") || o.ContainsKey("--server") && o.ContainsKey("--model-file") && o.ContainsKey("--engine-library")) || !o.ContainsKey("--data"))
{
    Console.Error.WriteLine("usage: eval-prefix-sharing.cs (--base-url http://host:port/v1 | --server MlxBench.Server.dll --model-file m.gguf --engine-library lib [--threads N] [--parallel N] [--logs DIR])");
    Console.Error.WriteLine("                              --data arc_easy.jsonl [--model NAME] [--limit 500] [--concurrency 4] [--rounds 5] [--warmup 2] [--target 2]");
    return 2;
}
int Int(string name) => int.Parse(o[name], CultureInfo.InvariantCulture);
int limit = Int("--limit"), concurrency = Int("--concurrency"), rounds = Int("--rounds"), warmups = Int("--warmup");
double target = double.Parse(o["--target"], CultureInfo.InvariantCulture);

await using RunningEndpoint? server = o.TryGetValue("--server", out string? serverDll)
    ? await BenchServer.StartAsync(serverDll, o["--engine-library"], o["--model-file"], o["--model"],
        o.GetValueOrDefault("--logs") ?? Path.Combine(Path.GetTempPath(), "mlxbench-eval-bench"),
        new Dictionary<string, string> { ["Threads"] = o.GetValueOrDefault("--threads") ?? "1", ["Parallel"] = o.GetValueOrDefault("--parallel") ?? "4" })
    : null;
string baseUrl = server?.BaseUrl ?? o["--base-url"];
return await RunAsync();

async Task<int> RunAsync()
{
    using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(10) };
    // No request cache: every request of both ways is computed by the server.
    var endpoint = new OpenAiEndpoint(http, baseUrl, cache: null, maxRetries: 0);
    var model = new OpenAiModel(endpoint, new ModelOptions { Model = o["--model"] });
    List<JsonObject> rows = (await DocLoader.LoadFileAsync(Path.GetFullPath(o["--data"]), CancellationToken.None)).Take(limit).ToList();
    var builder = new PromptBuilder(BuiltInTasks.ArcEasy(), null, new PromptOptions());
    List<DocRequests> docs = rows.Select((r, d) => builder.Build(d, r)).ToList();
    var pairs = new List<(int Doc, int Choice, (int[] Context, int[] Continuation) Tokens)>();
    foreach (DocRequests doc in docs)
        for (int c = 0; c < doc.Requests.Count; c++)
        {
            var ll = (LoglikelihoodRequest)doc.Requests[c];
            pairs.Add((doc.DocId, c, await model.EncodePairAsync(ll.Context, ll.Continuation, CancellationToken.None)));
        }
    // lm-eval's Collator: descending total length, then the token tuple.
    var lmEvalOrder = pairs.OrderBy(p => -(p.Tokens.Context.Length + p.Tokens.Continuation.Length))
        .ThenBy(p => p.Tokens.Context.Concat(p.Tokens.Continuation).ToArray(), Comparer<int[]>.Create((a, b) =>
        {
            for (int i = 0; i < Math.Min(a.Length, b.Length); i++) if (a[i] != b[i]) return a[i].CompareTo(b[i]);
            return a.Length.CompareTo(b.Length);
        })).ToList();

    string metricsUrl = endpoint.ServerRoot + "/metrics";
    async Task<Dictionary<string, double>?> Counters()
    {
        try
        {
            return (await http.GetStringAsync(metricsUrl)).Split('\n').Where(l => l.StartsWith("mlxbench_", StringComparison.Ordinal))
                .Select(l => l.Split(' ')).ToDictionary(p => p[0], p => double.Parse(p[1], CultureInfo.InvariantCulture));
        }
        catch (HttpRequestException) { return null; }
    }

    async Task<Run> Measure(bool batched)
    {
        var lls = new System.Collections.Concurrent.ConcurrentDictionary<(int, int), LoglikelihoodResponse>();
        Dictionary<string, double>? before = await Counters();
        int sentBefore = endpoint.Sent;
        var clock = Stopwatch.StartNew();
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = concurrency };
        if (batched)
            await Parallel.ForEachAsync(docs, parallel, async (doc, ct) =>
            {
                IReadOnlyList<EvalResponse> r = await model.RunAsync(doc, ct);
                for (int c = 0; c < r.Count; c++) lls[(doc.DocId, c)] = (LoglikelihoodResponse)r[c];
            });
        else
            await Parallel.ForEachAsync(lmEvalOrder, parallel, async (p, ct) => lls[(p.Doc, p.Choice)] = await model.ScorePairAsync(p.Tokens, ct));
        double seconds = clock.Elapsed.TotalSeconds;
        Dictionary<string, double>? after = await Counters();
        string tokens = "server has no /metrics";
        if (before is not null && after is not null)
        {
            double D(string name) => after.GetValueOrDefault("mlxbench_" + name) - before.GetValueOrDefault("mlxbench_" + name);
            tokens = $"{D("prompt_tokens_evaluated_total"):0} prompt tokens computed, {D("prompt_tokens_reused_total"):0} reused, "
                + $"{D("decode_steps_total"):0} decode steps, engine thread busy {D("step_seconds_total"):0.00} s ({D("decode_seconds_total"):0.00} s in mlxb_decode), "
                + $"{D("scored_rows_total"):0} rows scored, {D("scored_rows_helper_total") / Math.Max(1, D("scored_rows_total")):P0} of them by the scoring helper";
        }
        return new Run(seconds, endpoint.Sent - sentBefore, tokens, new Dictionary<(int, int), LoglikelihoodResponse>(lls));
    }

    string F(double d) => d.ToString("0.00", CultureInfo.InvariantCulture);
    Console.WriteLine($"ARC-Easy, {docs.Count} documents, {pairs.Count} (context, choice) pairs, concurrency {concurrency}, server {baseUrl}");
    // Warm-up of both ways: the server's and this client's code reach their optimized JIT tier only after some
    // thousands of calls, and a way measured cold would be charged for it.
    for (int w = 0; w < warmups; w++)
    {
        await Measure(batched: false);
        await Measure(batched: true);
    }
    var baselines = new List<double>();
    var ours = new List<double>();
    var ratios = new List<double>();
    for (int round = 0; round < rounds; round++)
    {
        // Alternate which way goes first, so neither always runs after the other (page cache, prefix cache, clocks).
        Run b, us;
        if (round % 2 == 0)
        {
            b = await Measure(batched: false);
            us = await Measure(batched: true);
        }
        else
        {
            us = await Measure(batched: true);
            b = await Measure(batched: false);
        }
        Console.WriteLine($"round {round + 1}: baseline, lm-eval's way (one request per pair, lm-eval's order): {F(b.Seconds)} s, {b.Requests} requests, {b.Tokens}");
        Console.WriteLine($"round {round + 1}: ours (all choices of a document in one request):               {F(us.Seconds)} s, {us.Requests} requests, {us.Tokens}");
        baselines.Add(b.Seconds);
        ours.Add(us.Seconds);
        ratios.Add(b.Seconds / us.Seconds);
        Console.WriteLine($"round {round + 1}: speed-up {F(b.Seconds / us.Seconds)}x");
        foreach (((int, int) key, LoglikelihoodResponse r) in b.Lls)
            if (us.Lls[key] != r)
            {
                Console.Error.WriteLine($"doc {key.Item1} choice {key.Item2}: {PyFloat.Repr(r.LogLikelihood)} one at a time, {PyFloat.Repr(us.Lls[key].LogLikelihood)} batched");
                return 1;
            }
    }
    if (o.TryGetValue("--engine-library", out string? library) && o.TryGetValue("--model-file", out string? modelFile))
    {
        using var engine = new EngineScorer(library, modelFile);
        Dictionary<(int, int), LoglikelihoodResponse> reference = (await Measure(batched: true)).Lls;
        int differ = 0;
        foreach (var p in pairs)
        {
            double ll = engine.LogLikelihood(p.Tokens.Context, p.Tokens.Continuation);
            if (ll != reference[(p.Doc, p.Choice)].LogLikelihood && differ++ < 5)
                Console.Error.WriteLine($"doc {p.Doc} choice {p.Choice}: server {PyFloat.Repr(reference[(p.Doc, p.Choice)].LogLikelihood)}, engine {PyFloat.Repr(ll)}");
        }
        if (differ > 0)
        {
            Console.Error.WriteLine($"{differ} of {pairs.Count} per-choice log-likelihoods differ from the engine's");
            return 1;
        }
        Console.WriteLine($"log-likelihoods of all {pairs.Count} pairs equal the engine's own (mlxb_decode, one pair at a time)");
    }
    double ratio = Median(ratios);
    Console.WriteLine();
    Console.WriteLine($"log-likelihoods of all {pairs.Count} pairs identical both ways in every round");
    Console.WriteLine($"baseline  lm-eval's way, median wall time       {F(Median(baselines)),8} s  (rounds: {string.Join(", ", baselines.Select(F))})");
    Console.WriteLine($"ours      all choices per request, median        {F(Median(ours)),8} s  (rounds: {string.Join(", ", ours.Select(F))})");
    Console.WriteLine($"ratio     speed-up, median of {rounds} rounds          {F(ratio),8}x (rounds: {string.Join(", ", ratios.Select(F))}; target >= {F(target)}x) {(ratio >= target ? "PASS" : "FAIL")}");
    return ratio >= target ? 0 : 1;
}

static double Median(IEnumerable<double> values)
{
    double[] sorted = values.Order().ToArray();
    return sorted.Length == 0 ? double.NaN : sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
}

/// <summary>The engine itself through its C API: one pair at a time in a fresh sequence, the log-probability of each
/// continuation token summed as the evaluator sums the server's values (each float32 as its shortest round-trip text,
/// read as a double).</summary>
internal sealed unsafe class EngineScorer : IDisposable
{
    [StructLayout(LayoutKind.Sequential)] private struct ContextParams { public int NCtx, NSeqMax, NBatch, NThreads; }
    [StructLayout(LayoutKind.Sequential)] private struct Batch { public int NTokens; public int* Tokens; public int* SeqIds; public int* Pos; public sbyte* WantLogits; }

    private readonly nint _lib, _model, _ctx;
    private readonly delegate* unmanaged<nint, Batch*, int> _decode;
    private readonly delegate* unmanaged<nint, int, int, float*, int> _tokenLogprob;
    private readonly delegate* unmanaged<nint, int, int, int> _truncate;

    public EngineScorer(string library, string model)
    {
        _lib = NativeLibrary.Load(Path.GetFullPath(library));
        nint F(string name) => NativeLibrary.GetExport(_lib, name);
        var load = (delegate* unmanaged<byte*, nint, nint*, int>)F("mlxb_model_load");
        var defaults = (delegate* unmanaged<ContextParams>)F("mlxb_context_default_params");
        var contextNew = (delegate* unmanaged<nint, ContextParams*, nint*, int>)F("mlxb_context_new");
        _decode = (delegate* unmanaged<nint, Batch*, int>)F("mlxb_decode");
        _tokenLogprob = (delegate* unmanaged<nint, int, int, float*, int>)F("mlxb_get_token_logprob");
        _truncate = (delegate* unmanaged<nint, int, int, int>)F("mlxb_seq_truncate");
        byte[] path = System.Text.Encoding.UTF8.GetBytes(Path.GetFullPath(model) + "\0");
        nint m, c;
        fixed (byte* p = path) if (load(p, 0, &m) != 0) throw new InvalidOperationException($"mlxb_model_load {model} failed");
        ContextParams cp = defaults();
        cp.NCtx = 2048;
        cp.NBatch = 2048;
        cp.NThreads = 1;
        if (contextNew(m, &cp, &c) != 0) throw new InvalidOperationException("mlxb_context_new failed");
        (_model, _ctx) = (m, c);
    }

    public double LogLikelihood(int[] context, int[] continuation)
    {
        int[] all = [.. context, .. continuation];
        int n = all.Length - 1;
        var want = new sbyte[n];
        for (int i = context.Length - 1; i < n; i++) want[i] = 1;
        _truncate(_ctx, 0, 0);
        fixed (int* t = all) fixed (sbyte* w = want)
        {
            var batch = new Batch { NTokens = n, Tokens = t, WantLogits = w };
            if (_decode(_ctx, &batch) != 0) throw new InvalidOperationException("mlxb_decode failed");
        }
        double sum = 0;
        for (int i = context.Length - 1; i < n; i++)
        {
            float lp;
            if (_tokenLogprob(_ctx, i, all[i + 1], &lp) != 0) throw new InvalidOperationException("mlxb_get_token_logprob failed");
            sum += double.Parse(lp.ToString("R", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
        }
        return sum;
    }

    public void Dispose()
    {
        var contextFree = (delegate* unmanaged<nint, void>)NativeLibrary.GetExport(_lib, "mlxb_context_free");
        var modelFree = (delegate* unmanaged<nint, void>)NativeLibrary.GetExport(_lib, "mlxb_model_free");
        contextFree(_ctx);
        modelFree(_model);
    }
}

internal sealed record Run(double Seconds, int Requests, string Tokens, Dictionary<(int, int), LoglikelihoodResponse> Lls);

