using MlxBench.Server.Scheduling;

namespace MlxBench.Server.Tests;

/// <summary>Streamed jobs through the scheduler itself: who hands their events on, and in what order.</summary>
[TestClass]
public sealed class SchedulerStreamTests
{
    private static TestServer s_server = null!;

    [ClassInitialize]
    public static async Task StartAsync(TestContext _) => s_server = await TestServer.StartAsync();

    [ClassCleanup]
    public static async Task StopAsync() => await s_server.DisposeAsync();

    /// <summary>
    /// A streamed job's reader runs inline where its events are written (so a token's SSE chunk goes out at once);
    /// that must be the stream relay's thread, never the engine thread, which meanwhile decodes the next step. Every
    /// event arrives in order, the finish last, then the channel completes.
    /// </summary>
    [TestMethod]
    public async Task StreamedEvents_AreHandedOnByTheRelayThread_InOrder()
    {
        const int Tokens = 24;
        var job = new SequenceJob
        {
            Prompt = s_server.Host.Model.Tokenize("Once upon a time", s_server.Host.Model.AddBos, parseSpecial: false),
            MaxTokens = Tokens,
            IgnoreEos = true,
            Stream = true,
        };
        var threads = new List<string?>();
        var events = new List<SequenceEvent>();
        // Started before the job is submitted: the reader is already waiting, so the first event's continuation runs
        // on whichever thread writes it.
        Task reading = Task.Run(async () =>
        {
            await foreach (SequenceEvent e in job.Events.ReadAllAsync())
            {
                threads.Add(Thread.CurrentThread.Name);
                events.Add(e);
            }
        });
        await Task.Delay(50);
        s_server.Host.Scheduler.Submit(job);
        await reading.WaitAsync(TimeSpan.FromMinutes(1));

        CollectionAssert.DoesNotContain(threads, "mlxbench-engine", string.Join(", ", threads));
        Assert.AreEqual("mlxbench-stream-relay", threads[0], string.Join(", ", threads));
        Assert.AreEqual(Tokens, events.Count);
        Assert.IsTrue(events.Take(Tokens - 1).All(e => e is TokenGenerated), string.Join(", ", events));
        Assert.IsInstanceOfType<SequenceFinished>(events[^1]);
        Assert.AreEqual(Tokens, ((SequenceFinished)events[^1]).CompletionTokens);
    }
}
