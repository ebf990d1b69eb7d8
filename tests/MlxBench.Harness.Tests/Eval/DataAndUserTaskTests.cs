using System.Text.Json.Nodes;
using MlxBench.Harness.Eval.Data;
using MlxBench.Harness.Eval.Scoring;
using MlxBench.Harness.Eval.Tasks;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using MlxBench.Testing;

namespace MlxBench.Harness.Tests.Eval;

[TestClass]
public sealed class DataAndUserTaskTests
{
    [TestMethod]
    public void AYamlTaskReusesTheMultipleChoiceType()
    {
        using var temp = new TempDirectory();
        temp.Write("capitals.jsonl", """{"country": "France", "options": ["Paris", "Lyon"], "answer_index": 0}""" + "\n");
        string path = temp.Write("capitals.yaml", """
            task: capitals
            output_type: multiple_choice
            data: capitals.jsonl
            doc_to_text: "Q: What is the capital of {{country}}?\nA:"
            doc_to_choice: options
            doc_to_target: answer_index
            num_fewshot: 1
            metric_list:
              - metric: acc
            metadata:
              version: 2.0
            """);
        EvalTask task = UserTaskLoader.Load(path);
        Assert.AreEqual(temp.Combine("capitals.jsonl"), task.DefaultData);
        Assert.AreEqual(1, task.NumFewshot, "YAML integers are read as whole numbers");
        Assert.AreEqual(2.0, task.Version);
        var doc = JsonNode.Parse(File.ReadAllLines(temp.Combine("capitals.jsonl"))[0])!.AsObject();
        DocRequests built = new PromptBuilder(task, null, new PromptOptions()).Build(0, doc);
        Assert.AreEqual(new LoglikelihoodRequest("Q: What is the capital of France?\nA:", " Paris"), built.Requests[0]);
        DocScore score = new DocScorer(task).Score(built, [new LoglikelihoodResponse(-1, true), new LoglikelihoodResponse(-2, false)]).Single();
        Assert.AreEqual("acc", score.Metrics.Single().Key);
        Assert.AreEqual(1.0, score.Metrics.Single().Value.Value);
    }

    [TestMethod]
    public void AJsonGenerationTaskGetsLmEvalsDefaultGenerationKwargs()
    {
        using var temp = new TempDirectory();
        string path = temp.Write("echo.json", """{"task": "echo", "doc_to_text": "Say {{word}}:", "doc_to_target": "word", "fewshot_delimiter": "\n"}""");
        EvalTask task = UserTaskLoader.Load(path);
        var request = (GenerateRequest)new PromptBuilder(task, null, new PromptOptions()).Build(0, new JsonObject { ["word"] = "hi" }).Requests.Single();
        Assert.AreEqual("Say hi:", request.Context.Text);
        CollectionAssert.AreEqual(new[] { "\n" }, request.Until.ToArray(), "until defaults to the few-shot delimiter");
        Assert.AreEqual(256, (int)request.GenKwargs["max_gen_toks"]!);
    }

    [TestMethod]
    public void BrokenTaskFilesNameTheProblem()
    {
        using var temp = new TempDirectory();
        var e = Assert.ThrowsExactly<TaskDefinitionException>(() => UserTaskLoader.Load(temp.Write("bad.yaml", "task: x\noutput_type: multiple_choice\ndoc_to_target: y\n")));
        StringAssert.Contains(e.Message, "doc_to_choice");
        Assert.ThrowsExactly<TaskDefinitionException>(() => UserTaskLoader.Load(temp.Write("bad2.yaml", "task: [unclosed\n")));
        StringAssert.Contains(Assert.ThrowsExactly<TaskDefinitionException>(() => UserTaskLoader.Load(temp.Write("bad3.yaml",
            "task: x\noutput_type: multiple_choice\ndoc_to_choice: c\ndoc_to_target: y\nnum_fewshot: two\n"))).Message, "num_fewshot must be a whole number");
    }

    [TestMethod]
    public async Task HfReferencesResolveFromTheCacheLayoutOffline()
    {
        using var temp = new TempDirectory();
        string commit = new string('c', 40);
        string repo = temp.Combine("hub", "datasets--allenai--ai2_arc");
        temp.Write(Path.Combine("hub", "datasets--allenai--ai2_arc", "refs", "main"), commit);
        temp.Write(Path.Combine("hub", "datasets--allenai--ai2_arc", "snapshots", commit, "ARC-Easy", "test-00000-of-00001.jsonl"), """{"a": 1}""" + "\n");
        temp.Write(Path.Combine("hub", "datasets--allenai--ai2_arc", "snapshots", commit, "ARC-Easy", "train-00000-of-00001.jsonl"), """{"a": 2}""" + "\n");
        using var http = new HttpClient();
        var hub = new HfDatasets(http, new Dictionary<string, string?> { ["HF_HUB_CACHE"] = temp.Combine("hub"), ["HF_HUB_OFFLINE"] = "1" });
        IReadOnlyList<string> files = await hub.ResolveAsync("hf://datasets/allenai/ai2_arc/ARC-Easy/test-*.jsonl", CancellationToken.None);
        Assert.AreEqual(Path.Combine(repo, "snapshots", commit, "ARC-Easy", "test-00000-of-00001.jsonl"), files.Single());
        var missing = await Assert.ThrowsAsync<DataException>(() => hub.ResolveAsync("hf://datasets/openai/gsm8k/main/test-*.parquet", CancellationToken.None));
        StringAssert.Contains(missing.Message, "huggingface-cli download --repo-type dataset openai/gsm8k");
        Assert.ThrowsExactly<DataException>(() => HfDatasetReference.Parse("hf://datasets/only-owner"));
    }

    [TestMethod]
    public async Task HfReferencesDownloadIntoTheCacheLayoutWhenOnline()
    {
        await using var hub = await FakeHub.StartAsync();
        using var temp = new TempDirectory();
        using var http = new HttpClient();
        var datasets = new HfDatasets(http, new Dictionary<string, string?> { ["HF_HUB_CACHE"] = temp.Combine("hub"), ["HF_ENDPOINT"] = hub.Url, ["HF_TOKEN"] = "secret" });
        IReadOnlyList<string> files = await datasets.ResolveAsync("hf://datasets/acme/tiny/data/test-*.jsonl", CancellationToken.None);
        Assert.AreEqual(temp.Combine("hub", "datasets--acme--tiny", "snapshots", FakeHub.Commit, "data", "test-00000.jsonl"), files.Single());
        Assert.AreEqual(FakeHub.Commit, File.ReadAllText(temp.Combine("hub", "datasets--acme--tiny", "refs", "main")));
        List<JsonObject> rows = await DocLoader.LoadAsync(files, CancellationToken.None);
        Assert.AreEqual("x", (string)rows.Single()["q"]!);
        Assert.AreEqual("Bearer secret", hub.Authorization);

        // Second time: the cache answers, the Hub is not asked.
        int before = hub.Requests;
        await datasets.ResolveAsync("hf://datasets/acme/tiny/data/test-*.jsonl", CancellationToken.None);
        Assert.AreEqual(before, hub.Requests);
    }

    private sealed class FakeHub : IAsyncDisposable
    {
        public const string Commit = "0123456789abcdef0123456789abcdef01234567";
        private readonly Microsoft.AspNetCore.Builder.WebApplication _app;
        private FakeHub(Microsoft.AspNetCore.Builder.WebApplication app) => _app = app;
        public int Requests;
        public string? Authorization;
        public string Url => _app.Urls.First();

        public static async Task<FakeHub> StartAsync()
        {
            var builder = Microsoft.AspNetCore.Builder.WebApplication.CreateSlimBuilder();
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            builder.Logging.ClearProviders();
            var app = builder.Build();
            var hub = new FakeHub(app);
            app.MapGet("/api/datasets/acme/tiny/revision/main", (Microsoft.AspNetCore.Http.HttpContext c) =>
            {
                Interlocked.Increment(ref hub.Requests);
                hub.Authorization = c.Request.Headers.Authorization.ToString();
                return Microsoft.AspNetCore.Http.Results.Json(new JsonObject
                {
                    ["sha"] = Commit,
                    ["siblings"] = new JsonArray(new JsonObject { ["rfilename"] = "data/test-00000.jsonl" }, new JsonObject { ["rfilename"] = "data/train-00000.jsonl" }),
                });
            });
            app.MapGet($"/datasets/acme/tiny/resolve/{Commit}/data/test-00000.jsonl", () =>
            {
                Interlocked.Increment(ref hub.Requests);
                return Microsoft.AspNetCore.Http.Results.Text("{\"q\": \"x\"}\n");
            });
            await app.StartAsync();
            return hub;
        }

        public async ValueTask DisposeAsync() { await _app.StopAsync(); await _app.DisposeAsync(); }
    }
}
