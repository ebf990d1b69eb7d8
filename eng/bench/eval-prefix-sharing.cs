#:project ../../src/MlxBench.Harness/MlxBench.Harness.csproj
#:property TargetFramework=net10.0
#:property TreatWarningsAsErrors=false
// Benchmark: ARC-Easy log-likelihood scoring with all choices of a document in one request (the evaluator's way, so a
// server with prefix reuse computes the shared context once) against one request per (context, choice) pair (the way
// lm-eval's local-completions sends them), against the same server in the same run. Prints wall time, prompt tokens
// the server reports, and the ratio; fails if the two modes score differently.
//
//   dotnet run eng/bench/eval-prefix-sharing.cs -- --base-url http://127.0.0.1:8080/v1 --model stories260K \
//       --data ../shared/tasks/mosaicml__llm-foundry__arc_easy_test.jsonl [--limit 500] [--concurrency 4] [--max-length 512]
using System.Diagnostics;
using System.Globalization;
using MlxBench.Core.Cells;
using MlxBench.Harness.Eval;
using MlxBench.Harness.Eval.Client;
using MlxBench.Harness.Eval.Data;
using MlxBench.Harness.Eval.Output;

var options = new Dictionary<string, string>(StringComparer.Ordinal)
{
    ["--limit"] = "500", ["--concurrency"] = "4", ["--model"] = "model", ["--max-length"] = "2048",
};
for (int i = 0; i + 1 < args.Length; i += 2) options[args[i]] = args[i + 1];
if (!options.ContainsKey("--base-url") || !options.ContainsKey("--data"))
{
    Console.Error.WriteLine("usage: eval-prefix-sharing.cs --base-url http://host:port/v1 --data arc_easy.jsonl [--model NAME] [--limit 500] [--concurrency 4] [--max-length N]");
    return 2;
}

async Task<(double Seconds, long PromptTokens, int Requests, List<string> Resps)> Measure(bool batched)
{
    var metadata = new SortedDictionary<string, string>(StringComparer.Ordinal)
    {
        ["Tasks"] = "arc_easy", ["Limit"] = options["--limit"], ["Data"] = Path.GetFullPath(options["--data"]),
        ["Concurrency"] = options["--concurrency"], ["BatchChoices"] = batched ? "true" : "false",
        ["MaxLength"] = options["--max-length"], ["LogSamples"] = "false", ["BootstrapIters"] = "0",
    };
    EvalSettings settings = EvalSettings.Parse(new SuiteSpec("bench", "knowledge", "eval", null, "lm-eval", null, [], metadata));
    using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(10) };
    // No request cache: both modes must really be computed by the server.
    var endpoint = new OpenAiEndpoint(http, options["--base-url"], cache: null, maxRetries: 0);
    var model = new OpenAiModel(endpoint, EvalHarness.ModelOptionsFrom(settings, options["--model"]));
    string output = Directory.CreateTempSubdirectory("mlxbench-bench-").FullName;
    var runner = new EvalRunner(new EvalContext
    {
        CellId = "bench", SuiteName = "bench", Settings = settings, Model = model, ModelName = options["--model"],
        BaseUrl = options["--base-url"], OutputDirectory = output, CachePath = "(none)", Hub = new HfDatasets(http), Log = TextWriter.Null,
    });
    var clock = Stopwatch.StartNew();
    (_, IReadOnlyList<TaskResult> tasks) = await runner.RunAsync(CancellationToken.None);
    double seconds = clock.Elapsed.TotalSeconds;
    Directory.Delete(output, recursive: true);
    var resps = tasks[0].SampleLines().Select(l => l["resps"]!.ToJsonString()).ToList();
    return (seconds, model.PromptTokens, endpoint.Sent, resps);
}

// Warm-up (page cache, JIT, server start-up effects), then the baseline, then ours.
await Measure(batched: true);
var baseline = await Measure(batched: false);
var ours = await Measure(batched: true);
string F(double d) => d.ToString("0.00", CultureInfo.InvariantCulture);
Console.WriteLine($"baseline (one request per context+choice, as lm-eval): {F(baseline.Seconds)} s, {baseline.Requests} requests (incl. /tokenize), {baseline.PromptTokens} prompt tokens");
Console.WriteLine($"batched  (all choices of a document in one request):   {F(ours.Seconds)} s, {ours.Requests} requests (incl. /tokenize), {ours.PromptTokens} prompt tokens");
Console.WriteLine($"speed-up: {F(baseline.Seconds / ours.Seconds)}x (target >= 2x)");
if (!baseline.Resps.SequenceEqual(ours.Resps))
{
    Console.Error.WriteLine("the two modes gave different log-likelihoods");
    return 1;
}
Console.WriteLine("log-likelihoods identical in both modes");
return 0;
