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
    public static async Task StartAsync(TestContext _) => s_server = await TestServer.StartAsync();

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

        // A long prompt keeps the engine busy in one step while the rest arrive, so they are admitted together.
        var busy = Job(Tokens(unique + string.Concat(Enumerable.Repeat(" the big red dog ran to the park", 30))), 200);
        scheduler.Submit(busy);
        await Task.Delay(5);
        int[] story = Tokens(unique + " Once upon a time, there was a little girl named Lily who liked to play");
        var running = Job(story, 300);
        var deferred = Job([.. story, .. Tokens(" outside")[1..]], 4);   // waits for running's prefix
        SequenceJob[] choices = [.. new[] { " a dog", " the sun", " a tree", " Tom" }.Select(c => Job(Tokens(unique + " Question: what did Lily see?\nAnswer:" + c), 1, score: true))];
        scheduler.Submit(running);
        scheduler.Submit(deferred);
        scheduler.Submit(choices);

        Task<int> longOne = TokensOf(running), busyOne = TokensOf(busy);
        await Task.WhenAll(choices.Select(TokensOf)).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.IsFalse(longOne.IsCompleted || busyOne.IsCompleted, "the choices finished while the long generations still hold their slots");
        Assert.AreEqual(4, await TokensOf(deferred).WaitAsync(TimeSpan.FromSeconds(60)));
        Assert.AreEqual(300, await longOne.WaitAsync(TimeSpan.FromSeconds(60)));
        Assert.IsTrue(await busyOne.WaitAsync(TimeSpan.FromSeconds(60)) > 0);
    }
}
