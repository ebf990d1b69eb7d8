using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace MlxBench.Server.Tests;

/// <summary>What a streaming client counts: one event per generated token, and usage equal to their number.</summary>
[TestClass]
public sealed class StreamingTests
{
    private static TestServer s_server = null!;

    [ClassInitialize]
    public static async Task StartAsync(TestContext _) => s_server = await TestServer.StartAsync();

    [ClassCleanup]
    public static async Task StopAsync() => await s_server.DisposeAsync();

    private sealed record Counted(int Usage, int TokenEvents, int LogprobTokens, int EventsWithoutText, string? Finish);

    /// <summary>
    /// Many concurrent streams, sampled hot (temperature 2 over a 512-token vocabulary: control tokens and lone UTF-8
    /// byte tokens, which release no text, come up often), with and without ignore_eos, stop strings and both
    /// endpoints: every stream has exactly one event per generated token (the last one carries the finish reason),
    /// each event carries that token's log-probability, and usage counts the tokens exactly.
    /// </summary>
    [TestMethod]
    public async Task ConcurrentStreams_HaveOneEventPerToken_AndUsageCountsThemExactly()
    {
        const int requests = 32, maxTokens = 40;
        Counted[] results = await Task.WhenAll(Enumerable.Range(0, requests).Select(async i =>
        {
            bool chat = i % 2 == 1, ignoreEos = i % 4 < 2;
            string[] stop = i % 8 >= 5 ? ["e d", "!"] : [];
            var body = new Dictionary<string, object?>
            {
                ["max_tokens"] = maxTokens, ["temperature"] = 2.0, ["seed"] = i, ["stream"] = true,
                ["stream_options"] = new { include_usage = true }, ["ignore_eos"] = ignoreEos, ["stop"] = stop,
            };
            if (chat)
            {
                body["messages"] = new[] { new { role = "user", content = $"Tell story {i}" } };
                body["logprobs"] = true;
            }
            else
            {
                body["prompt"] = $"Once upon a time {i}";
                body["logprobs"] = 0;
            }
            List<JsonNode> events = (await s_server.StreamAsync(chat ? "v1/chat/completions" : "v1/completions", body))
                .TakeWhile(e => e != "[DONE]").Select(e => JsonNode.Parse(e)!).ToList();
            var choices = events.Where(e => e["choices"]!.AsArray().Count > 0).Select(e => e["choices"]![0]!)
                // The chat stream opens with a role-only delta that carries no token (as vLLM's does).
                .Where(c => !(chat && c["delta"]!["role"] is not null)).ToList();
            int logprobTokens = choices.Sum(c => c["logprobs"] is JsonObject lp ? (lp["tokens"] ?? lp["content"])!.AsArray().Count : 0);
            int withoutText = choices.Count(c => ((string?)(chat ? c["delta"]!["content"] : c["text"]) ?? "").Length == 0);
            Assert.IsTrue(choices.SkipLast(1).All(c => c["finish_reason"] is null), $"request {i}: only the last event finishes");
            return new Counted((int)events[^1]["usage"]!["completion_tokens"]!, choices.Count, logprobTokens, withoutText, (string?)choices[^1]["finish_reason"]);
        }));

        for (int i = 0; i < requests; i++)
        {
            Counted c = results[i];
            Assert.AreEqual(c.Usage, c.TokenEvents, $"request {i}: usage {c.Usage}, {c.TokenEvents} token events");
            Assert.AreEqual(c.Usage, c.LogprobTokens, $"request {i}: usage {c.Usage}, {c.LogprobTokens} tokens in the events' logprobs");
            Assert.IsTrue(c.Usage is > 0 and <= maxTokens, $"request {i}: {c.Usage} tokens");
            if (i % 4 < 2 && i % 8 < 5) Assert.AreEqual((maxTokens, "length"), (c.Usage, c.Finish), $"request {i}: ignore_eos without stops runs to max_tokens");
        }
        Assert.IsTrue(results.Sum(r => r.EventsWithoutText) > 0, "no token without text came up: the test did not exercise what it is for");
    }
}
