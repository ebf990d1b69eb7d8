using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;

namespace MlxBench.Server.Tests;

[TestClass]
public sealed class ChatAndTokenizerTests
{
    private static TestServer s_server = null!;

    [ClassInitialize]
    public static async Task StartAsync(TestContext _) => s_server = await TestServer.StartAsync();

    [ClassCleanup]
    public static async Task StopAsync() => await s_server.DisposeAsync();

    private static readonly object[] s_messages = [new { role = "system", content = "Tell a story." }, new { role = "user", content = "Once upon a time" }];

    [TestMethod]
    public async Task ChatCompletion_UsesChatMl_WhenTheGgufHasNoTemplate_AndStreamsTheSameText()
    {
        JsonNode info = await s_server.PostOkAsync("tokenize", new { messages = s_messages, add_generation_prompt = true, return_token_strs = false });
        JsonNode rendered = await s_server.PostOkAsync("tokenize", new
        {
            prompt = "<|im_start|>system\nTell a story.<|im_end|>\n<|im_start|>user\nOnce upon a time<|im_end|>\n<|im_start|>assistant\n",
        });
        CollectionAssert.AreEqual(rendered["tokens"]!.AsArray().Select(t => (int)t!).ToArray(), info["tokens"]!.AsArray().Select(t => (int)t!).ToArray());

        var payload = new { model = "stories260K-test", messages = s_messages, max_tokens = 48, temperature = 0, logprobs = true, top_logprobs = 2 };
        JsonNode r = await s_server.PostOkAsync("v1/chat/completions", payload);
        Assert.AreEqual("chat.completion", (string)r["object"]!);
        JsonNode choice = r["choices"]![0]!;
        Assert.AreEqual("assistant", (string)choice["message"]!["role"]!);
        string text = (string)choice["message"]!["content"]!;
        Assert.IsTrue(text.Length > 0);
        JsonArray content = choice["logprobs"]!["content"]!.AsArray();
        Assert.AreEqual(48, content.Count);
        Assert.IsTrue(content.All(c => c!["top_logprobs"]!.AsArray().Count == 2 && c["bytes"] is JsonArray));
        Assert.AreEqual((int)info["count"]!, (int)r["usage"]!["prompt_tokens"]!);

        List<string> events = await s_server.StreamAsync("v1/chat/completions", new { messages = s_messages, max_tokens = 48, temperature = 0, stream = true, stream_options = new { include_usage = true } });
        Assert.AreEqual("[DONE]", events[^1]);
        var chunks = events.SkipLast(1).Select(e => JsonNode.Parse(e)!).ToList();
        Assert.AreEqual("assistant", (string)chunks[0]["choices"]![0]!["delta"]!["role"]!);
        string streamed = string.Concat(chunks.Where(c => c["choices"]!.AsArray().Count > 0).Select(c => (string?)c["choices"]![0]!["delta"]!["content"] ?? ""));
        Assert.AreEqual(text, streamed);
        Assert.AreEqual(48, (int)chunks[^1]["usage"]!["completion_tokens"]!);
        Assert.IsTrue(chunks.All(c => (string)c["object"]! == "chat.completion.chunk"));
    }

    [TestMethod]
    public async Task TokenizerRoutes_AreWhatLmEvalsRemoteTokenizerReads()
    {
        using HttpResponseMessage infoResponse = await s_server.Client.GetAsync("tokenizer_info");
        JsonNode info = JsonNode.Parse(await infoResponse.Content.ReadAsStringAsync())!;
        Assert.AreEqual("</s>", (string)info["eos_token"]!);
        Assert.AreEqual("<s>", (string)info["bos_token"]!);
        Assert.IsNotNull((string?)info["chat_template"]);

        // lm-eval's probe: {"prompt": "test", "add_special_tokens": false} must return a token list.
        JsonNode probe = await s_server.PostOkAsync("tokenize", new { prompt = "test", add_special_tokens = false });
        int[] tokens = probe["tokens"]!.AsArray().Select(t => (int)t!).ToArray();
        Assert.IsTrue(tokens.Length > 0 && tokens[0] != 1);
        JsonNode withBos = await s_server.PostOkAsync("tokenize", new { prompt = "test" });
        Assert.AreEqual(1, (int)withBos["tokens"]![0]!);

        JsonNode text = await s_server.PostOkAsync("detokenize", new { tokens = tokens });
        Assert.AreEqual("test", (string)text["prompt"]!);

        JsonNode models = JsonNode.Parse(await s_server.Client.GetStringAsync("v1/models"))!;
        Assert.AreEqual("stories260K-test", (string)models["data"]![0]!["id"]!);
        Assert.AreEqual(512, (int)models["data"]![0]!["max_model_len"]!);
    }

    [TestMethod]
    public async Task WhileTheModelLoads_EveryRouteAnswers503_ThenServes()
    {
        var gate = new TaskCompletionSource();
        await using TestServer server = await TestServer.StartAsync(o => o with { BeforeLoad = () => gate.Task }, waitUntilReady: false);
        using (HttpResponseMessage health = await server.Client.GetAsync("health")) Assert.AreEqual(HttpStatusCode.ServiceUnavailable, health.StatusCode);
        (int status, JsonNode? body) = await server.PostAsync("v1/completions", "{\"prompt\": \"x\"}");
        Assert.AreEqual(503, status);
        Assert.AreEqual("model_loading", (string)body!["error"]!["code"]!);
        (status, _) = await server.PostAsync("v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}]}");
        Assert.AreEqual(503, status);
        using (HttpResponseMessage models = await server.Client.GetAsync("v1/models")) Assert.AreEqual(HttpStatusCode.ServiceUnavailable, models.StatusCode);

        gate.SetResult();
        await server.WaitUntilReadyAsync();
        await server.PostOkAsync("v1/completions", new { prompt = "x", max_tokens = 2 });
    }

    [TestMethod]
    public async Task WithAnApiKey_RequestsWithoutIt_Get401_AndHealthStaysOpen()
    {
        await using TestServer server = await TestServer.StartAsync(o => o with { ApiKey = "s3cret" });
        (int status, JsonNode? body) = await server.PostAsync("v1/completions", "{\"prompt\": \"x\", \"max_tokens\": 1}");
        Assert.AreEqual(401, status);
        Assert.AreEqual("invalid_api_key", (string)body!["error"]!["code"]!);
        server.Client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "wrong");
        Assert.AreEqual(401, (await server.PostAsync("v1/completions", "{\"prompt\": \"x\", \"max_tokens\": 1}")).Status);
        server.Client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "s3cret");
        await server.PostOkAsync("v1/completions", new { prompt = "x", max_tokens = 1 });
        server.Client.DefaultRequestHeaders.Authorization = null;
        using HttpResponseMessage health = await server.Client.GetAsync("health");
        Assert.AreEqual(HttpStatusCode.OK, health.StatusCode);
    }
}
