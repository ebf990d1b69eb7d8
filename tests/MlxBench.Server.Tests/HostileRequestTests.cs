using System.Net;
using System.Text;
using System.Text.Json.Nodes;

namespace MlxBench.Server.Tests;

/// <summary>Malformed and hostile requests get the right status and an OpenAI-shaped error, and the server keeps serving.</summary>
[TestClass]
public sealed class HostileRequestTests
{
    private sealed record Case(string Name, HttpMethod Method, string Path, byte[]? Body, int Status);

    private static Case Post(string name, string path, string json, int status) => new(name, HttpMethod.Post, path, Encoding.UTF8.GetBytes(json), status);

    private static IEnumerable<Case> Cases()
    {
        string tooLong = "[" + string.Join(",", Enumerable.Repeat(5, 2100)) + "]";
        string deep = new string('[', 200) + new string(']', 200);
        yield return Post("truncated JSON", "v1/completions", "{\"prompt\": \"x\"", 400);
        yield return Post("empty body", "v1/completions", "", 400);
        yield return Post("not an object", "v1/completions", "[1, 2, 3]", 400);
        yield return Post("deeply nested", "v1/completions", "{\"prompt\": " + deep + "}", 400);
        yield return new Case("invalid UTF-8", HttpMethod.Post, "v1/completions", [.. "{\"prompt\": \""u8, 0xff, 0xfe, .. "\"}"u8], 400);
        yield return Post("no prompt", "v1/completions", "{\"max_tokens\": 4}", 400);
        yield return Post("max_tokens as string", "v1/completions", "{\"prompt\": \"x\", \"max_tokens\": \"10\"}", 400);
        yield return Post("max_tokens fractional", "v1/completions", "{\"prompt\": \"x\", \"max_tokens\": 1.5}", 400);
        yield return Post("negative max_tokens", "v1/completions", "{\"prompt\": \"x\", \"max_tokens\": -1}", 400);
        yield return Post("huge max_tokens", "v1/completions", "{\"prompt\": \"x\", \"max_tokens\": 1000000000}", 400);
        yield return Post("max_tokens beyond int64", "v1/completions", "{\"prompt\": \"x\", \"max_tokens\": 1e400}", 400);
        yield return Post("temperature as string", "v1/completions", "{\"prompt\": \"x\", \"temperature\": \"hot\"}", 400);
        yield return Post("negative temperature", "v1/completions", "{\"prompt\": \"x\", \"temperature\": -1}", 400);
        yield return Post("top_p above 1", "v1/completions", "{\"prompt\": \"x\", \"top_p\": 2}", 400);
        yield return Post("stream as string", "v1/completions", "{\"prompt\": \"x\", \"stream\": \"yes\"}", 400);
        yield return Post("stop as number", "v1/completions", "{\"prompt\": \"x\", \"stop\": 5}", 400);
        yield return Post("stop list with a number", "v1/completions", "{\"prompt\": \"x\", \"stop\": [\"a\", 5]}", 400);
        yield return Post("logprobs as string", "v1/completions", "{\"prompt\": \"x\", \"logprobs\": \"1\"}", 400);
        yield return Post("logprobs above the limit", "v1/completions", "{\"prompt\": \"x\", \"logprobs\": 100}", 400);
        yield return Post("echo as string", "v1/completions", "{\"prompt\": \"x\", \"echo\": \"true\"}", 400);
        yield return Post("n zero", "v1/completions", "{\"prompt\": \"x\", \"n\": 0}", 400);
        yield return Post("n huge", "v1/completions", "{\"prompt\": \"x\", \"n\": 100000}", 400);
        yield return Post("seed as string", "v1/completions", "{\"prompt\": \"x\", \"seed\": \"abc\"}", 400);
        yield return Post("stream_options not an object", "v1/completions", "{\"prompt\": \"x\", \"stream_options\": 3}", 400);
        yield return Post("prompt as number", "v1/completions", "{\"prompt\": 5}", 400);
        yield return Post("prompt with a fractional id", "v1/completions", "{\"prompt\": [1.5]}", 400);
        yield return Post("prompt list mixing kinds", "v1/completions", "{\"prompt\": [\"a\", [1]]}", 400);
        yield return Post("token list with a string", "v1/completions", "{\"prompt\": [[1, \"a\"]]}", 400);
        yield return Post("empty prompt list", "v1/completions", "{\"prompt\": []}", 400);
        yield return Post("empty token list", "v1/completions", "{\"prompt\": [[]]}", 400);
        yield return Post("negative token id", "v1/completions", "{\"prompt\": [-1]}", 400);
        yield return Post("token id beyond the vocabulary", "v1/completions", "{\"prompt\": [99999]}", 400);
        yield return Post("prompt beyond the context", "v1/completions", "{\"prompt\": " + tooLong + ", \"max_tokens\": 1}", 400);
        yield return Post("prompt + max_tokens beyond the context", "v1/completions", "{\"prompt\": [1, 2, 3], \"max_tokens\": 2046}", 400);
        yield return Post("suffix", "v1/completions", "{\"prompt\": \"x\", \"suffix\": \"y\"}", 400);
        yield return Post("logit_bias not an object", "v1/completions", "{\"prompt\": \"x\", \"logit_bias\": 1}", 400);
        yield return Post("unknown model", "v1/completions", "{\"prompt\": \"x\", \"model\": \"gpt-17\"}", 404);
        yield return Post("model as number", "v1/completions", "{\"prompt\": \"x\", \"model\": 3}", 400);
        yield return Post("chat without messages", "v1/chat/completions", "{\"max_tokens\": 3}", 400);
        yield return Post("chat messages as string", "v1/chat/completions", "{\"messages\": \"hi\"}", 400);
        yield return Post("chat messages empty", "v1/chat/completions", "{\"messages\": []}", 400);
        yield return Post("chat message without role", "v1/chat/completions", "{\"messages\": [{\"content\": \"hi\"}]}", 400);
        yield return Post("chat content as number", "v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": 5}]}", 400);
        yield return Post("chat image part", "v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"image_url\", \"image_url\": {}}]}]}", 400);
        yield return Post("chat top_logprobs without logprobs", "v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"top_logprobs\": 2}", 400);
        yield return Post("chat huge max_tokens", "v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"max_tokens\": 100000}", 400);
        yield return Post("chat unknown model", "v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"model\": \"nope\"}", 404);
        yield return Post("tokenize without prompt", "tokenize", "{}", 400);
        yield return Post("detokenize bad ids", "detokenize", "{\"tokens\": [1, 99999]}", 400);
        yield return Post("detokenize tokens as string", "detokenize", "{\"tokens\": \"1 2\"}", 400);
        yield return new Case("unknown route", HttpMethod.Get, "v1/engines", null, 404);
        yield return new Case("unknown POST route", HttpMethod.Post, "v1/embeddings", "{}"u8.ToArray(), 404);
    }

    [TestMethod]
    public async Task TwoHundredHostileRequests_GetTheRightStatus_AndTheServerKeepsServing()
    {
        // A long context, so a disconnected stream (2000 tokens) is still running when the server notices the hang-up.
        await using TestServer server = await TestServer.StartAsync(o => o with { Scheduler = o.Scheduler with { ContextSize = 2048 } });
        List<Case> cases = Cases().ToList();
        var failures = new List<string>();
        int sent = 0, disconnects = 0;
        for (int round = 0; sent < 200; round++)
        {
            foreach (Case c in cases)
            {
                if (sent == 200) break;
                if (sent % 10 == 9)
                {
                    await DisconnectMidStreamAsync(server);
                    disconnects++;
                    sent++;
                    continue;
                }
                using var request = new HttpRequestMessage(c.Method, c.Path);
                if (c.Body is not null) request.Content = new ByteArrayContent(c.Body) { Headers = { { "Content-Type", "application/json" } } };
                using HttpResponseMessage response = await server.Client.SendAsync(request);
                sent++;
                string body = await response.Content.ReadAsStringAsync();
                if ((int)response.StatusCode != c.Status)
                {
                    failures.Add($"{c.Name}: {(int)response.StatusCode} (expected {c.Status}) {body}");
                    continue;
                }
                JsonNode? error = JsonNode.Parse(body)?["error"];
                if (error?["message"] is null || error["type"] is null) failures.Add($"{c.Name}: not an OpenAI error body: {body}");
            }
        }
        Assert.AreEqual(0, failures.Count, string.Join("\n", failures.Distinct()));
        Assert.AreEqual(200, sent);

        using HttpResponseMessage health = await server.Client.GetAsync("health");
        Assert.AreEqual(HttpStatusCode.OK, health.StatusCode);
        JsonNode ok = await server.PostOkAsync("v1/completions", new { prompt = Oracle.Prompt, max_tokens = 40, temperature = 0 });
        Assert.AreEqual(Oracle.Continuation[..((string)ok["choices"]![0]!["text"]!).Length], (string)ok["choices"]![0]!["text"]!);

        // Every disconnected stream gives its KV slot back (the server notices a hang-up at its next write).
        Dictionary<string, double> metrics = await server.MetricsAsync();
        for (var deadline = DateTime.UtcNow.AddSeconds(10); metrics["mlxbench_requests_running"] > 0 && DateTime.UtcNow < deadline; metrics = await server.MetricsAsync())
            await Task.Delay(50);
        Assert.AreEqual(0, metrics["mlxbench_requests_running"]);
        Assert.AreEqual(disconnects, metrics["mlxbench_sequences_cancelled_total"], string.Join(", ", metrics.Select(m => $"{m.Key}={m.Value}")));
    }

    /// <summary>Starts a long stream, reads its first event, and hangs up.</summary>
    private static async Task DisconnectMidStreamAsync(TestServer server)
    {
        // No draining: by default HttpClient reads the rest of an abandoned HTTP/1.1 response (up to 1 MB, 2 s) to
        // reuse the connection, and would quietly receive the whole stream instead of hanging up.
        using var client = new HttpClient(new SocketsHttpHandler { MaxResponseDrainSize = 0 }) { BaseAddress = server.BaseAddress };
        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/completions")
        {
            Content = new StringContent("{\"prompt\": \"Once upon a time\", \"max_tokens\": 2000, \"stream\": true, \"temperature\": 0}", Encoding.UTF8, "application/json"),
        };
        using HttpResponseMessage response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.AreEqual(HttpStatusCode.OK, response.StatusCode);
        await using Stream stream = await response.Content.ReadAsStreamAsync();
        var first = new byte[16];
        Assert.IsTrue(await stream.ReadAsync(first) > 0);
        // Disposing the response and the client closes the connection mid-stream.
    }
}
