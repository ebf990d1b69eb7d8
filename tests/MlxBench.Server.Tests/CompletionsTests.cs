using System.Text.Json.Nodes;
using MlxBench.Server.Engine;

namespace MlxBench.Server.Tests;

[TestClass]
public sealed class CompletionsTests
{
    private static TestServer s_server = null!;

    [ClassInitialize]
    public static async Task StartAsync(TestContext _) => s_server = await TestServer.StartAsync();

    [ClassCleanup]
    public static async Task StopAsync() => await s_server.DisposeAsync();

    private static async Task<int[]> TokenizeAsync(string text)
    {
        // lm-eval's RemoteTokenizer: POST /tokenize {"prompt", "add_special_tokens": false}.
        JsonNode r = await s_server.PostOkAsync("tokenize", new { prompt = text, add_special_tokens = false });
        return r["tokens"]!.AsArray().Select(t => (int)t!).ToArray();
    }

    /// <summary>lm-eval's loglikelihood request, replayed exactly: token-id prompts, echo, logprobs 1, max_tokens 1.</summary>
    [TestMethod]
    [DataRow(1, DisplayName = "batch_size=1")]
    [DataRow(4, DisplayName = "batch_size=4")]
    public async Task LoglikelihoodRequest_InLmEvalsShape_ReturnsTheEnginesLogprobs(int batchSize)
    {
        const string context = "Once upon a time, there was a little girl named";
        string[] continuations = [" Lily", " Tom", " Sue", " Max"];
        int[] ctx = await TokenizeAsync(context);
        var requests = new List<(int[] Input, int CtxLen)>();
        foreach (string cont in continuations)
        {
            int[] whole = await TokenizeAsync(context + cont);
            CollectionAssert.AreEqual(ctx, whole[..ctx.Length], "the context must tokenize the same alone and with its continuation");
            requests.Add((whole, ctx.Length));
        }

        EngineModel model = s_server.Host.Model;
        foreach (var chunk in requests.Chunk(batchSize))
        {
            var payload = new Dictionary<string, object?>
            {
                ["model"] = "stories260K-test",
                ["prompt"] = chunk.Select(r => r.Input).ToArray(),
                ["temperature"] = 0,
                ["max_tokens"] = 1,
                ["logprobs"] = 1,
                ["seed"] = 1234,
                ["echo"] = true,
            };
            JsonNode response = await s_server.PostOkAsync("v1/completions", payload);
            JsonArray choices = response["choices"]!.AsArray();
            Assert.AreEqual(chunk.Length, choices.Count);
            var byIndex = choices.OrderBy(c => (int)c!["index"]!).ToList();
            for (int i = 0; i < chunk.Length; i++)
            {
                (int[] input, int ctxLen) = chunk[i];
                JsonNode lp = byIndex[i]!["logprobs"]!;
                JsonArray tokenLogprobs = lp["token_logprobs"]!.AsArray();
                JsonArray top = lp["top_logprobs"]!.AsArray();
                Assert.AreEqual(input.Length + 1, tokenLogprobs.Count, "prompt tokens + the generated one");
                Assert.AreEqual(input.Length + 1, top.Count);
                Assert.AreEqual(input.Length + 1, lp["tokens"]!.AsArray().Count);
                Assert.AreEqual(input.Length + 1, lp["text_offset"]!.AsArray().Count);
                Assert.IsNull(tokenLogprobs[0]);
                Assert.IsNull(top[0]);

                EngineReference.Position[] engine = EngineReference.Score(model, input);
                for (int p = 1; p < input.Length; p++)
                {
                    float served = (float)(double)tokenLogprobs[p]!;
                    Assert.AreEqual(engine[p].Logprob, served, 0f, $"position {p}: served {served:R}, engine {engine[p].Logprob:R}");
                    double best = top[p]!.AsObject().Max(e => (double)e.Value!);
                    bool engineGreedy = engine[p].TopToken == input[p];
                    Assert.AreEqual(engineGreedy, (double)tokenLogprobs[p]! == best, $"is_greedy at position {p}");
                    Assert.AreEqual(engine[p].TopLogprob, (float)best, 0f, $"top-1 value at position {p}");
                }

                // lm-eval's parse: sum(token_logprobs[ctxlen:-1]).
                double logprob = tokenLogprobs.Skip(ctxLen).SkipLast(1).Sum(t => (double)t!);
                double expected = Enumerable.Range(ctxLen, input.Length - ctxLen).Sum(p => (double)engine[p].Logprob);
                Assert.AreEqual(expected, logprob, 1e-5, "values travel as the shortest float text, so the double sums differ in the last bits");
            }
        }
    }

    /// <summary>lm-eval's generate_until request for local-completions: text prompt, until-stops, greedy.</summary>
    [TestMethod]
    public async Task GenerateUntilRequest_InLmEvalsShape_StopsBeforeTheStopSequence()
    {
        var payload = new Dictionary<string, object?>
        {
            ["prompt"] = Oracle.Prompt,
            ["model"] = "stories260K-test",
            ["max_tokens"] = 256,
            ["temperature"] = 0.0,
            ["stop"] = new[] { "\n\n", "One day" },
            ["seed"] = 1234,
        };
        JsonNode response = await s_server.PostOkAsync("v1/completions", payload);
        JsonNode choice = response["choices"]![0]!;
        string expected = Oracle.Continuation[..Oracle.Continuation.IndexOf("One day", StringComparison.Ordinal)];
        Assert.AreEqual(expected, (string)choice["text"]!);
        Assert.AreEqual("stop", (string)choice["finish_reason"]!);
        Assert.IsTrue((int)response["usage"]!["completion_tokens"]! > 0);
    }

    [TestMethod]
    public async Task GreedyCompletion_IsTheDocumentedOracleText()
    {
        JsonNode response = await s_server.PostOkAsync("v1/completions", new { prompt = Oracle.Prompt, max_tokens = 120, temperature = 0 });
        string text = (string)response["choices"]![0]!["text"]!;
        StringAssert.StartsWith(Oracle.Continuation, text[..Math.Min(text.Length, 100)]);
        Assert.AreEqual(Oracle.Continuation[..text.Length], text);
    }

    [TestMethod]
    public async Task StreamingGreedy_GivesTheSameTextAsNonStreaming()
    {
        var payload = new { prompt = Oracle.Prompt, max_tokens = 200, temperature = 0, stream = true, stream_options = new { include_usage = true } };
        List<string> events = await s_server.StreamAsync("v1/completions", payload);
        Assert.AreEqual("[DONE]", events[^1]);
        var chunks = events.SkipLast(1).Select(e => JsonNode.Parse(e)!).ToList();
        string streamed = string.Concat(chunks.Where(c => c["choices"]!.AsArray().Count > 0).Select(c => (string)c["choices"]![0]!["text"]!));
        JsonNode usage = chunks[^1]["usage"]!;
        Assert.AreEqual(200, (int)usage["completion_tokens"]!);
        Assert.AreEqual("length", (string)chunks[^2]["choices"]![0]!["finish_reason"]!);

        JsonNode whole = await s_server.PostOkAsync("v1/completions", new { prompt = Oracle.Prompt, max_tokens = 200, temperature = 0 });
        Assert.AreEqual((string)whole["choices"]![0]!["text"]!, streamed);
        Assert.IsTrue(chunks.Count > 100, "one chunk per token, not one at the end");
    }

    /// <summary>Stops that start inside a token, span several tokens, or are one character, in both modes.</summary>
    [TestMethod]
    [DataRow("ttle gi")]
    [DataRow("girl named Li")]
    [DataRow(",")]
    [DataRow("park. One")]
    public async Task StopSequence_AcrossTokenBoundaries_IsNeverEmitted(string stop)
    {
        string expected = Oracle.Continuation[..Oracle.Continuation.IndexOf(stop, StringComparison.Ordinal)];
        JsonNode whole = await s_server.PostOkAsync("v1/completions", new { prompt = Oracle.Prompt, max_tokens = 100, temperature = 0, stop = new[] { "never appears", stop } });
        Assert.AreEqual(expected, (string)whole["choices"]![0]!["text"]!);
        Assert.AreEqual("stop", (string)whole["choices"]![0]!["finish_reason"]!);

        List<string> events = await s_server.StreamAsync("v1/completions", new { prompt = Oracle.Prompt, max_tokens = 100, temperature = 0, stop, stream = true });
        string streamed = string.Concat(events.SkipLast(1).Select(e => (string)JsonNode.Parse(e)!["choices"]![0]!["text"]!));
        Assert.AreEqual(expected, streamed);
    }

    [TestMethod]
    public async Task EchoWithMaxTokensZero_ScoresThePromptOnly()
    {
        int[] prompt = [1, .. await TokenizeAsync("Once upon a time, there was")];
        JsonNode r = await s_server.PostOkAsync("v1/completions", new { prompt, max_tokens = 0, echo = true, logprobs = 3 });
        JsonNode lp = r["choices"]![0]!["logprobs"]!;
        Assert.AreEqual(prompt.Length, lp["token_logprobs"]!.AsArray().Count);
        Assert.AreEqual(0, (int)r["usage"]!["completion_tokens"]!);
        Assert.AreEqual("Once upon a time, there was", (string)r["choices"]![0]!["text"]!);
        int[] offsets = lp["text_offset"]!.AsArray().Select(o => (int)o!).ToArray();
        string[] tokens = lp["tokens"]!.AsArray().Select(t => (string)t!).ToArray();
        Assert.AreEqual("<s>", tokens[0]);
        // Each token's text sits at its offset in the echoed text (the first word without its SentencePiece space).
        string text = (string)r["choices"]![0]!["text"]!;
        for (int i = 2; i < tokens.Length; i++) Assert.AreEqual(tokens[i], text[offsets[i]..(offsets[i] + tokens[i].Length)]);
        Assert.IsTrue(lp["top_logprobs"]!.AsArray().Skip(1).All(t => t!.AsObject().Count is >= 3 and <= 4));
    }

    [TestMethod]
    public async Task FourChoicesAfterOneContext_EvaluateTheContextOnce()
    {
        string context = Oracle.Text[..400];
        int[] ctx = await TokenizeAsync(context);
        string[] continuations = [" Lily", " the dog", " a big red ball", " Tom"];
        var prompts = new List<int[]>();
        foreach (string c in continuations) prompts.Add(await TokenizeAsync(context + c));
        Dictionary<string, double> before = await s_server.MetricsAsync();

        JsonNode r = await s_server.PostOkAsync("v1/completions", new { prompt = prompts, max_tokens = 1, echo = true, logprobs = 1, temperature = 0 });

        Dictionary<string, double> after = await s_server.MetricsAsync();
        double evaluated = after["mlxbench_prompt_tokens_evaluated_total"] - before["mlxbench_prompt_tokens_evaluated_total"];
        int total = prompts.Sum(p => p.Length);
        int distinct = ctx.Length + prompts.Sum(p => p.Length - ctx.Length);
        Assert.IsTrue(evaluated <= distinct + 4 * 2, $"evaluated {evaluated} prompt tokens for {total} sent; {distinct} are distinct");
        Assert.IsTrue((int)r["usage"]!["prompt_tokens_details"]!["cached_tokens"]! >= 3 * (ctx.Length - 2));

        // Reuse must not change a single value.
        EngineModel model = s_server.Host.Model;
        foreach (JsonNode? choice in r["choices"]!.AsArray())
        {
            int[] prompt = prompts[(int)choice!["index"]!];
            EngineReference.Position[] engine = EngineReference.Score(model, prompt);
            JsonArray served = choice["logprobs"]!["token_logprobs"]!.AsArray();
            for (int p = 1; p < prompt.Length; p++) Assert.AreEqual(engine[p].Logprob, (float)(double)served[p]!, 0f, $"position {p}");
        }
    }

    /// <summary>lm-eval's multiple-choice request, all choices in one list: the scheduler computes the shared prefix
    /// once (one step), then every choice forks it and their continuations are decoded together (one more step); no
    /// position is evaluated twice, and every value is the engine's own.</summary>
    [TestMethod]
    [DataRow(4, 2, DisplayName = "4 choices, 4 slots")]
    [DataRow(6, 3, DisplayName = "6 choices, 4 slots")]
    public async Task ChoicesOfOneRequest_ForkTheSharedPrefix_AndDecodeTogether(int choices, int expectedSteps)
    {
        // A context no earlier request has cached beyond its first token or two (a random hex string can start like an
        // earlier one), so the counts below are this request's own once that reuse is taken out.
        string context = $"{Guid.NewGuid():N} Question: which of these did Lily find in the box?\nAnswer:";
        string[] continuations = [" a red ball", " the dog", " a big cake with candles", " Tom", " some water", " a little bird"];
        var prompts = new List<int[]>();
        foreach (string c in continuations.Take(choices)) prompts.Add(await TokenizeAsync(context + c));
        int shared = prompts.Skip(1).Aggregate(prompts[0].Length, (l, p) => Math.Min(l, prompts[0].AsSpan().CommonPrefixLength(p)));
        Dictionary<string, double> before = await s_server.MetricsAsync();

        JsonNode r = await s_server.PostOkAsync("v1/completions", new { prompt = prompts, max_tokens = 1, echo = true, logprobs = 1, temperature = 0 });

        Dictionary<string, double> after = await s_server.MetricsAsync();
        double Delta(string name) => after[name] - before[name];
        int distinct = shared + prompts.Sum(p => p.Length - shared);
        // Every member but the first gets the prefix without computing it; anything cached beyond that came from
        // earlier requests' slots, for the first member.
        int fromEarlierRequests = (int)r["usage"]!["prompt_tokens_details"]!["cached_tokens"]! - (choices - 1) * shared;
        Assert.IsTrue(fromEarlierRequests is >= 0 and <= 2, $"{fromEarlierRequests} positions reused from earlier requests");
        Assert.AreEqual(distinct - fromEarlierRequests, Delta("mlxbench_prompt_tokens_evaluated_total"), $"the {shared}-token prefix once, then each choice's own tokens");
        Assert.AreEqual(expectedSteps, Delta("mlxbench_decode_steps_total"), "the prefix, then the continuations (as many at a time as there are slots)");
        EngineModel model = s_server.Host.Model;
        foreach (JsonNode? choice in r["choices"]!.AsArray())
        {
            int[] prompt = prompts[(int)choice!["index"]!];
            EngineReference.Position[] engine = EngineReference.Score(model, prompt);
            JsonArray served = choice["logprobs"]!["token_logprobs"]!.AsArray();
            JsonArray top = choice["logprobs"]!["top_logprobs"]!.AsArray();
            Assert.AreEqual(prompt.Length + 1, served.Count, "prompt + the generated token");
            for (int p = 1; p < prompt.Length; p++)
            {
                Assert.AreEqual(engine[p].Logprob, (float)(double)served[p]!, 0f, $"choice {choice["index"]} position {p}");
                Assert.AreEqual(engine[p].TopLogprob, (float)(double)top[p]![model.DisplayText(engine[p].TopToken)]!, 0f, $"choice {choice["index"]} position {p}: top-1");
            }
        }
    }

    /// <summary>The evaluator's extension <c>echo_logprobs_from</c> (ctxlen): the context's positions are null and
    /// their rows get no logits (fewer rows scored than a full echo of the same shape), every other value is the
    /// engine's, and the response keeps its shape (tokens and offsets for every position).</summary>
    [TestMethod]
    [DataRow(false, DisplayName = "one position for all prompts")]
    [DataRow(true, DisplayName = "a position per prompt")]
    public async Task EchoLogprobsFrom_LeavesTheContextOut_AndKeepsEveryOtherValue(bool perPrompt)
    {
        string context = $"{Guid.NewGuid():N} Question: which of these did Lily find in the box?\nAnswer:";
        int ctxlen = (await TokenizeAsync(context)).Length;
        string[] continuations = [" a red ball", " a big cake", " the dog", " Tom"];
        var prompts = new List<int[]>();
        foreach (string c in continuations) prompts.Add(await TokenizeAsync(context + c));
        object from = perPrompt ? prompts.Select(_ => ctxlen).ToArray() : ctxlen;
        Dictionary<string, double> before = await s_server.MetricsAsync();

        JsonNode r = await s_server.PostOkAsync("v1/completions", new { prompt = prompts, max_tokens = 1, echo = true, logprobs = 1, temperature = 0, echo_logprobs_from = from });

        Dictionary<string, double> after = await s_server.MetricsAsync();
        double scored = after["mlxbench_scored_rows_total"] - before["mlxbench_scored_rows_total"];
        Assert.IsTrue(scored <= prompts.Sum(p => p.Length - ctxlen), $"{scored} rows scored; only the continuations' are read");
        EngineModel model = s_server.Host.Model;
        foreach (JsonNode? choice in r["choices"]!.AsArray())
        {
            int[] prompt = prompts[(int)choice!["index"]!];
            EngineReference.Position[] engine = EngineReference.Score(model, prompt);
            JsonNode logprobs = choice["logprobs"]!;
            JsonArray served = logprobs["token_logprobs"]!.AsArray(), top = logprobs["top_logprobs"]!.AsArray();
            Assert.AreEqual(prompt.Length + 1, served.Count, "prompt + the generated token");
            Assert.AreEqual(prompt.Length + 1, logprobs["tokens"]!.AsArray().Count);
            Assert.AreEqual(prompt.Length + 1, logprobs["text_offset"]!.AsArray().Count);
            for (int p = 0; p < prompt.Length; p++)
                if (p < ctxlen)
                {
                    Assert.IsNull(served[p], $"position {p} is the context's");
                    Assert.IsNull(top[p], $"position {p} is the context's");
                }
                else
                {
                    Assert.AreEqual(engine[p].Logprob, (float)(double)served[p]!, 0f, $"choice {choice["index"]} position {p}");
                    Assert.AreEqual(engine[p].TopLogprob, (float)(double)top[p]![model.DisplayText(engine[p].TopToken)]!, 0f, $"choice {choice["index"]} position {p}: top-1");
                }
            Assert.IsNotNull(served[prompt.Length], "the generated token's log-probability");
        }
    }

    [TestMethod]
    public async Task EchoLogprobsFrom_WithOnePositionTooFewOrNegative_IsABadRequest()
    {
        int[] a = await TokenizeAsync("Once upon a time"), b = await TokenizeAsync("The dog");
        foreach (object from in new object[] { new[] { 2 }, -1, new[] { 1, -3 } })
        {
            (int status, JsonNode? body) = await s_server.PostAsync("v1/completions", System.Text.Json.JsonSerializer.Serialize(
                new { prompt = new[] { a, b }, max_tokens = 1, echo = true, logprobs = 1, echo_logprobs_from = from }));
            Assert.AreEqual(400, status, body?.ToJsonString());
            StringAssert.Contains(body!.ToJsonString(), "echo_logprobs_from");
        }
    }

    /// <summary>Several multiple-choice documents at once, with plain generations among them: groups reserve slots, and
    /// none of that may stall anyone or change a value.</summary>
    [TestMethod]
    public async Task ManyChoiceRequestsAndGenerations_AtOnce_AllFinish_WithTheEnginesValues()
    {
        string[] contexts = Enumerable.Range(0, 6).Select(i => $"{Guid.NewGuid():N} Question: what did the {i} cats see?\nAnswer:").ToArray();
        string[] continuations = [" a dog", " the sun", " a tree", " Lily"];
        var docs = new List<List<int[]>>();
        foreach (string c in contexts)
        {
            var prompts = new List<int[]>();
            foreach (string k in continuations) prompts.Add(await TokenizeAsync(c + k));
            docs.Add(prompts);
        }
        Task<JsonNode>[] scoring = docs.Select(d => s_server.PostOkAsync("v1/completions", new { prompt = d, max_tokens = 1, echo = true, logprobs = 1, temperature = 0 })).ToArray();
        Task<JsonNode>[] generating = Enumerable.Range(0, 3).Select(i => s_server.PostOkAsync("v1/completions", new { prompt = $"Once upon a time {i}", max_tokens = 24, temperature = 0 })).ToArray();
        await Task.WhenAll(scoring.Concat(generating)).WaitAsync(TimeSpan.FromSeconds(60));

        EngineModel model = s_server.Host.Model;
        for (int d = 0; d < docs.Count; d++)
            foreach (JsonNode? choice in (await scoring[d])["choices"]!.AsArray())
            {
                int[] prompt = docs[d][(int)choice!["index"]!];
                EngineReference.Position[] engine = EngineReference.Score(model, prompt);
                JsonArray served = choice["logprobs"]!["token_logprobs"]!.AsArray();
                for (int p = 1; p < prompt.Length; p++) Assert.AreEqual(engine[p].Logprob, (float)(double)served[p]!, 0f, $"doc {d} choice {choice["index"]} position {p}");
            }
        foreach (Task<JsonNode> g in generating) Assert.AreEqual(24, (int)(await g)["usage"]!["completion_tokens"]!);
    }

    [TestMethod]
    public async Task ConcurrentRequests_AreBatchedIntoSharedDecodeSteps_AndKeepTheirGreedyText()
    {
        Dictionary<string, double> before = await s_server.MetricsAsync();
        string[] prompts = ["Once upon a time", "The dog", "Lily and Tom", "One day"];
        string[] alone = new string[prompts.Length];
        for (int i = 0; i < prompts.Length; i++)
            alone[i] = (string)(await s_server.PostOkAsync("v1/completions", new { prompt = prompts[i], max_tokens = 64, temperature = 0 }))["choices"]![0]!["text"]!;

        JsonNode[] together = await Task.WhenAll(prompts.Select(p => s_server.PostOkAsync("v1/completions", new { prompt = p, max_tokens = 64, temperature = 0 })));

        for (int i = 0; i < prompts.Length; i++) Assert.AreEqual(alone[i], (string)together[i]["choices"]![0]!["text"]!, prompts[i]);
        Dictionary<string, double> after = await s_server.MetricsAsync();
        Assert.IsTrue(after["mlxbench_batch_sequences_max"] >= 2, "concurrent sequences shared decode steps");
        Assert.IsTrue(after["mlxbench_decode_steps_total"] - before["mlxbench_decode_steps_total"] < 4 * 64 + 4 * 65, "fewer steps than running them one by one");
    }

    [TestMethod]
    public async Task StreamingSeveralPromptsAndChoices_InterleavesChunksByIndex_WithEachChoicesOwnText()
    {
        string[] prompts = ["Once upon a time", "The cat"];
        var expected = new List<string>();
        foreach (string p in prompts)
            expected.Add((string)(await s_server.PostOkAsync("v1/completions", new { prompt = p, max_tokens = 20, temperature = 0 }))["choices"]![0]!["text"]!);

        List<string> events = await s_server.StreamAsync("v1/completions", new { prompt = prompts, n = 2, max_tokens = 20, temperature = 0, stream = true, stream_options = new { include_usage = true } });

        var texts = new string[4];
        var finished = new bool[4];
        foreach (JsonNode chunk in events.SkipLast(1).Select(e => JsonNode.Parse(e)!))
            foreach (JsonNode? c in chunk["choices"]!.AsArray())
            {
                int i = (int)c!["index"]!;
                texts[i] += (string)c["text"]!;
                finished[i] |= c["finish_reason"] is not null;
            }
        for (int i = 0; i < 4; i++) Assert.AreEqual(expected[i / 2], texts[i], $"choice {i} (prompt {i / 2}, choice {i % 2})");
        Assert.IsTrue(finished.All(f => f));
        Assert.AreEqual(80, (int)JsonNode.Parse(events[^2])!["usage"]!["completion_tokens"]!);
    }

    [TestMethod]
    public async Task NChoices_WithSeed_AreReproducible()
    {
        var payload = new { prompt = Oracle.Prompt, max_tokens = 24, temperature = 1.0, top_p = 0.9, seed = 7, n = 3 };
        JsonNode a = await s_server.PostOkAsync("v1/completions", payload);
        JsonNode b = await s_server.PostOkAsync("v1/completions", payload);
        string[] texts = a["choices"]!.AsArray().Select(c => (string)c!["text"]!).ToArray();
        Assert.AreEqual(3, texts.Length);
        CollectionAssert.AreEqual(texts, b["choices"]!.AsArray().Select(c => (string)c!["text"]!).ToArray());
        Assert.IsTrue(texts.Distinct().Count() > 1, "different seeds per choice give different samples");
        Assert.AreEqual(72, (int)a["usage"]!["completion_tokens"]!);

        // The choices share their prompt: it is evaluated once, and each other choice re-evaluates only its last token.
        string fresh = $"{Guid.NewGuid():N}: once upon a time, Tom said";
        int length = (int)(await s_server.PostOkAsync("tokenize", new { prompt = fresh }))["count"]!;
        Dictionary<string, double> before = await s_server.MetricsAsync();
        await s_server.PostOkAsync("v1/completions", new { prompt = fresh, max_tokens = 4, temperature = 1.0, seed = 7, n = 3 });
        Dictionary<string, double> after = await s_server.MetricsAsync();
        double evaluated = after["mlxbench_prompt_tokens_evaluated_total"] - before["mlxbench_prompt_tokens_evaluated_total"];
        Assert.IsTrue(evaluated <= length + 2, $"{evaluated} prompt tokens evaluated for 3 choices of a {length}-token prompt");
    }
}
