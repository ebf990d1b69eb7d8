using System.Diagnostics;
using System.Globalization;
using MlxBench.Core.Diagnostics;
using MlxBench.Harness.Serving.Client;
using MlxBench.Harness.Serving.Load;
using MlxBench.Harness.Serving.Metrics;
using MlxBench.Harness.Serving.Results;
using MlxBench.Harness.Serving.Workloads;

namespace MlxBench.Harness.Serving;

/// <summary>One measured level and what describes its run.</summary>
public sealed record LevelResult(LevelMetrics Metrics, RunDescription Description);

/// <summary>
/// The stages of a serving benchmark, in order: wait for the endpoint, build the workload (and find how the server
/// takes prompts), one unmeasured test request, then per level: warm-up, measured run, metrics, summary line.
/// Knows nothing of cells or files; <see cref="ServingHarness"/> and <c>mlxbench bench-serve</c> wrap it.
/// </summary>
public sealed class ServingBenchmark(ServingOptions options, string baseUrl, string model, TextWriter log, string id = "serving")
{
    public const string HarnessVersion = "1";
    private readonly TextWriter _log = TextWriter.Synchronized(log);

    public async Task<IReadOnlyList<LevelResult>> RunAsync(CancellationToken cancellationToken)
    {
        using var client = new ServingClient(baseUrl, TimeSpan.FromSeconds(options.RequestTimeoutSeconds));
        await WaitReadyAsync(client, cancellationToken).ConfigureAwait(false);
        (ServingPrompt[] prompts, string mode, RequestBodies bodies) = await PrepareAsync(client, cancellationToken).ConfigureAwait(false);
        _log.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"serving: {options.WorkloadName} workload, {prompts.Length} requests per level, prompts as {mode}, {options.Backend} at {baseUrl}, {options.Levels.Count} level(s)"));

        var results = new List<LevelResult>();
        IReadOnlyList<LoadLevel> levels = options.Levels;
        for (int l = 0; l < levels.Count; l++)
        {
            LoadLevel level = levels[l];
            Uri uri = options.Api == ServingApi.Chat ? client.ChatUri : client.CompletionsUri;
            var requests = prompts.Select((p, i) => new PreparedRequest(uri, bodies.Build(p), $"mlxbench-{l}-{i}", options.Stream)).ToArray();
            await WarmUpAsync(client, requests[0], level, cancellationToken).ConfigureAwait(false);

            RequestRecord[] records = prompts.Select((p, i) => new RequestRecord(i, p.PromptTokens, p.OutputTokens, p.OutputTokens + 2)).ToArray();
            var progress = new LevelProgress(records.Length);
            using var stopProgress = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            Task reporter = ReportProgressAsync(level, progress, stopProgress.Token);
            LevelRun run;
            try
            {
                run = await LevelRunner.RunAsync(client, requests, records, level, options.Burstiness, options.Seed, progress, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                await stopProgress.CancelAsync().ConfigureAwait(false);
                await reporter.ConfigureAwait(false);
            }

            var metrics = new LevelMetrics(run, options.Goodput);
            var description = new RunDescription(model, options, mode, HarnessVersion, DateTime.Now);
            if (metrics.Completed == 0)
                throw new BenchException(BenchDiagnostic.Error("Serving.AllFailed", id, level.Label, records.FirstOrDefault(r => r.Error is not null)?.Error ?? "unknown"));
            ReportWarnings(metrics);
            _log.WriteLine(SummaryLine.Format(metrics, options.Stream));
            results.Add(new LevelResult(metrics, description));
        }
        return results;
    }

    private async Task WaitReadyAsync(ServingClient client, CancellationToken cancellationToken)
    {
        if (options.ReadyTimeoutSeconds <= 0) return;
        var clock = Stopwatch.StartNew();
        string? problem;
        TimeSpan Remaining() => TimeSpan.FromSeconds(Math.Max(0.1, options.ReadyTimeoutSeconds - clock.Elapsed.TotalSeconds));
        while ((problem = await client.ProbeModelsAsync(Remaining(), cancellationToken).ConfigureAwait(false)) is not null)
        {
            if (clock.Elapsed.TotalSeconds >= options.ReadyTimeoutSeconds)
                throw new BenchException(BenchDiagnostic.Error("Serving.NotReady", id, baseUrl, options.ReadyTimeoutSeconds, problem));
            await Task.Delay(TimeSpan.FromMilliseconds(250), cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Builds the prompts and settles, with test requests, how this server takes them.</summary>
    private async Task<(ServingPrompt[] Prompts, string Mode, RequestBodies Bodies)> PrepareAsync(ServingClient client, CancellationToken cancellationToken)
    {
        var bodies = new RequestBodies(options.Api, model, options.Stream, options.EffectiveIgnoreEos, options.Temperature);
        ServingPrompt[] prompts;
        string mode;
        if (options.Dataset == DatasetKind.Jsonl)
        {
            prompts = JsonlPrompts.Read(options.DatasetPath!, options.Requests, options.OutputTokens);
            if (options.Api == ServingApi.Completions && prompts.Any(p => p.MessagesJson is not null))
                throw new BenchException(BenchDiagnostic.Error("Serving.BadMetadata", options.Suite, "Endpoint", "completions", "chat when the dataset has \"messages\"", "chat"));
            if (options.Api == ServingApi.Chat && prompts.Any(p => p.TokenIds is not null))
                prompts = await DetokenizeAsync(client, prompts, cancellationToken).ConfigureAwait(false)
                    ?? throw new BenchException(BenchDiagnostic.Error("Serving.BadMetadata", options.Suite, "Endpoint", "chat", "completions when the dataset has token-id prompts and the server has no /detokenize", "completions"));
            prompts = await CountTextTokensAsync(client, prompts, cancellationToken).ConfigureAwait(false);
            mode = PromptModes.Dataset;
        }
        else
        {
            int[]? tokens = await client.TryTokenizeAsync(model, SyntheticPrompts.SeedText(options.Seed), cancellationToken).ConfigureAwait(false);
            int[]? pool = tokens is { Length: > 1 } ? SyntheticPrompts.PoolFromTokens(tokens) : null;
            prompts = Synthesize(pool ?? SyntheticPrompts.WordPool);
            if (pool is null)
            {
                Warn(BenchDiagnostic.Warning("Serving.ApproximatePrompts", baseUrl));
                prompts = prompts.Select(SyntheticPrompts.AsWords).ToArray();
                mode = PromptModes.Words;
            }
            else if (options.Api == ServingApi.Completions && options.PromptFormat != PromptFormat.Text)
            {
                (RequestBodies? accepted, string? failure) = await ResolveBodiesAsync(client, bodies, prompts[0], cancellationToken).ConfigureAwait(false);
                if (accepted is not null) return (prompts, PromptModes.TokenIds, accepted);
                if (options.PromptFormat == PromptFormat.TokenIds)
                    throw new BenchException(BenchDiagnostic.Error("Serving.TestRequestFailed", id, client.CompletionsUri, failure, model));
                Warn(BenchDiagnostic.Warning("Serving.TokenIdsRejected", baseUrl, failure));
                (prompts, mode) = await ToTextAsync(client, prompts, cancellationToken).ConfigureAwait(false);
            }
            else if (options.Api == ServingApi.Chat) (prompts, mode) = await ToChatTextAsync(client, prompts, cancellationToken).ConfigureAwait(false);
            else (prompts, mode) = await ToTextAsync(client, prompts, cancellationToken).ConfigureAwait(false);
        }

        (RequestBodies? working, string? problem) = await ResolveBodiesAsync(client, bodies, prompts[0], cancellationToken).ConfigureAwait(false);
        if (working is null)
            throw new BenchException(BenchDiagnostic.Error("Serving.TestRequestFailed", id, options.Api == ServingApi.Chat ? client.ChatUri : client.CompletionsUri, problem, model));
        return (prompts, mode, working);
    }

    /// <summary>Token ids to text through /detokenize, or words when the server cannot detokenize.</summary>
    private async Task<(ServingPrompt[] Prompts, string Mode)> ToTextAsync(ServingClient client, ServingPrompt[] prompts, CancellationToken cancellationToken)
    {
        if (await DetokenizeAsync(client, prompts, cancellationToken).ConfigureAwait(false) is { } text) return (text, PromptModes.Detokenized);
        Warn(BenchDiagnostic.Warning("Serving.ApproximatePrompts", baseUrl));
        return (Synthesize(SyntheticPrompts.WordPool).Select(SyntheticPrompts.AsWords).ToArray(), PromptModes.Words);
    }

    /// <summary>
    /// Chat prompts: the ids' text, cut or extended until the server counts the intended input tokens for the whole
    /// chat request (template included); plain detokenized text, with a warning, when it cannot count chat messages.
    /// </summary>
    private async Task<(ServingPrompt[] Prompts, string Mode)> ToChatTextAsync(ServingClient client, ServingPrompt[] prompts, CancellationToken cancellationToken)
    {
        if (await new PromptAligner(client, model, chat: true).AlignAsync(prompts, cancellationToken).ConfigureAwait(false) is { } aligned)
        {
            AlignmentSummary a = aligned.Summary;
            _log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"serving: chat prompts aligned to the server's count (chat template included): {a.Counted} tokens for {a.Intended} intended, {a.Exact} of {a.Prompts} exact, at most {a.MaxOff} off"));
            return (aligned.Prompts, PromptModes.Detokenized);
        }
        Warn(BenchDiagnostic.Warning("Serving.ChatNotAligned", baseUrl));
        return await ToTextAsync(client, prompts, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The unmeasured test request (vLLM's "initial single prompt test run"): the bodies as configured, else without
    /// ignore_eos for servers that refuse it. Returns the bodies that worked, or null and the last failure.
    /// </summary>
    private async Task<(RequestBodies? Bodies, string? Failure)> ResolveBodiesAsync(ServingClient client, RequestBodies bodies, ServingPrompt prompt, CancellationToken cancellationToken)
    {
        string? failure = await TestAsync(client, bodies, prompt, cancellationToken).ConfigureAwait(false);
        if (failure is null) return (bodies, null);
        if (!bodies.IgnoreEos) return (null, failure);
        RequestBodies withoutEos = bodies with { IgnoreEos = false };
        if (await TestAsync(client, withoutEos, prompt, cancellationToken).ConfigureAwait(false) is not null) return (null, failure);
        Warn(BenchDiagnostic.Warning("Serving.IgnoreEosRejected", baseUrl, failure));
        return (withoutEos, null);
    }

    private ServingPrompt[] Synthesize(IReadOnlyList<int> pool) => options.Dataset == DatasetKind.SharedPrefix
        ? SyntheticPrompts.SharedPrefix(options.Requests, options.InputTokens, options.EffectivePrefixTokens, options.Prefixes, options.OutputTokens, options.RangeRatio, pool, options.Seed)
        : SyntheticPrompts.Random(options.Requests, options.InputTokens, options.OutputTokens, options.RangeRatio, pool, options.Seed);

    /// <summary>One unmeasured request; null when it succeeded, else what went wrong.</summary>
    private async Task<string?> TestAsync(ServingClient client, RequestBodies bodies, ServingPrompt prompt, CancellationToken cancellationToken)
    {
        Uri uri = options.Api == ServingApi.Chat ? client.ChatUri : client.CompletionsUri;
        var record = new RequestRecord(-1, prompt.PromptTokens, prompt.OutputTokens, prompt.OutputTokens + 2);
        await client.ExecuteAsync(new PreparedRequest(uri, bodies.Build(prompt), "mlxbench-test", options.Stream), record, cancellationToken).ConfigureAwait(false);
        return record.Success ? null : record.Error ?? $"HTTP {record.StatusCode}";
    }

    private async Task<ServingPrompt[]?> DetokenizeAsync(ServingClient client, ServingPrompt[] prompts, CancellationToken cancellationToken)
    {
        var distinct = prompts.Distinct().ToArray();
        var texts = new Dictionary<ServingPrompt, ServingPrompt>();
        bool failed = false;
        await Parallel.ForEachAsync(distinct, new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = cancellationToken }, async (p, ct) =>
        {
            if (p.TokenIds is null || Volatile.Read(ref failed)) return;
            string? text = await client.TryDetokenizeAsync(model, p.TokenIds, ct).ConfigureAwait(false);
            lock (texts)
            {
                if (text is null) failed = true;
                else texts[p] = p with { TokenIds = null, Text = text };
            }
        }).ConfigureAwait(false);
        return failed ? null : prompts.Select(p => texts.GetValueOrDefault(p, p)).ToArray();
    }

    /// <summary>Counts user text prompts with the server's tokenizer when it has one, so client and server counts can be
    /// compared; for chat, as the server counts the whole request (its chat template around the message).</summary>
    private async Task<ServingPrompt[]> CountTextTokensAsync(ServingClient client, ServingPrompt[] prompts, CancellationToken cancellationToken)
    {
        var counts = new Dictionary<string, int>();
        foreach (string text in prompts.Where(p => p.Text is not null && p.PromptTokens < 0).Select(p => p.Text!).Distinct())
        {
            int? count = options.Api == ServingApi.Chat
                ? await client.TryCountPromptAsync(model, text, chat: true, cancellationToken).ConfigureAwait(false)
                : (await client.TryTokenizeAsync(model, text, cancellationToken).ConfigureAwait(false))?.Length;
            if (count is not { } n) return prompts;
            counts[text] = n;
        }
        return prompts.Select(p => p.Text is { } t && counts.TryGetValue(t, out int n) ? p with { PromptTokens = n } : p).ToArray();
    }

    /// <summary>
    /// vLLM's warm-up (copies of the first request, results discarded), run through the same dispatcher, workers and
    /// client as the level itself, so connections are open and every code path is compiled before the clock starts.
    /// </summary>
    private async Task WarmUpAsync(ServingClient client, PreparedRequest first, LoadLevel level, CancellationToken cancellationToken)
    {
        int count = options.WarmupCount(level);
        if (count == 0) return;
        PreparedRequest[] requests = Enumerable.Range(0, count).Select(i => first with { RequestId = $"mlxbench-warmup-{i}" }).ToArray();
        RequestRecord[] records = requests.Select(_ => new RequestRecord(-1, 0, 0, 4)).ToArray();
        await LevelRunner.RunAsync(client, requests, records, level, options.Burstiness, options.Seed, null, cancellationToken).ConfigureAwait(false);
    }

    private async Task ReportProgressAsync(LoadLevel level, LevelProgress progress, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(options.ProgressIntervalSeconds));
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
                _log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"progress: {level.Label}: {progress.Completed}/{progress.Total} requests done ({progress.Failed} failed) after {clock.Elapsed.TotalSeconds:0} s"));
        }
        catch (OperationCanceledException)
        {
            // The level is over.
        }
    }

    private void ReportWarnings(LevelMetrics m)
    {
        string label = m.Run.Level.Label;
        int total = m.Completed + m.Failed;
        if (m.Failed > 0)
            Warn(BenchDiagnostic.Warning("Serving.SomeFailed", label, m.Failed, total, m.Run.Records.First(r => !r.Success).Error));
        if (m.UsageMissing > 0)
            Warn(BenchDiagnostic.Warning("Serving.NoUsage", label, m.UsageMissing, m.Completed));
        // The client's own CPU near the machine's cores means its stamps may be late: say so rather than report a slow server.
        if (m.Run.ClientCpuCores >= 0.9 * Environment.ProcessorCount)
            Warn(BenchDiagnostic.Warning("Serving.ClientSaturated", label, m.Run.ClientCpuCores, Environment.ProcessorCount));
        if (m.UsageMismatches > 0)
            Warn(BenchDiagnostic.Warning("Serving.UsageMismatch", label, m.UsageMismatches, m.Completed,
                m.ClientInputTokens, m.ServerInputTokens, m.ClientOutputTokens, m.ServerOutputTokens));
    }

    private void Warn(BenchDiagnostic diagnostic) => _log.WriteLine("warning " + diagnostic.Text);
}
