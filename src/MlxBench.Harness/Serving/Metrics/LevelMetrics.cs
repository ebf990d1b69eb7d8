using System.Diagnostics;
using MlxBench.Harness.Serving.Client;
using MlxBench.Harness.Serving.Load;

namespace MlxBench.Harness.Serving.Metrics;

/// <summary>One latency metric: its vLLM key part (<c>ttft</c> → <c>mean_ttft_ms</c>), per-request values in seconds, statistics in ms.</summary>
public sealed record LatencyMetric(string Key, IReadOnlyList<double> ValuesSeconds)
{
    public SampleStatistics Ms { get; } = new(ValuesSeconds.Select(v => v * 1000));
}

/// <summary>
/// A level's metrics exactly as vLLM's <c>calculate_metrics</c> defines them (successful requests only): TTFT at the
/// first choice-bearing message, TPOT = (E2EL − TTFT)/(output − 1) for output &gt; 1, ITL = every gap between
/// messages pooled, E2EL at the last choice-bearing message; usage counts first; throughputs over the whole level's
/// duration; goodput by ≤ on each SLO (TPOT 0 for single-token outputs); peak output per 1-s bin (messages, not
/// tokens); peak concurrency by sweep line. Plus what vLLM lacks: client vs server token counts, send lag against the
/// schedule, per-second timelines.
/// </summary>
public sealed class LevelMetrics
{
    private static readonly double s_tick = 1.0 / Stopwatch.Frequency;

    public LevelMetrics(LevelRun run, GoodputSlo goodput)
    {
        Run = run;
        RequestRecord[] all = run.Records;
        RequestRecord[] ok = all.Where(r => r.Success).ToArray();
        Completed = ok.Length;
        Failed = all.Length - ok.Length;
        Duration = run.DurationSeconds;
        TotalInputTokens = ok.Sum(r => (long)r.PromptTokens);
        TotalOutputTokens = ok.Sum(r => (long)r.OutputTokens);

        var ttft = new List<double>();
        var tpot = new List<double>();
        var allTpot = new List<double>();
        var itl = new List<double>();
        var e2el = new List<double>();
        foreach (RequestRecord r in ok)
        {
            double first = Seconds(r.FirstChunkTicks - r.StartTicks);
            double latency = Seconds(r.LastChunkTicks - r.StartTicks);
            ttft.Add(first);
            e2el.Add(latency);
            double requestTpot = 0;
            if (r.OutputTokens > 1)
            {
                requestTpot = (latency - first) / (r.OutputTokens - 1);
                tpot.Add(requestTpot);
            }
            allTpot.Add(requestTpot);
            ReadOnlySpan<long> chunks = r.ChunkTicks;
            for (int i = 1; i < chunks.Length; i++) itl.Add(Seconds(chunks[i] - chunks[i - 1]));
        }
        Ttft = new LatencyMetric("ttft", ttft);
        Tpot = new LatencyMetric("tpot", tpot);
        Itl = new LatencyMetric("itl", itl);
        E2el = new LatencyMetric("e2el", e2el);
        ClientQueueTime = new LatencyMetric("client_queue_time", ok.Select(r => Seconds(r.StartTicks - r.DispatchedTicks)).ToArray());
        E2elIncludingClientQueue = new LatencyMetric("e2el_including_client_queue",
            ok.Select(r => Seconds(r.LastChunkTicks - r.StartTicks) + Seconds(r.StartTicks - r.DispatchedTicks)).ToArray());
        SendLag = new LatencyMetric("send_lag", all.Select(r => Seconds(r.StartTicks - r.IntendedTicks)).ToArray());
        DispatchLag = new SampleStatistics(all.Select(r => Seconds(r.DispatchedTicks - r.IntendedTicks) * 1000));

        if (goodput.IsSet)
        {
            int good = 0;
            for (int i = 0; i < ok.Length; i++)
                if ((goodput.TtftMs is not { } t || ttft[i] <= t / 1000) && (goodput.TpotMs is not { } p || allTpot[i] <= p / 1000)
                    && (goodput.E2elMs is not { } e || e2el[i] <= e / 1000))
                    good++;
            RequestGoodput = good / Duration;
        }

        (MaxOutputTokensPerSecond, MaxConcurrentRequests) = Peaks(ok);
        Timeline = new LevelTimeline(run);

        UsageMissing = ok.Count(r => r.UsageCompletionTokens is null);
        ClientInputTokens = ok.Where(r => r.PromptTokensClient >= 0).Sum(r => (long)r.PromptTokensClient);
        ServerInputTokens = ok.Where(r => r.PromptTokensClient >= 0).Sum(r => (long)(r.UsagePromptTokens ?? r.PromptTokensClient));
        ClientOutputTokens = ok.Where(r => r.UsageCompletionTokens is not null).Sum(r => (long)r.TokenChunks);
        ServerOutputTokens = ok.Where(r => r.UsageCompletionTokens is not null).Sum(r => (long)r.UsageCompletionTokens!.Value);
        UsageMismatches = ok.Count(r =>
            (r.UsagePromptTokens is { } p && r.PromptTokensClient >= 0 && p != r.PromptTokensClient)
            || r.UsageContradictsMessages);
    }

    public LevelRun Run { get; }
    public int Completed { get; }
    public int Failed { get; }
    public double Duration { get; }
    public long TotalInputTokens { get; }
    public long TotalOutputTokens { get; }
    public double RequestThroughput => Completed / Duration;
    public double OutputThroughput => TotalOutputTokens / Duration;
    public double TotalTokenThroughput => (TotalInputTokens + TotalOutputTokens) / Duration;
    /// <summary>Good requests per second, or null when no SLO is set (vLLM writes null).</summary>
    public double? RequestGoodput { get; }
    public double MaxOutputTokensPerSecond { get; }
    public int MaxConcurrentRequests { get; }

    public LatencyMetric Ttft { get; }
    public LatencyMetric Tpot { get; }
    public LatencyMetric Itl { get; }
    public LatencyMetric E2el { get; }
    /// <summary>Wait for a concurrency slot: start − release by the scheduler (vLLM's definition).</summary>
    public LatencyMetric ClientQueueTime { get; }
    public LatencyMetric E2elIncludingClientQueue { get; }
    /// <summary>Actual minus intended send time, every request (the coordinated-omission view).</summary>
    public LatencyMetric SendLag { get; }
    /// <summary>Scheduler precision alone: release − intended time, in ms.</summary>
    public SampleStatistics DispatchLag { get; }
    public LevelTimeline Timeline { get; }

    public int UsageMissing { get; }
    /// <summary>Requests whose server usage differs from the client's counts (prompt built, token messages received:
    /// see <see cref="RequestRecord.TokenChunks"/>). Multi-token messages (speculative decoding, batched streaming)
    /// make the output side differ legitimately.</summary>
    public int UsageMismatches { get; }
    public long ClientInputTokens { get; }
    public long ServerInputTokens { get; }
    public long ClientOutputTokens { get; }
    public long ServerOutputTokens { get; }

    /// <summary>Requests actually sent per second, first to last send (the schedule's rate when the client keeps up).</summary>
    public double SendRate => Rate(Run.Records.Select(r => r.StartTicks));
    public double IntendedRate => Rate(Run.Records.Select(r => r.IntendedTicks));

    private static double Rate(IEnumerable<long> ticks)
    {
        long[] t = ticks.ToArray();
        if (t.Length < 2) return 0;
        double span = Seconds(t.Max() - t.Min());
        return span > 0 ? (t.Length - 1) / span : double.PositiveInfinity;
    }

    private (double PeakTokens, int PeakConcurrency) Peaks(RequestRecord[] ok)
    {
        if (ok.Length == 0) return (0, 0);
        long minStart = ok.Min(r => r.StartTicks);
        long maxEnd = ok.Max(r => r.LastChunkTicks);
        int buckets = (int)Math.Ceiling(Seconds(maxEnd - minStart)) + 1;
        var perSecond = new double[buckets];
        foreach (RequestRecord r in ok)
            foreach (long t in r.ChunkTicks)
            {
                int bucket = (int)Seconds(t - minStart);
                if (bucket >= 0 && bucket < buckets) perSecond[bucket]++;
            }

        // Half-open [start, start + latency): a departure at the same instant as an arrival goes first.
        var events = new List<(long At, int Delta)>(ok.Length * 2);
        foreach (RequestRecord r in ok)
        {
            events.Add((r.StartTicks, 1));
            events.Add((r.LastChunkTicks, -1));
        }
        events.Sort();
        int current = 0, peak = 0;
        foreach ((_, int delta) in events)
        {
            current += delta;
            peak = Math.Max(peak, current);
        }
        return (perSecond.Max(), peak);
    }

    internal static double Seconds(long ticks) => ticks * s_tick;
}

/// <summary>Per-second counts from the level's start: requests sent, finished and failed, messages received, requests in flight (at the second's end).</summary>
public sealed class LevelTimeline
{
    public LevelTimeline(LevelRun run)
    {
        int seconds = (int)Math.Ceiling(run.DurationSeconds) + 1;
        Sent = new int[seconds];
        Finished = new int[seconds];
        FailedRequests = new int[seconds];
        Messages = new int[seconds];
        InFlight = new int[seconds];
        int Bucket(long ticks) => Math.Clamp((int)LevelMetrics.Seconds(ticks - run.StartTicks), 0, seconds - 1);
        foreach (RequestRecord r in run.Records)
        {
            int sent = Bucket(r.StartTicks), end = Bucket(r.EndTicks);
            Sent[sent]++;
            if (r.Success) Finished[end]++;
            else FailedRequests[end]++;
            foreach (long t in r.ChunkTicks) Messages[Bucket(t)]++;
            for (int s = sent; s < end; s++) InFlight[s]++;
        }
    }

    public int[] Sent { get; }
    public int[] Finished { get; }
    public int[] FailedRequests { get; }
    public int[] Messages { get; }
    public int[] InFlight { get; }
}
