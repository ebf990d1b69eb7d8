using System.Diagnostics;
using System.Text.Json.Nodes;
using MlxBench.Core.Diagnostics;
using MlxBench.Harness.Eval.Client;
using MlxBench.Harness.Eval.Data;
using MlxBench.Harness.Eval.Output;
using MlxBench.Harness.Eval.Scoring;
using MlxBench.Harness.Eval.Tasks;

namespace MlxBench.Harness.Eval;

/// <summary>Where a run's pieces come from; the harness builds it from a cell, tests and the CLI from their own parts.</summary>
public sealed record EvalContext
{
    public required string CellId { get; init; }
    public required string SuiteName { get; init; }
    public required EvalSettings Settings { get; init; }
    public required OpenAiModel Model { get; init; }
    public required string ModelName { get; init; }
    public required string BaseUrl { get; init; }
    public required string OutputDirectory { get; init; }
    public required string CachePath { get; init; }
    /// <summary>Relative data paths resolve against it (the project folder).</summary>
    public string BaseDirectory { get; init; } = Environment.CurrentDirectory;
    public required HfDatasets Hub { get; init; }
    public required TextWriter Log { get; init; }
    public TimeProvider Clock { get; init; } = TimeProvider.System;
}

/// <summary>
/// Runs the tasks of a suite: loads each task's documents (and few-shot pool), builds every document's requests in
/// document order (so few-shot draws follow lm-eval's sequence), sends them with <c>Concurrency</c> documents in
/// flight, scores, aggregates, and writes lm-eval-shaped results and samples files.
/// </summary>
public sealed class EvalRunner(EvalContext context)
{
    public async Task<(string ResultsPath, IReadOnlyList<TaskResult> Tasks)> RunAsync(CancellationToken ct)
    {
        DateTimeOffset start = context.Clock.GetLocalNow();
        var total = Stopwatch.StartNew();
        EvalSettings s = context.Settings;
        var results = new List<TaskResult>();
        foreach (string taskName in s.Tasks)
        {
            EvalTask task = ResolveTask(taskName);
            if (task.OutputType != OutputType.GenerateUntil && (s.ApplyChatTemplate || s.ChatEndpoint))
                throw new BenchException(BenchDiagnostic.Error("Eval.NeedsCompletions", context.SuiteName, task.Name, OutputTypeName(task.OutputType)));
            results.Add(await RunTaskAsync(task, ct));
        }
        var run = new RunInfo
        {
            ModelName = context.ModelName,
            ModelSource = "mlxbench-eval",
            ModelArgs = $"model={context.ModelName},base_url={context.BaseUrl}",
            Limit = s.Limit,
            BootstrapIters = s.BootstrapIters,
            GenKwargs = s.GenKwargs,
            FewshotSeed = s.FewshotSeed,
            SystemInstruction = s.SystemInstruction,
            FewshotAsMultiturn = s.FewshotAsMultiturn,
            ApplyChatTemplate = s.ApplyChatTemplate,
            Start = start,
            TotalSeconds = total.Elapsed.TotalSeconds,
        };
        (string resultsPath, _) = ResultsWriter.Write(context.OutputDirectory, results, run, s.LogSamples);
        return (resultsPath, results);
    }

    private EvalTask ResolveTask(string name)
    {
        if (BuiltInTasks.Find(name) is { } builtIn) return builtIn;
        string path = Path.GetFullPath(Path.Combine(context.BaseDirectory, name));
        if (UserTaskLoader.IsTaskFile(name) && File.Exists(path))
        {
            try { return UserTaskLoader.Load(path); }
            catch (TaskDefinitionException e) { throw new BenchException(BenchDiagnostic.Error("Eval.TaskDefinition", context.SuiteName, e.Message)); }
        }
        throw new BenchException(BenchDiagnostic.Error("Eval.UnknownTask", context.SuiteName, name, string.Join(", ", BuiltInTasks.Names)));
    }

    private async Task<TaskResult> RunTaskAsync(EvalTask task, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        EvalSettings s = context.Settings;
        List<JsonObject> docs = await LoadAsync(task, s.Data, task.DefaultData, "Data", ct);
        if (task.ProcessDocs is { } process) docs = docs.Select(process).ToList();
        int count = s.Limit is { } limit ? (limit < 1 ? (int)Math.Ceiling(docs.Count * limit) : Math.Min(docs.Count, (int)limit)) : docs.Count;
        int numFewshot = s.NumFewshot ?? task.NumFewshot;

        FewshotSampler? sampler = null;
        if (numFewshot > 0)
        {
            bool ownSplit = s.FewshotData.Count == 0 && task.DefaultFewshotData is null;
            List<JsonObject> pool = ownSplit ? docs : await LoadAsync(task, s.FewshotData, task.DefaultFewshotData, "FewshotData", ct);
            if (task.ProcessDocs is { } p && !ownSplit) pool = pool.Select(p).ToList();
            IFewshotPool fewshotPool;
            try { fewshotPool = s.FewshotPoolSize is { } size && !ownSplit ? new IndexedFewshotPool(pool, size, task.Name) : new ListFewshotPool(pool); }
            catch (DataException e) { throw new BenchException(BenchDiagnostic.Error("Eval.DataFailed", context.CellId, task.Name, e.Message)); }
            sampler = new FewshotSampler(fewshotPool, s.FewshotSeed, poolIsEvalSplit: ownSplit);
        }
        var options = new PromptOptions
        {
            NumFewshot = s.NumFewshot,
            ApplyChatTemplate = s.ApplyChatTemplate,
            FewshotAsMultiturn = s.FewshotAsMultiturn,
            SystemInstruction = s.SystemInstruction,
            DoubleSampleChatFewshot = s.LmEvalCompat == "0.4.9",
            ChatMessageTypeField = s.LmEvalCompat is "0.4.9" or "0.4.11",
            GenKwargs = s.GenKwargs,
        };
        var builder = new PromptBuilder(task, sampler, options);
        var requests = new List<DocRequests>(count);
        for (int d = 0; d < count; d++)
        {
            try { requests.Add(builder.Build(d, docs[d])); }
            catch (Exception e) when (e is FormatException or KeyNotFoundException or InvalidOperationException or ArgumentException or TaskDefinitionException or DataException)
            {
                throw new BenchException(BenchDiagnostic.Error("Eval.BadDocument", context.CellId, task.Name, d, e.Message));
            }
        }

        context.Log.WriteLine($"{task.Name}: {count} of {docs.Count} documents, {numFewshot}-shot, {requests.Sum(r => r.Requests.Count)} requests, concurrency {s.Concurrency}");
        var responses = new IReadOnlyList<EvalResponse>[count];
        int done = 0, step = Math.Max(1, count / 10);
        try
        {
            await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = s.Concurrency, CancellationToken = ct },
                async (d, token) =>
                {
                    responses[d] = await context.Model.RunAsync(requests[d], token);
                    int n = Interlocked.Increment(ref done);
                    if (n % step == 0 || n == count) context.Log.WriteLine($"{task.Name}: {n}/{count} documents");
                });
        }
        catch (EndpointException e)
        {
            throw new BenchException(BenchDiagnostic.Error("Eval.EndpointFailed", context.CellId, task.Name, context.BaseUrl, e.Message, context.CachePath));
        }

        var scorer = new DocScorer(task);
        var scores = new List<DocScore>();
        for (int d = 0; d < count; d++) scores.AddRange(scorer.Score(requests[d], responses[d]));
        // lm-eval logs all documents of one filter, then the next filter.
        List<string> filterOrder = scores.Select(x => x.Filter).Distinct().ToList();
        scores = scores.OrderBy(x => filterOrder.IndexOf(x.Filter)).ThenBy(x => x.DocId).ToList();
        var result = new TaskResult(task, docs.Count, numFewshot, requests, scores, s.BootstrapIters) { Seconds = clock.Elapsed.TotalSeconds };
        foreach ((string metric, string filter, AggregateValue value) in result.Aggregates)
            context.Log.WriteLine($"{task.Name}: {metric},{filter} = {value.Value:0.####}" + (value.Stderr is { } se ? $" ± {se:0.####}" : ""));
        return result;
    }

    private async Task<List<JsonObject>> LoadAsync(EvalTask task, IReadOnlyDictionary<string, string> configured, string? fallback, string setting, CancellationToken ct)
    {
        string? source = configured.GetValueOrDefault(task.Name) ?? configured.GetValueOrDefault("") ?? fallback;
        if (source is null)
            throw new BenchException(BenchDiagnostic.Error("Eval.DataFailed", context.CellId, task.Name, $"the task has no default data; set {setting}=\"...\""));
        try
        {
            IReadOnlyList<string> files = HfDatasetReference.IsHf(source)
                ? await context.Hub.ResolveAsync(source, ct)
                : DocLoader.Expand(Path.GetFullPath(Path.Combine(context.BaseDirectory, source)));
            return await DocLoader.LoadAsync(files, ct);
        }
        catch (DataException e)
        {
            throw new BenchException(BenchDiagnostic.Error("Eval.DataFailed", context.CellId, task.Name, e.Message));
        }
    }

    private static string OutputTypeName(OutputType type) => type switch
    {
        OutputType.MultipleChoice => "multiple_choice",
        OutputType.Loglikelihood => "loglikelihood",
        OutputType.LoglikelihoodRolling => "loglikelihood_rolling",
        _ => "generate_until",
    };
}
