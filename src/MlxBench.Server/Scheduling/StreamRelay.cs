using System.Collections.Concurrent;
using System.Diagnostics;

namespace MlxBench.Server.Scheduling;

/// <summary>
/// Hands streamed jobs' events to their clients from a thread of its own, so the engine thread starts the next decode
/// while the last step's tokens are being sent. A streamed job's channel runs its reader (the SSE writer) inline, and
/// Kestrel sends inline, so whoever writes to the channel formats the chunk and makes the socket call: ~0.25 ms per
/// token on the 2-vCPU Xeon, 2 ms of every 8-stream step (30 ms) when the engine thread did it itself. One thread for
/// all jobs keeps each job's events in order (and its completion after them); it never waits for a client (a flush
/// that cannot complete at once moves that writer to the thread pool). Non-streamed jobs' channels are written at once:
/// their readers run on the thread pool anyway.
/// </summary>
internal sealed class StreamRelay : IDisposable
{
    private readonly ConcurrentQueue<(SequenceJob Job, SequenceEvent? Event)> _queue = new();
    private readonly SemaphoreSlim _wake = new(0);
    private readonly Thread _thread;
    private volatile bool _stopping;
    private int _signalled;
    private long _busyTicks;

    public StreamRelay()
    {
        _thread = new Thread(Run) { IsBackground = true, Name = "mlxbench-stream-relay" };
        _thread.Start();
    }

    /// <summary>Seconds the relay thread spent writing events (formatting and sending the streamed chunks).</summary>
    public double BusySeconds => Interlocked.Read(ref _busyTicks) / (double)Stopwatch.Frequency;

    /// <summary>Queues an event; a streamed job's is sent at the next <see cref="Flush"/>. Engine thread only.</summary>
    public void Write(SequenceJob job, SequenceEvent e)
    {
        if (job.Stream) _queue.Enqueue((job, e));
        else job.Channel.Writer.TryWrite(e);
    }

    /// <summary>Ends the job's events, after every event queued before. Engine thread only.</summary>
    public void Complete(SequenceJob job)
    {
        job.WakeOnCancel.Dispose();
        if (job.Stream) _queue.Enqueue((job, null));
        else job.Channel.Writer.TryComplete();
    }

    /// <summary>Wakes the relay thread when something is queued: once per step, after the step's events.</summary>
    public void Flush()
    {
        if (!_queue.IsEmpty && Interlocked.Exchange(ref _signalled, 1) == 0) _wake.Release();
    }

    /// <summary>Sends what is queued, then stops the thread.</summary>
    public void Dispose()
    {
        if (_stopping) return;
        _stopping = true;
        _wake.Release();
        _thread.Join();
    }

    private void Run()
    {
        while (true)
        {
            _wake.Wait();
            // Reset before draining: an event queued after this point either is drained below or signals again.
            Volatile.Write(ref _signalled, 0);
            long start = Stopwatch.GetTimestamp();
            while (_queue.TryDequeue(out (SequenceJob Job, SequenceEvent? Event) item))
            {
                if (item.Event is { } e) item.Job.Channel.Writer.TryWrite(e);
                else item.Job.Channel.Writer.TryComplete();
            }
            Interlocked.Add(ref _busyTicks, Stopwatch.GetTimestamp() - start);
            if (_stopping && _queue.IsEmpty) return;
        }
    }
}
