using MlxBench.Harness.Serving;
using MlxBench.Harness.Serving.Client;
using MlxBench.Harness.Serving.Metrics;
using MlxBench.Harness.Serving.Workloads;

namespace MlxBench.Harness.Tests.Serving;

/// <summary>Servers differ: SSE framing, token-id prompts, tokenizer endpoints, ignore_eos, usage. Each difference has a defined outcome.</summary>
[TestClass]
public sealed class ServerCompatibilityTests
{
    [TestMethod]
    [DataRow(SseStyle.Lf)]
    [DataRow(SseStyle.CrLf)]
    [DataRow(SseStyle.NoSpaceAfterColon)]
    [DataRow(SseStyle.MultiLineData)]
    [DataRow(SseStyle.CommentsAndEvents)]
    public async Task EverySseFraming_GivesTheSameMessagesAndUsage(SseStyle style)
    {
        foreach (ServingApi api in new[] { ServingApi.Completions, ServingApi.Chat })
        {
            await using ScriptedServer server = await ScriptedServer.StartAsync(_ => Script.Instant(5), new ServerFeatures { Style = style });
            ServingTestRun run = await ServingTestRun.RunAsync(server, ServingTestRun.Options(requests: 3, outputTokens: 5) with { Api = api });

            LevelMetrics m = run.Levels.Single().Metrics;
            Assert.AreEqual(3, m.Completed, run.Log);
            Assert.AreEqual(15, m.TotalOutputTokens);
            // Chat adds a role-only first message: it counts for TTFT (vLLM's rule) but carries no text.
            Assert.IsTrue(m.Run.Records.All(r => r.ChunkCount == (api == ServingApi.Chat ? 6 : 5) && r.TextChunks == 5), $"{api} {style}");
            Assert.AreEqual(0, m.UsageMismatches);
        }
    }

    /// <summary>One message per token, but not every token has text: a sampled control token decodes to "", and a
    /// stream may end with the last token's message (vLLM) or a finish-only message (llama.cpp). None of that is a
    /// usage mismatch; a server that reports fewer (or more) tokens than its messages carried is.</summary>
    [TestMethod]
    [DataRow(FinishStyle.None)]
    [DataRow(FinishStyle.OnLastToken)]
    [DataRow(FinishStyle.SeparateMessage)]
    public async Task TokensWithoutText_AreCounted_AndOnlyAWrongUsageIsAMismatch(FinishStyle finish)
    {
        foreach (ServingApi api in new[] { ServingApi.Completions, ServingApi.Chat })
            foreach (int usageError in new[] { 0, -1, 1 })
            {
                // Token 2 is empty mid-stream, token 5 (the last) too: an end-of-sequence token on the last message.
                var features = new ServerFeatures { EmptyTokens = [2, 5], Finish = finish, UsageError = usageError };
                await using ScriptedServer server = await ScriptedServer.StartAsync(_ => Script.Instant(6), features);
                ServingTestRun run = await ServingTestRun.RunAsync(server, ServingTestRun.Options(requests: 3, outputTokens: 6) with { Api = api });

                LevelMetrics m = run.Levels.Single().Metrics;
                string what = $"{api}, finish {finish}, usage off by {usageError}";
                Assert.AreEqual(3, m.Completed, run.Log);
                // A message without text but with a finish reason may be a token or only the end: either count is right.
                int certain = finish == FinishStyle.OnLastToken ? 5 : 6;
                int possible = finish == FinishStyle.SeparateMessage ? 7 : 6;
                Assert.IsTrue(m.Run.Records.All(r => r.TextChunks == 4 && r.TokenChunks == certain), what);
                bool contradicts = 6 + usageError < certain || 6 + usageError > possible;
                Assert.AreEqual(contradicts ? 3 : 0, m.UsageMismatches, what);
                Assert.AreEqual(contradicts, run.Log.Contains("MLXB6104", StringComparison.Ordinal), what + ": " + run.Log);
            }
    }

    [TestMethod]
    public async Task HugeEvents_AreReadWhole()
    {
        // 300 KB per message: past aiohttp's 64 KiB buffer and 128 KiB line limit.
        await using ScriptedServer server = await ScriptedServer.StartAsync(_ => Script.Instant(3), new ServerFeatures { PaddingBytes = 300_000 });
        ServingTestRun run = await ServingTestRun.RunAsync(server, ServingTestRun.Options(requests: 2, outputTokens: 3));
        Assert.IsTrue(run.Levels.Single().Metrics.Run.Records.All(r => r.Success && r.ChunkCount == 3), run.Log);
    }

    [TestMethod]
    public async Task ServerRefusingTokenIds_GetsDetokenizedText_WithExactCounts()
    {
        await using ScriptedServer server = await ScriptedServer.StartAsync(_ => Script.Instant(2), new ServerFeatures { AcceptsTokenIds = false });
        ServingTestRun run = await ServingTestRun.RunAsync(server, ServingTestRun.Options(requests: 4, inputTokens: 12));

        StringAssert.Contains(run.Log, "MLXB6101");
        Assert.AreEqual(PromptModes.Detokenized, run.Levels.Single().Description.PromptMode);
        LevelMetrics m = run.Levels.Single().Metrics;
        Assert.AreEqual(48, m.TotalInputTokens);
        Assert.AreEqual(48, m.ClientInputTokens);
        Assert.IsTrue(server.Measured(0, 4).All(s => !s.TokenIdPrompt && s.PromptTokens == 12));
    }

    /// <summary>Chat prompts are text: the server's chat template adds tokens and the text re-encodes to more tokens than
    /// its ids. The harness asks the server's /tokenize (with messages) and cuts the ids until the server counts the
    /// intended input length for the whole request.</summary>
    [TestMethod]
    public async Task ChatPrompts_HitTheIntendedInputLength_AsTheServerCountsIt()
    {
        var features = new ServerFeatures { ChatTemplateTokens = 9, DriftEvery = 3 };
        await using ScriptedServer server = await ScriptedServer.StartAsync(_ => Script.Instant(2), features);
        ServingTestRun run = await ServingTestRun.RunAsync(server, ServingTestRun.Options(requests: 8, inputTokens: 40) with { Api = ServingApi.Chat });

        StringAssert.Contains(run.Log, "chat prompts aligned");
        Assert.AreEqual(PromptModes.Detokenized, run.Levels.Single().Description.PromptMode);
        ServedRequest[] served = server.Measured(0, 8);
        // One id is one or two words here, so a count can be one off when no length hits it exactly.
        Assert.IsTrue(served.All(s => Math.Abs(s.PromptTokens - 40) <= 1), string.Join(", ", served.Select(s => s.PromptTokens)));
        Assert.IsTrue(served.Count(s => s.PromptTokens == 40) >= 4, string.Join(", ", served.Select(s => s.PromptTokens)));
        LevelMetrics m = run.Levels.Single().Metrics;
        Assert.AreEqual(m.ServerInputTokens, m.ClientInputTokens, "the client knows each prompt's count as the server counts it");
        Assert.AreEqual(0, m.UsageMismatches, run.Log);
    }

    [TestMethod]
    public async Task ChatPrompts_OnAServerThatCannotCountMessages_AreSentAsTheyAre_WithAWarning()
    {
        var features = new ServerFeatures { ChatTemplateTokens = 9, TokenizesMessages = false };
        await using ScriptedServer server = await ScriptedServer.StartAsync(_ => Script.Instant(2), features);
        ServingTestRun run = await ServingTestRun.RunAsync(server, ServingTestRun.Options(requests: 3, inputTokens: 20) with { Api = ServingApi.Chat });

        StringAssert.Contains(run.Log, "MLXB6108");
        Assert.IsTrue(server.Measured(0, 3).All(s => s.PromptTokens == 29), "the ids' text as it is, plus the template");
        Assert.AreEqual(3, run.Levels.Single().Metrics.Completed);
    }

    [TestMethod]
    public async Task ServerWithoutTokenizer_GetsWordPrompts_AndSaysLengthsAreApproximate()
    {
        await using ScriptedServer server = await ScriptedServer.StartAsync(_ => Script.Instant(2), new ServerFeatures { HasTokenize = false, HasDetokenize = false });
        ServingTestRun run = await ServingTestRun.RunAsync(server, ServingTestRun.Options(requests: 3, inputTokens: 10));

        StringAssert.Contains(run.Log, "MLXB6102");
        Assert.AreEqual(PromptModes.Words, run.Levels.Single().Description.PromptMode);
        LevelMetrics m = run.Levels.Single().Metrics;
        Assert.AreEqual(30, m.TotalInputTokens, "input counts come from the server's usage");
        Assert.AreEqual(0, m.ClientInputTokens, "the client cannot count word prompts");
        Assert.IsTrue(m.Run.Records.All(r => r.PromptTokensClient == -1));
    }

    [TestMethod]
    public async Task ServerRefusingIgnoreEos_IsMeasuredWithoutIt()
    {
        await using ScriptedServer server = await ScriptedServer.StartAsync(_ => Script.Instant(2), new ServerFeatures { AcceptsIgnoreEos = false });
        ServingTestRun run = await ServingTestRun.RunAsync(server, ServingTestRun.Options(requests: 3));

        StringAssert.Contains(run.Log, "MLXB6103");
        Assert.AreEqual(3, run.Levels.Single().Metrics.Completed);
        Assert.IsTrue(server.Measured(0, 3).All(s => !s.IgnoreEos && s.TokenIdPrompt));
    }

    [TestMethod]
    public async Task ServerWithoutUsage_CountsTextMessages_AndWarns()
    {
        await using ScriptedServer server = await ScriptedServer.StartAsync(_ => Script.Instant(3), new ServerFeatures { SendsUsage = false });
        ServingTestRun run = await ServingTestRun.RunAsync(server, ServingTestRun.Options(requests: 2, inputTokens: 7, outputTokens: 3));

        StringAssert.Contains(run.Log, "MLXB6105");
        LevelMetrics m = run.Levels.Single().Metrics;
        Assert.AreEqual(6, m.TotalOutputTokens);
        Assert.AreEqual(14, m.TotalInputTokens, "the client's own count of its token-id prompts");
    }

    [TestMethod]
    public async Task JsonlDataset_SendsTheUsersPrompts_InFileOrder()
    {
        using var temp = new MlxBench.Testing.TempDirectory();
        string path = temp.Write("prompts.jsonl", """
            {"prompt": "one two three", "output_tokens": 2}

            {"prompt": [5, 6, 7, 8]}
            """);
        await using ScriptedServer server = await ScriptedServer.StartAsync(_ => Script.Instant(1));
        ServingTestRun run = await ServingTestRun.RunAsync(server, ServingTestRun.Options(requests: 3) with { Dataset = DatasetKind.Jsonl, DatasetPath = path });

        Assert.AreEqual(PromptModes.Dataset, run.Levels.Single().Description.PromptMode);
        ServedRequest[] served = server.Measured(0, 3);
        CollectionAssert.AreEqual(new[] { false, true, false }, served.Select(s => s.TokenIdPrompt).ToArray());
        // "one two three" counted by the server's /tokenize (which adds a BOS) and by its usage (which does not).
        RequestRecord[] records = run.Levels.Single().Metrics.Run.Records;
        CollectionAssert.AreEqual(new[] { 4, 4, 4 }, new[] { records[0].PromptTokensClient, records[1].PromptTokensClient, records[2].PromptTokensClient });
        StringAssert.Contains(run.Log, "MLXB6104", "the BOS difference is reported as a mismatch");
    }
}
