#:project ../../src/MlxBench.Harness/MlxBench.Harness.csproj
#:property TargetFramework=net10.0
#:property TreatWarningsAsErrors=false
// Benchmark: ARC-Easy log-likelihood scoring, the evaluator's way (all choices of a document in one request, so a
// server with prefix reuse computes the shared context once) against lm-eval's way (local-completions: one request
// per (context, choice) pair, all pairs sorted by descending token length as lm-eval's Collator orders them, the same
// number in flight), against the same server in the same run. Tokenization is done first and not timed, for both.
// Prints wall time, requests, prompt tokens computed and reused (from the server's /metrics when it has them) and the
// ratio; fails if the two ways score any choice differently.
//
//   dotnet run eng/bench/eval-prefix-sharing.cs -- --base-url http://127.0.0.1:8080/v1 --model stories260K \
//       --data ../shared/tasks/mosaicml__llm-foundry__arc_easy_test.jsonl [--limit 500] [--concurrency 4] [--rounds 1]
using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using MlxBench.Harness.Eval.Client;
using MlxBench.Harness.Eval.Data;
using MlxBench.Harness.Eval.Python;
using MlxBench.Harness.Eval.Tasks;

var o = new Dictionary<string, string>(StringComparer.Ordinal) { ["--limit"] = "500", ["--concurrency"] = "4", ["--model"] = "model", ["--rounds"] = "1" };
for (int i = 0; i + 1 < args.Length; i += 2) o[args[i]] = args[i + 1];
if (!o.ContainsKey("--base-url") || !o.ContainsKey("--data"))
{
    Console.Error.WriteLine("usage: eval-prefix-sharing.cs --base-url http://host:port/v1 --data arc_easy.jsonl [--model NAME] [--limit 500] [--concurrency 4] [--rounds 1]");
    return 2;
}
int limit = int.Parse(o["--limit"], CultureInfo.InvariantCulture), concurrency = int.Parse(o["--concurrency"], CultureInfo.InvariantCulture);
using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(10) };
// No request cache: every request of both ways is computed by the server.
var endpoint = new OpenAiEndpoint(http, o["--base-url"], cache: null, maxRetries: 0);
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
async Task<(double Evaluated, double Reused, double Steps, double DecodeSeconds)?> Counters()
{
    try
    {
        string text = await http.GetStringAsync(metricsUrl);
        double Read(string name) => text.Split('\n').Where(l => l.StartsWith(name + " ", StringComparison.Ordinal))
            .Select(l => double.Parse(l[(name.Length + 1)..], CultureInfo.InvariantCulture)).FirstOrDefault();
        return (Read("mlxbench_prompt_tokens_evaluated_total"), Read("mlxbench_prompt_tokens_reused_total"),
            Read("mlxbench_decode_steps_total"), Read("mlxbench_decode_seconds_total"));
    }
    catch (HttpRequestException) { return null; }
}

async Task<(double Seconds, int Requests, string Tokens, Dictionary<(int, int), LoglikelihoodResponse> Lls)> Measure(bool batched)
{
    var lls = new System.Collections.Concurrent.ConcurrentDictionary<(int, int), LoglikelihoodResponse>();
    var before = await Counters();
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
    var after = await Counters();
    string tokens = before is { } b && after is { } a
        ? $"{a.Evaluated - b.Evaluated:0} prompt tokens computed, {a.Reused - b.Reused:0} reused from the prefix cache, {a.Steps - b.Steps:0} decode steps, {a.DecodeSeconds - b.DecodeSeconds:0.00} s in the engine's decode"
        : "server has no /metrics";
    return (seconds, endpoint.Sent - sentBefore, tokens, new Dictionary<(int, int), LoglikelihoodResponse>(lls));
}

string F(double d) => d.ToString("0.00", CultureInfo.InvariantCulture);
Console.WriteLine($"ARC-Easy, {docs.Count} documents, {pairs.Count} (context, choice) pairs, concurrency {concurrency}, server {o["--base-url"]}");
await Measure(batched: true);  // warm-up: JIT, connections, page cache
int rounds = int.Parse(o["--rounds"], CultureInfo.InvariantCulture);
var ratios = new List<double>();
for (int round = 0; round < rounds; round++)
{
    var baseline = await Measure(batched: false);
    var ours = await Measure(batched: true);
    Console.WriteLine($"baseline, lm-eval's way (one request per pair, lm-eval's order): {F(baseline.Seconds)} s, {baseline.Requests} requests, {baseline.Tokens}");
    Console.WriteLine($"ours (all choices of a document in one request):               {F(ours.Seconds)} s, {ours.Requests} requests, {ours.Tokens}");
    ratios.Add(baseline.Seconds / ours.Seconds);
    Console.WriteLine($"speed-up: {F(baseline.Seconds / ours.Seconds)}x (target >= 2x)");
    foreach (((int, int) key, LoglikelihoodResponse r) in baseline.Lls)
        if (ours.Lls[key] != r)
        {
            Console.Error.WriteLine($"doc {key.Item1} choice {key.Item2}: {PyFloat.Repr(r.LogLikelihood)} one at a time, {PyFloat.Repr(ours.Lls[key].LogLikelihood)} batched");
            return 1;
        }
}
Console.WriteLine($"log-likelihoods identical both ways; speed-up over {rounds} round(s): {string.Join(", ", ratios.Select(F))}");
return 0;
