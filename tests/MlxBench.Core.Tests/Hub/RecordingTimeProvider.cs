namespace MlxBench.Core.Tests.Hub;

/// <summary>
/// A clock whose timers fire at once but remember how long they were asked to wait: retry delays (including a
/// server's Retry-After) can be asserted without a test ever sleeping.
/// </summary>
internal sealed class RecordingTimeProvider : TimeProvider
{
    private readonly List<TimeSpan> _delays = [];

    public IReadOnlyList<TimeSpan> Delays
    {
        get { lock (_delays) return _delays.ToArray(); }
    }

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        if (dueTime > TimeSpan.Zero && dueTime != Timeout.InfiniteTimeSpan)
        {
            lock (_delays) _delays.Add(dueTime);
            dueTime = TimeSpan.Zero;
        }
        return base.CreateTimer(callback, state, dueTime, period);
    }
}
