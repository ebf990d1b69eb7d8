using MlxBench.Server.Engine;
using MlxBench.Server.Scheduling;

namespace MlxBench.Server.Tests;

/// <summary>Groups (the jobs of one request sharing a prefix) against other traffic, driven through the scheduler itself
/// so the order in which jobs reach it is known.</summary>
[TestClass]
public sealed class SchedulerGroupTests
{
    private static TestServer s_server = null!;

    [ClassInitialize]
    // A long context, so the generations that must outlast a scoring group can run far longer than it takes.
    public static async Task StartAsync(TestContext _) =>
        s_server = await TestServer.StartAsync(o => o with { Scheduler = o.Scheduler with { ContextSize = 2048 } });

    [ClassCleanup]
    public static async Task StopAsync() => await s_server.DisposeAsync();

    private static SequenceJob Job(int[] prompt, int maxTokens, bool score = false) => new()
    {
        Prompt = prompt,
        MaxTokens = maxTokens,
        ScorePrompt = score,
        Logprobs = score ? 1 : -1,
        IgnoreEos = true,
    };

    private static async Task<int> TokensOf(SequenceJob job)
    {
        int tokens = 0;
        await foreach (SequenceEvent e in job.Events.ReadAllAsync())
            if (e is TokenGenerated or SequenceFinished { Last: not null }) tokens++;
            else if (e is SequenceFailed f) Assert.Fail(f.Message);
        return tokens;
    }

    /// <summary>
    /// A sequence waiting for another's prefix, and no free slot: a group whose leader already holds its reserved
    /// slots must still start its other members there, not wait behind that sequence until a long generation ends.
    /// </summary>
    [TestMethod]
    public async Task GroupMembers_StartInTheirReservedSlots_WhileOthersWaitForAFreeOne()
    {
        EngineModel model = s_server.Host.Model;
        Scheduler scheduler = s_server.Host.Scheduler;
        int[] Tokens(string text) => model.Tokenize(text, model.AddBos, parseSpecial: false);
        string unique = Guid.NewGuid().ToString("N");

        // A long prompt keeps the engine busy in one step while the rest arrive, so they are admitted together. The
        // generations run to near the context's end (2048 positions; ~1800 and ~1950 tokens), so neither a fast engine
        // nor a loaded machine delaying this test thread lets them finish before it looks.
        int end = scheduler.ContextSize - 48;
        int[] busyPrompt = Tokens(unique + string.Concat(Enumerable.Repeat(" the big red dog ran to the park", 12)));
        var busy = Job(busyPrompt, end - busyPrompt.Length);
        scheduler.Submit(busy);
        await Task.Delay(5);
        int[] story = Tokens(unique + " Once upon a time, there was a little girl named Lily who liked to play");
        var running = Job(story, end - story.Length);
        var deferred = Job([.. story, .. Tokens(" outside")[1..]], 4);   // waits for running's prefix
        SequenceJob[] choices = [.. new[] { " a dog", " the sun", " a tree", " Tom" }.Select(c => Job(Tokens(unique + " Question: what did Lily see?\nAnswer:" + c), 1, score: true))];
        scheduler.Submit(running);
        scheduler.Submit(deferred);
        scheduler.Submit(choices);

        Task<int> longOne = TokensOf(running), busyOne = TokensOf(busy);
        await Task.WhenAll(choices.Select(TokensOf)).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.IsFalse(longOne.IsCompleted || busyOne.IsCompleted, "the choices finished while the long generations still hold their slots: "
            + $"long {(longOne.IsCompleted ? longOne.Exception?.InnerException?.Message ?? longOne.Result + " tokens" : "running")}, "
            + $"busy {(busyOne.IsCompleted ? busyOne.Exception?.InnerException?.Message ?? busyOne.Result + " tokens" : "running")}");
        Assert.AreEqual(4, await TokensOf(deferred).WaitAsync(TimeSpan.FromSeconds(60)));
        Assert.AreEqual(end - story.Length, await longOne.WaitAsync(TimeSpan.FromSeconds(60)));
        Assert.IsTrue(await busyOne.WaitAsync(TimeSpan.FromSeconds(60)) > 0);
    }

    /// <summary>
    /// Two documents' choices queued together on 4 slots (lm-eval's ARC shape, the evaluator's batched requests): once
    /// the first group's prefix is computed, the second group's members take the slots the first frees, all in the
    /// next step, instead of one member per step behind later leaders (before: 5-6 steps, now 4). Every position's log-probability and top-1 entry still equal the engine's own,
    /// whichever thread (engine or scoring helper) computed it and however the rows were batched.
    /// </summary>
    [TestMethod]
    public async Task QueuedGroups_DecodeTheirMembersTogether_AndScoreAsTheEngine()
    {
        EngineModel model = s_server.Host.Model;
        Scheduler scheduler = s_server.Host.Scheduler;
        int[] Tokens(string text) => model.Tokenize(text, model.AddBos, parseSpecial: false);
        string unique = Guid.NewGuid().ToString("N");
        string context = " Once upon a time, there was a little girl named Lily. She liked to play in the park with her dog"
            + " and her friend Tom. One day the sun was hot and they sat under a big tree. Question: what did Lily see?\nAnswer:";
        string[] answers = [" a dog", " the sun", " a tree", " Tom"];
        SequenceJob[] Doc(string tag) => [.. answers.Select(c => Job(Tokens(unique + tag + context + c), 1, score: true))];

        long stepsBefore = scheduler.Counters.DecodeSteps;
        // A long prompt to evaluate only (max_tokens 0) keeps the engine in one step while both documents arrive.
        // (Scored, so its step also computes 500 log-softmaxes: several milliseconds in which both documents queue.)
        var busy = Job(Tokens(unique + string.Concat(Enumerable.Repeat(" the big red dog ran to the park", 70)))[..500], 0, score: true);
        scheduler.Submit(busy);
        SequenceJob[] first = Doc(" A"), second = Doc(" B");
        scheduler.Submit(first);
        scheduler.Submit(second);

        foreach (SequenceJob job in (SequenceJob[])[.. first, .. second])
        {
            TokenLogprob?[]? positions = null;
            await foreach (SequenceEvent e in job.Events.ReadAllAsync().WithCancellation(new CancellationTokenSource(TimeSpan.FromSeconds(60)).Token))
                if (e is PromptScored p) positions = p.Positions;
                else if (e is SequenceFailed f) Assert.Fail(f.Message);
            Assert.IsNotNull(positions);
            EngineReference.Position[] expected = EngineReference.Score(model, job.Prompt);
            for (int p = 1; p < job.Prompt.Length; p++)
            {
                Assert.AreEqual(expected[p].Logprob, positions[p]!.Logprob, $"position {p}: log-probability");
                Assert.AreEqual(expected[p].TopToken, positions[p]!.TopTokens[0], $"position {p}: top token");
                Assert.AreEqual(expected[p].TopLogprob, positions[p]!.TopLogprobs[0], $"position {p}: top log-probability");
            }
        }
        await foreach (SequenceEvent _ in busy.Events.ReadAllAsync()) { }
        long steps = scheduler.Counters.DecodeSteps - stepsBefore;
        // The long prompt (1), the first leader (1, or with the long prompt), the first members with the second leader
        // (1), the second members (1). Members staggered behind a later leader's reservations took 5-6.
        Assert.IsTrue(steps <= 4, $"{steps} decode steps for one long prompt and two documents of four choices on 4 slots");
    }
}
