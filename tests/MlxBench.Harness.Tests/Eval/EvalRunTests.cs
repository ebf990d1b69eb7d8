using System.Text.Json.Nodes;
using MlxBench.Core.Cells;
using MlxBench.Core.Converters;
using MlxBench.Core.Diagnostics;
using MlxBench.Core.Envelopes;
using MlxBench.Harness.Eval;
using MlxBench.Harness.Eval.Client;
using MlxBench.Harness.Eval.Data;
using MlxBench.Harness.Eval.Output;
using MlxBench.Harness.Eval.Tasks;
using MlxBench.Testing;

namespace MlxBench.Harness.Tests.Eval;

/// <summary>The evaluator end to end against a real HTTP server that records what it is sent.</summary>
[TestClass]
public sealed class EvalRunTests
{
    private static string ArcData => SharedData.RequireShared("tasks", "mosaicml__llm-foundry__arc_easy_test.jsonl");

    private static SuiteSpec Suite(params (string Key, string Value)[] metadata) =>
        new("eval", "eval", "eval", null, "lm-eval", null, [],
            new SortedDictionary<string, string>(metadata.ToDictionary(m => m.Key, m => m.Value), StringComparer.Ordinal));

    private static async Task<(string ResultsPath, IReadOnlyList<TaskResult> Tasks, OpenAiEndpoint Endpoint)> RunAsync(
        FakeOpenAiServer server, TempDirectory temp, SuiteSpec suite, CancellationToken ct = default, string cacheName = "cache.jsonl")
    {
        EvalSettings settings = EvalSettings.Parse(suite);
        using var http = new HttpClient();
        using var cache = new RequestCache(temp.Combine(cacheName));
        var endpoint = new OpenAiEndpoint(http, server.BaseUrl, cache, maxRetries: 0);
        var runner = new EvalRunner(new EvalContext
        {
            CellId = "eval/toy",
            SuiteName = suite.Name,
            Settings = settings,
            Model = new OpenAiModel(endpoint, EvalHarness.ModelOptionsFrom(settings, "toy")),
            ModelName = "toy",
            BaseUrl = server.BaseUrl,
            OutputDirectory = temp.Combine("out"),
            CachePath = cache.Path,
            Hub = new HfDatasets(http, new Dictionary<string, string?> { ["HF_HUB_OFFLINE"] = "1", ["HF_HUB_CACHE"] = temp.Combine("hf") }),
            Log = TextWriter.Null,
        });
        (string path, IReadOnlyList<TaskResult> tasks) = await runner.RunAsync(ct);
        return (path, tasks, endpoint);
    }

    private static double ExpectedLoglikelihood(string context, string continuation)
    {
        int[] ctx = FakeOpenAiServer.Encode(context, bos: false);
        int[] whole = FakeOpenAiServer.Encode(context + continuation, bos: false);
        double sum = 0;
        for (int pos = ctx.Length; pos < whole.Length; pos++) sum += FakeOpenAiServer.LogProb(whole[pos - 1], whole[pos]);
        return sum;
    }

    [TestMethod]
    public async Task AllChoicesOfADocumentGoInOneRequestAndScoreAsLmEvalWould()
    {
        await using FakeOpenAiServer server = await FakeOpenAiServer.StartAsync();
        using var temp = new TempDirectory();
        (string resultsPath, IReadOnlyList<TaskResult> tasks, _) = await RunAsync(server, temp, Suite(("Tasks", "arc_easy"), ("Limit", "8"), ("Data", ArcData), ("Concurrency", "3")));

        Assert.AreEqual(8, server.Count("/v1/completions"), "one request per document");
        foreach ((string path, JsonObject body) in server.Requests.Where(r => r.Path == "/v1/completions"))
        {
            Assert.IsTrue((bool)body["echo"]! && (int)body["max_tokens"]! == 1 && (int)body["logprobs"]! == 1 && (int)body["seed"]! == 1234);
            Assert.HasCount(4, body["prompt"]!.AsArray(), "the four choices as a list of token-id prompts");
            // No log-probabilities before each continuation (the fake server then answers null there): ctxlen per prompt.
            JsonArray from = body[OpenAiModel.LogprobsFromField]!.AsArray();
            Assert.HasCount(4, from);
            for (int i = 0; i < 4; i++)
                Assert.IsTrue((int)from[i]! > 0 && (int)from[i]! < body["prompt"]![i]!.AsArray().Count, $"prompt {i}: from {from[i]}");
        }
        TaskResult arc = tasks.Single();
        foreach (JsonObject line in arc.SampleLines())
        {
            JsonObject args = line["arguments"]!.AsObject();
            for (int i = 0; i < args.Count; i++)
            {
                double expected = ExpectedLoglikelihood((string)args[$"gen_args_{i}"]!["arg_0"]!, (string)args[$"gen_args_{i}"]!["arg_1"]!);
                Assert.AreEqual(Python.PyFloatRepr(expected), (string)line["resps"]![i]![0]![0]!, $"doc {line["doc_id"]} choice {i}");
            }
        }

        // The results file converts through the spine's lm-eval converter into a valid envelope with lm-eval's metric names.
        string raw = File.ReadAllText(resultsPath);
        StringAssert.StartsWith(Path.GetFileName(resultsPath), "results_");
        Assert.IsTrue(File.Exists(Path.Combine(Path.GetDirectoryName(resultsPath)!, Path.GetFileName(resultsPath).Replace("results_", "samples_arc_easy_").Replace(".json", ".jsonl"))));
        Envelope envelope = new LmEvalConverter().Convert(raw, new ConverterContext { Suite = "knowledge", Model = "toy", GitSha = "abc1234" });
        CollectionAssert.AreEqual(new[] { "accuracy", "accuracy_normalized" }, envelope.Results.Select(r => r.Metric).ToArray());
        IReadOnlyList<SchemaError> errors = SchemaValidator.Default.Validate(envelope);
        Assert.AreEqual("", string.Join("; ", errors));
        JsonNode results = LenientJson.Parse(raw);
        Assert.AreEqual(8, (int)results["n-samples"]!["arc_easy"]!["effective"]!);
        Assert.AreEqual(2376, (int)results["n-samples"]!["arc_easy"]!["original"]!);
    }

    [TestMethod]
    public async Task OneRequestPerPairGivesTheSameScores()
    {
        await using FakeOpenAiServer batched = await FakeOpenAiServer.StartAsync();
        await using FakeOpenAiServer single = await FakeOpenAiServer.StartAsync();
        using var temp = new TempDirectory();
        var a = await RunAsync(batched, temp, Suite(("Tasks", "arc_easy"), ("Limit", "5"), ("Data", ArcData)), cacheName: "a.jsonl");
        var b = await RunAsync(single, temp, Suite(("Tasks", "arc_easy"), ("Limit", "5"), ("Data", ArcData), ("BatchChoices", "false")), cacheName: "b.jsonl");
        Assert.AreEqual(5, batched.Count("/v1/completions"));
        Assert.AreEqual(a.Tasks[0].Docs.Sum(d => d.Requests.Count), single.Count("/v1/completions"));
        Assert.IsFalse(single.Requests.Any(r => r.Body.ContainsKey(OpenAiModel.LogprobsFromField)), "one request per pair is lm-eval's request exactly");
        CollectionAssert.AreEqual(a.Tasks[0].SampleLines().Select(l => l["resps"]!.ToJsonString()).ToArray(),
            b.Tasks[0].SampleLines().Select(l => l["resps"]!.ToJsonString()).ToArray());
    }

    /// <summary>A server that refuses MlxBench.Server's request extension (400 on an unknown field) is asked again
    /// without it, once, and then never sent it again: same scores, one extra request.</summary>
    [TestMethod]
    public async Task AServerRefusingTheLogprobsFromExtension_IsAskedWithoutIt()
    {
        await using FakeOpenAiServer honouring = await FakeOpenAiServer.StartAsync();
        await using FakeOpenAiServer strict = await FakeOpenAiServer.StartAsync();
        strict.RefuseLogprobsFrom = true;
        using var temp = new TempDirectory();
        var a = await RunAsync(honouring, temp, Suite(("Tasks", "arc_easy"), ("Limit", "5"), ("Data", ArcData), ("Concurrency", "1")), cacheName: "a.jsonl");
        var b = await RunAsync(strict, temp, Suite(("Tasks", "arc_easy"), ("Limit", "5"), ("Data", ArcData), ("Concurrency", "1")), cacheName: "b.jsonl");
        CollectionAssert.AreEqual(a.Tasks[0].SampleLines().Select(l => l["resps"]!.ToJsonString()).ToArray(),
            b.Tasks[0].SampleLines().Select(l => l["resps"]!.ToJsonString()).ToArray());
        Assert.AreEqual(6, strict.Count("/v1/completions"), "the refused first request again without the field, then one per document");
        Assert.AreEqual(1, strict.Requests.Count(r => r.Body.ContainsKey(OpenAiModel.LogprobsFromField)));
    }

    [TestMethod]
    public async Task AKilledRunResumesWithoutResendingWhatItHad()
    {
        const int Docs = 30;
        using var temp = new TempDirectory();
        SuiteSpec suite = Suite(("Tasks", "arc_easy"), ("Limit", Docs.ToString()), ("Data", ArcData), ("Concurrency", "2"));

        // Run 1: stopped (as Ctrl+C or a kill would) while its 12th request is on the server.
        List<JsonObject> firstRun;
        await using (FakeOpenAiServer server = await FakeOpenAiServer.StartAsync())
        {
            using var cts = new CancellationTokenSource();
            server.OnCompletion = n => { if (n == 12) { cts.Cancel(); Thread.Sleep(200); } };
            await Assert.ThrowsAsync<OperationCanceledException>(() => RunAsync(server, temp, suite, cts.Token));
            firstRun = server.Requests.Where(r => r.Path == "/v1/completions").Select(r => r.Body).ToList();
        }
        Assert.IsFalse(Directory.Exists(temp.Combine("out")) && Directory.EnumerateFiles(temp.Combine("out"), "results_*").Any(), "no results from a killed run");

        // A torn last line (a kill mid-write) must not break the cache.
        File.AppendAllText(temp.Combine("cache.jsonl"), "{\"key\": \"abc\", \"respo");
        List<string> cachedBodies;
        using (var cache = new RequestCache(temp.Combine("cache.jsonl")))
            cachedBodies = firstRun.Where(body => cache.TryGet(RequestCache.KeyOf("/v1/completions", body), out _)).Select(b => b.ToJsonString()).ToList();
        int cached = cachedBodies.Count;
        Assert.IsGreaterThanOrEqualTo(10, cached, "what was answered before the kill is on disk");
        Assert.IsLessThan(Docs, cached);

        // Run 2, against a restarted server on another port: only the missing documents are sent.
        await using FakeOpenAiServer second = await FakeOpenAiServer.StartAsync();
        (string resultsPath, IReadOnlyList<TaskResult> tasks, _) = await RunAsync(second, temp, suite);
        List<string> resent = second.Requests.Where(r => r.Path == "/v1/completions").Select(r => r.Body.ToJsonString()).ToList();
        Console.WriteLine($"killed run: {cached} of {Docs} requests cached; the rerun sent {resent.Count}");
        Assert.AreEqual(Docs - cached, resent.Count, $"{cached} cached of {Docs}");
        Assert.HasCount(Docs, tasks[0].Docs);
        Assert.IsFalse(resent.Intersect(cachedBodies).Any(), "no request answered before the kill is sent again");

        // The resumed run scores exactly what an uninterrupted one does.
        await using FakeOpenAiServer clean = await FakeOpenAiServer.StartAsync();
        using var other = new TempDirectory();
        var fresh = await RunAsync(clean, other, suite);
        CollectionAssert.AreEqual(fresh.Tasks[0].SampleLines().Select(l => l.ToJsonString()).ToArray(), tasks[0].SampleLines().Select(l => l.ToJsonString()).ToArray());
        Assert.IsTrue(File.Exists(resultsPath));
    }

    [TestMethod]
    public async Task Gsm8kGeneratesThroughCompletionsWithTheTasksStopsAndFilters()
    {
        await using FakeOpenAiServer server = await FakeOpenAiServer.StartAsync();
        using var temp = new TempDirectory();
        var run = await RunAsync(server, temp, Suite(("Tasks", "gsm8k_cot_zeroshot"), ("Limit", "3"), ("GenKwargs", "max_gen_toks=64"),
            ("Data", SharedData.RequireShared("tasks", "openai__grade-school-math__gsm8k_test.jsonl"))));
        JsonObject body = server.Requests.First(r => r.Path == "/v1/completions").Body;
        Assert.AreEqual("""["Q:","\u003C/s\u003E","\u003C|im_end|\u003E"]""", body["stop"]!.ToJsonString());
        Assert.AreEqual(64, (int)body["max_tokens"]!);
        Assert.IsFalse(body.ContainsKey("do_sample"));
        JsonObject entry = run.Tasks[0].ResultsEntry();
        Assert.IsTrue(entry.ContainsKey("exact_match,strict-match") && entry.ContainsKey("exact_match,flexible-extract"));
        Assert.AreEqual(3, server.Count("/v1/completions"));
    }

    /// <summary>shared/tasks holds only the GSM8K train rows lm-eval draws for the first 40 test documents, each with its
    /// train_index: with FewshotPoolSize the run draws from the whole 7473-row split, as lm-eval does.</summary>
    [TestMethod]
    public async Task Gsm8kFiveShotRunsOnTheSharedTrainSubsetWithLmEvalsDraws()
    {
        await using FakeOpenAiServer server = await FakeOpenAiServer.StartAsync();
        using var temp = new TempDirectory();
        string subset = SharedData.RequireShared("tasks", "openai__grade-school-math__gsm8k_train_subset_fewshot.jsonl");
        var run = await RunAsync(server, temp, Suite(("Tasks", "gsm8k"), ("Limit", "3"), ("FewshotPoolSize", "7473"), ("FewshotData", subset),
            ("Data", SharedData.RequireShared("tasks", "openai__grade-school-math__gsm8k_test.jsonl"))));
        Dictionary<int, JsonObject> train = EvalFixtures.Task("openai__grade-school-math__gsm8k_train_subset_fewshot.jsonl").ToDictionary(r => (int)r["train_index"]!);
        string prompt = (string)run.Tasks[0].SampleLines().First()["arguments"]!["gen_args_0"]!["arg_0"]!;
        StringAssert.StartsWith(prompt, "Question: " + (string)train[6374]["question"]! + "\nAnswer: " + (string)train[6374]["answer"]! + "\n\nQuestion: " + (string)train[3610]["question"]!);
        Assert.AreEqual(3, server.Count("/v1/completions"));

        var tooMany = await Assert.ThrowsAsync<BenchException>(() => RunAsync(server, temp, Suite(("Tasks", "gsm8k"), ("Limit", "41"), ("FewshotPoolSize", "7473"), ("FewshotData", subset),
            ("Data", SharedData.RequireShared("tasks", "openai__grade-school-math__gsm8k_test.jsonl")))));
        Assert.AreEqual("MLXB7009", tooMany.Diagnostic.Code, "document 40 draws rows the subset does not hold");
    }

    [TestMethod]
    public async Task ChatEndpointSendsMessagesAndLoglikelihoodTasksAreRefused()
    {
        await using FakeOpenAiServer server = await FakeOpenAiServer.StartAsync();
        using var temp = new TempDirectory();
        string gsm = SharedData.RequireShared("tasks", "openai__grade-school-math__gsm8k_test.jsonl");
        await RunAsync(server, temp, Suite(("Tasks", "gsm8k_cot_zeroshot"), ("Limit", "2"), ("Endpoint", "chat"), ("Data", gsm)));
        JsonObject chat = server.Requests.First(r => r.Path == "/v1/chat/completions").Body;
        Assert.AreEqual("user", (string)chat["messages"]![0]!["role"]!);
        Assert.AreEqual(0, server.Count("/v1/completions"));

        var e = await Assert.ThrowsAsync<BenchException>(() => RunAsync(server, temp, Suite(("Tasks", "arc_easy"), ("Endpoint", "chat"), ("Data", ArcData))));
        Assert.AreEqual("MLXB7008", e.Diagnostic.Code);
    }

    [TestMethod]
    public async Task BadSuitesFailWithCodedErrors()
    {
        await using FakeOpenAiServer server = await FakeOpenAiServer.StartAsync();
        using var temp = new TempDirectory();
        Assert.AreEqual("MLXB7002", Assert.ThrowsExactly<BenchException>(() => EvalSettings.Parse(Suite())).Diagnostic.Code);
        Assert.AreEqual("MLXB7004", Assert.ThrowsExactly<BenchException>(() => EvalSettings.Parse(Suite(("Tasks", "piqa"), ("Limit", "-3")))).Diagnostic.Code);
        Assert.AreEqual("MLXB7003", (await Assert.ThrowsAsync<BenchException>(() => RunAsync(server, temp, Suite(("Tasks", "mmlu"))))).Diagnostic.Code);
        var missing = await Assert.ThrowsAsync<BenchException>(() => RunAsync(server, temp, Suite(("Tasks", "piqa"), ("Data", temp.Combine("nope.jsonl")))));
        Assert.AreEqual("MLXB7005", missing.Diagnostic.Code);
        var offline = await Assert.ThrowsAsync<BenchException>(() => RunAsync(server, temp, Suite(("Tasks", "piqa"))));
        StringAssert.Contains(offline.Diagnostic.Text, "HF_HUB_OFFLINE");
        var wrongRows = await Assert.ThrowsAsync<BenchException>(() => RunAsync(server, temp, Suite(("Tasks", "piqa"), ("Data", SharedData.RequireShared("tasks", "mosaicml__llm-foundry__lambada_openai_test.jsonl")))));
        Assert.AreEqual("MLXB7009", wrongRows.Diagnostic.Code);
    }
}

internal static class Python
{
    public static string PyFloatRepr(double d) => MlxBench.Harness.Eval.Python.PyFloat.Repr(d);
}
