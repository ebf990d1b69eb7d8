using System.Diagnostics;
using System.Threading.Channels;
using MlxBench.Harness.Serving.Client;

namespace MlxBench.Harness.Serving.Load;

/// <summary>Counts finished requests while a level runs, for progress lines; read from another thread.</summary>
public sealed class LevelProgress(int total)
{
    private int _completed;
    private int _failed;

    public int Total { get; } = total;
    public int Completed => Volatile.Read(ref _completed);
    public int Failed => Volatile.Read(ref _failed);

    internal void Finished(RequestRecord record)
    {
        if (!record.Success) Interlocked.Increment(ref _failed);
        Interlocked.Increment(ref _completed);
    }
}

/// <summary>One level's requests as they ran, with the level's clock: <see cref="StartTicks"/> is vLLM's
/// <c>benchmark_start_time</c> (just before dispatch), <see cref="EndTicks"/> the moment the last request finished.</summary>
public sealed record LevelRun(LoadLevel Level, RequestRecord[] Records, long StartTicks, long EndTicks)
{
    public double DurationSeconds => (EndTicks - StartTicks) / (double)Stopwatch.Frequency;

    /// <summary>CPU time this process used while the level ran (client, and any in-process server).</summary>
    public double ClientCpuSeconds { get; init; } = double.NaN;

    /// <summary>Cores' worth of CPU the client used: near the machine's core count, the client may be the limit.</summary>
    public double ClientCpuCores => ClientCpuSeconds / DurationSeconds;
}

/// <summary>
/// Runs one level open-loop. Arrival times are computed before the first request (<see cref="ArrivalSchedule"/>) and
/// held by a dedicated dispatcher thread that waits on absolute <see cref="Stopwatch"/> deadlines (sleeping while far
/// away, yielding in the last ~2 ms), never on relative sleeps, so lateness never accumulates. A concurrency cap is
/// admission, separate from arrival: released requests wait in a FIFO for one of <c>MaxConcurrency</c> workers, and
/// the wait is recorded (vLLM's <c>client_queue_time</c>) instead of delaying the schedule.
/// </summary>
public static class LevelRunner
{
    public static async Task<LevelRun> RunAsync(
        ServingClient client, IReadOnlyList<PreparedRequest> requests, RequestRecord[] records, LoadLevel level,
        double burstiness, int seed, LevelProgress? progress, CancellationToken cancellationToken)
    {
        double[] offsets = ArrivalSchedule.Create(requests.Count, level.RequestRate, burstiness, seed);
        TimeSpan cpuBefore = ProcessCpu();
        var dispatcher = new Dispatcher(records, offsets, double.IsPositiveInfinity(level.RequestRate));
        if (level.MaxConcurrency is { } concurrency)
            await RunCappedAsync(client, requests, records, Math.Min(concurrency, requests.Count), dispatcher, progress, cancellationToken).ConfigureAwait(false);
        else
            await RunUncappedAsync(client, requests, records, dispatcher, progress, cancellationToken).ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
        long end = Stopwatch.GetTimestamp();
        return new LevelRun(level, records, dispatcher.StartTicks, end) { ClientCpuSeconds = (ProcessCpu() - cpuBefore).TotalSeconds };
    }

    private static TimeSpan ProcessCpu()
    {
        using var self = Process.GetCurrentProcess();
        return self.TotalProcessorTime;
    }

    private static async Task RunCappedAsync(ServingClient client, IReadOnlyList<PreparedRequest> requests, RequestRecord[] records,
        int workers, Dispatcher dispatcher, LevelProgress? progress, CancellationToken cancellationToken)
    {
        var queue = Channel.CreateUnbounded<int>(new UnboundedChannelOptions { SingleWriter = true, AllowSynchronousContinuations = false });
        int waiting = 0;
        var allWaiting = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        async Task Worker()
        {
            ChannelReader<int> reader = queue.Reader;
            using var deadline = new RequestDeadline(cancellationToken);
            ValueTask<bool> more = reader.WaitToReadAsync(cancellationToken);
            if (Interlocked.Increment(ref waiting) == workers) allWaiting.TrySetResult();
            while (await more.ConfigureAwait(false))
            {
                while (reader.TryRead(out int i))
                {
                    await client.ExecuteAsync(requests[i], records[i], deadline, cancellationToken).ConfigureAwait(false);
                    progress?.Finished(records[i]);
                }
                more = reader.WaitToReadAsync(cancellationToken);
            }
        }
        Task[] running = Enumerable.Range(0, workers).Select(_ => Task.Run(Worker, cancellationToken)).ToArray();
        // The clock starts only once every worker waits, so no request queues behind a worker still starting up.
        await allWaiting.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await dispatcher.RunAsync(i => queue.Writer.TryWrite(i), cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            queue.Writer.TryComplete();
        }
        await Task.WhenAll(running).ConfigureAwait(false);
    }

    private static async Task RunUncappedAsync(ServingClient client, IReadOnlyList<PreparedRequest> requests, RequestRecord[] records,
        Dispatcher dispatcher, LevelProgress? progress, CancellationToken cancellationToken)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        int remaining = records.Length;
        async Task Run(int i)
        {
            try
            {
                await client.ExecuteAsync(requests[i], records[i], cancellationToken).ConfigureAwait(false);
                progress?.Finished(records[i]);
            }
            finally
            {
                if (Interlocked.Decrement(ref remaining) == 0) done.TrySetResult();
            }
        }
        Func<int, Task> run = Run;
        void Start(int i) => ThreadPool.UnsafeQueueUserWorkItem(static state => _ = state.Run(state.Index), (Run: run, Index: i), preferLocal: false);
        await dispatcher.RunAsync(Start, cancellationToken).ConfigureAwait(false);
        using (cancellationToken.Register(() => done.TrySetCanceled(cancellationToken)))
            await done.Task.ConfigureAwait(false);
    }

    /// <summary>
    /// Releases each request at its intended time and stamps when it actually was released. The level's clock
    /// starts on the thread that dispatches, once it runs, so thread start-up is never charged to the first request.
    /// </summary>
    private sealed class Dispatcher(RequestRecord[] records, double[] offsets, bool allAtOnce)
    {
        public long StartTicks { get; private set; }

        public Task RunAsync(Action<int> release, CancellationToken cancellationToken)
        {
            if (allAtOnce)
            {
                Start();
                for (int i = 0; i < records.Length; i++)
                {
                    records[i].DispatchedTicks = StartTicks;
                    release(i);
                }
                return Task.CompletedTask;
            }
            var finished = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var thread = new Thread(() =>
            {
                try
                {
                    PreciseWait.Until(0, cancellationToken);   // compiled before the clock starts
                    Start();
                    for (int i = 0; i < records.Length && !cancellationToken.IsCancellationRequested; i++)
                    {
                        PreciseWait.Until(records[i].IntendedTicks, cancellationToken);
                        records[i].DispatchedTicks = Stopwatch.GetTimestamp();
                        release(i);
                    }
                    finished.TrySetResult();
                }
                catch (Exception e)
                {
                    finished.TrySetException(e);
                }
            })
            { IsBackground = true, Name = "mlxbench serving dispatcher" };
            thread.Start();
            return finished.Task;
        }

        private void Start()
        {
            StartTicks = Stopwatch.GetTimestamp();
            for (int i = 0; i < records.Length; i++)
                records[i].IntendedTicks = StartTicks + (long)(offsets[i] * Stopwatch.Frequency);
        }
    }
}

/// <summary>
/// Waits for an absolute <see cref="Stopwatch"/> deadline. On Linux, where Stopwatch ticks are CLOCK_MONOTONIC
/// nanoseconds, the thread sleeps in <c>clock_nanosleep(TIMER_ABSTIME)</c> with a 1 µs timer slack until ~20 µs
/// before the deadline, then spins: tens of microseconds of error and almost no CPU, even at thousands of requests
/// per second. Elsewhere it sleeps while the deadline is more than 2 ms away and yields the core in the last 2 ms.
/// Sleeps are capped at 100 ms so cancellation is noticed.
/// </summary>
internal static class PreciseWait
{
    private static readonly long s_ticksPerMs = Stopwatch.Frequency / 1000;
    private static readonly long s_sleepMargin = s_ticksPerMs * 2;
    private static readonly long s_spinTicks = Stopwatch.Frequency / 50_000;          // 20 µs
    private static readonly long s_maxSleep = s_ticksPerMs * 100;
    private static readonly bool s_monotonicNanoseconds = OperatingSystem.IsLinux() && Stopwatch.Frequency == 1_000_000_000;
    [ThreadStatic] private static bool t_slackSet;

    public static void Until(long deadline, CancellationToken cancellationToken)
    {
        if (s_monotonicNanoseconds && !t_slackSet)
        {
            _ = Native.prctl(Native.PR_SET_TIMERSLACK, 1, 0, 0, 0);   // this thread only; harmless if refused
            t_slackSet = true;
        }
        while (true)
        {
            long now = Stopwatch.GetTimestamp();
            long remaining = deadline - now;
            if (remaining <= 0 || cancellationToken.IsCancellationRequested) return;
            if (s_monotonicNanoseconds && remaining > s_spinTicks)
            {
                long wake = Math.Min(deadline - s_spinTicks, now + s_maxSleep);
                var until = new Native.Timespec { Seconds = wake / 1_000_000_000, Nanoseconds = wake % 1_000_000_000 };
                _ = Native.clock_nanosleep(Native.CLOCK_MONOTONIC, Native.TIMER_ABSTIME, ref until, IntPtr.Zero);
            }
            else if (!s_monotonicNanoseconds && remaining > s_sleepMargin)
                Thread.Sleep((int)Math.Min((remaining - s_sleepMargin) / s_ticksPerMs, 100));
            else if (s_monotonicNanoseconds) Thread.SpinWait(20);
            else Thread.Yield();
        }
    }

    private static class Native
    {
        public const int CLOCK_MONOTONIC = 1;
        public const int TIMER_ABSTIME = 1;
        public const int PR_SET_TIMERSLACK = 29;

        [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential)]
        public struct Timespec
        {
            public long Seconds;
            public long Nanoseconds;
        }

        [System.Runtime.InteropServices.DllImport("libc")]
        public static extern int clock_nanosleep(int clock, int flags, ref Timespec request, IntPtr remaining);

        [System.Runtime.InteropServices.DllImport("libc")]
        public static extern int prctl(int option, ulong arg2, ulong arg3, ulong arg4, ulong arg5);
    }
}
