using System.Collections.Concurrent;
using MlxBench.Server.Engine;
using MlxBench.Server.Text;

namespace MlxBench.Server.Scheduling;

/// <summary>Sizes of the engine context the scheduler owns.</summary>
internal sealed record SchedulerOptions
{
    /// <summary>Positions per sequence; 0: min(training context, 4096).</summary>
    public int ContextSize { get; init; }
    /// <summary>Sequences decoded together (KV cache slots).</summary>
    public int Parallel { get; init; } = 4;
    /// <summary>Most tokens in one decode step (all sequences together).</summary>
    public int BatchSize { get; init; } = 512;
    /// <summary>Compute threads; 0: the engine's default (all hardware threads).</summary>
    public int Threads { get; init; }
    /// <summary>Most alternatives a request may ask for per position (vLLM's max_logprobs).</summary>
    public int MaxLogprobs { get; init; } = 20;
}

/// <summary>Counters a test or /metrics reads; updated by the engine thread only.</summary>
internal sealed class SchedulerCounters
{
    public long PromptTokensEvaluated;
    public long PromptTokensReused;
    public long GeneratedTokens;
    public long DecodeSteps;
    public long MaxSequencesPerStep;
    public long DecodeTicks;
    public long StepTicks;
    public long SampleTicks;
    public long EmitTicks;
    public long Completed;
    public long Cancelled;
    public int Running;
    public int Waiting;
}

/// <summary>
/// Continuous batching over the engine's multi-sequence decode. One dedicated thread owns the engine context: every
/// step it admits waiting sequences into free KV slots, then decodes one token for each generating sequence plus a
/// chunk of prompt tokens for sequences still evaluating their prompt, all in one <c>mlxb_decode</c> call.
/// <para>Prefix reuse: a slot keeps its KV cache (and, for scored prompts, each position's log-probabilities) after
/// its sequence ends. A new prompt starts from the longest cached prefix of any slot, in place or copied with
/// <c>mlxb_seq_copy</c>; when a sequence still evaluating its prompt shares a long prefix with a new one (four
/// answer choices after one context), the new one waits until that prefix is computed, then copies it.</para>
/// </summary>
internal sealed unsafe class Scheduler : IDisposable
{
    /// <summary>A waiting prompt waits for a running one only when that saves at least this many tokens.</summary>
    private const int DeferGain = 8;

    private readonly EngineModel _model;
    private readonly nint _context;
    private readonly Slot[] _slots;
    private readonly int _nCtx, _nBatch, _maxLogprobs;
    private readonly ConcurrentQueue<SequenceJob[]> _incoming = new();
    private readonly SemaphoreSlim _wake = new(0);
    private readonly List<Active> _waiting = [];
    private readonly List<Active> _running = [];
    private readonly Thread _thread;
    private readonly StreamRelay _relay = new();
    private volatile bool _stopping;
    private long _tick;

    // Batch arrays, sized n_batch once.
    private readonly int[] _bTokens, _bSeq;
    private readonly sbyte[] _bWant;
    private readonly (Active Job, int PromptIndex)[] _bOwner;
    private readonly ParallelRowScorer _scorer;
    // The step's scored prompt rows: batch row, the token at the next position, alternatives wanted, result.
    private readonly int[] _sRows, _sTokens, _sTops;
    private readonly TokenLogprob?[] _sResults;

    public Scheduler(EngineModel model, SchedulerOptions options)
    {
        _model = model;
        MlxbContextParams parameters = NativeMethods.ContextDefaultParams();
        parameters.NCtx = options.ContextSize;
        parameters.NSeqMax = Math.Max(1, options.Parallel);
        // Every generating sequence gets its token into each step, so a batch holds at least one token per slot.
        parameters.NBatch = Math.Max(Math.Max(1, options.BatchSize), parameters.NSeqMax);
        parameters.NThreads = Math.Max(0, options.Threads);
        nint context;
        EngineException.ThrowIfFailed(NativeMethods.ContextNew(model.Handle, &parameters, &context), "mlxb_context_new");
        _context = context;
        _nCtx = NativeMethods.ContextNCtx(context);
        _nBatch = NativeMethods.ContextNBatch(context);
        Threads = NativeMethods.ContextNThreads(context);
        _maxLogprobs = options.MaxLogprobs;
        _slots = new Slot[NativeMethods.ContextNSeqMax(context)];
        for (int i = 0; i < _slots.Length; i++) _slots[i] = new Slot(i, _nCtx);
        _bTokens = new int[_nBatch];
        _bSeq = new int[_nBatch];
        _bWant = new sbyte[_nBatch];
        _bOwner = new (Active, int)[_nBatch];
        // A helper scores rows beside the engine thread only when the engine's compute threads leave a core free.
        _scorer = new ParallelRowScorer(context, model.VocabSize, _maxLogprobs, useHelper: Environment.ProcessorCount > Threads);
        _sRows = new int[_nBatch];
        _sTokens = new int[_nBatch];
        _sTops = new int[_nBatch];
        _sResults = new TokenLogprob?[_nBatch];
        _thread = new Thread(Run) { IsBackground = true, Name = "mlxbench-engine" };
        _thread.Start();
    }

    public int ContextSize => _nCtx;
    public int Parallel => _slots.Length;
    public int Threads { get; }
    public int MaxLogprobs => _maxLogprobs;
    public SchedulerCounters Counters { get; } = new();
    /// <summary>Seconds the stream relay thread spent sending streamed jobs' events.</summary>
    public double RelaySeconds => _relay.BusySeconds;
    /// <summary>Scored prompt rows in all and by the helper thread beside the engine thread.</summary>
    public (long All, long ByHelper) ScoredRows => (_scorer.RowsScored, _scorer.RowsScoredByHelper);

    /// <summary>Queues a job; its events arrive on <see cref="SequenceJob.Events"/>. Thread-safe.</summary>
    public void Submit(SequenceJob job) => Submit([job]);

    /// <summary>
    /// Queues the jobs of one request (its prompts, times <c>n</c>). When their prompts share a prefix they are
    /// scheduled as a group: the prefix is computed once, then every member forks it and their continuations are
    /// decoded together. Thread-safe.
    /// </summary>
    public void Submit(IReadOnlyList<SequenceJob> jobs)
    {
        ObjectDisposedException.ThrowIf(_stopping, this);
        foreach (SequenceJob job in jobs)
        {
            if (job.Prompt.Length == 0 || job.Prompt.Length > _nCtx || job.Logprobs > _maxLogprobs)
                throw new ArgumentException("the job was not validated against the context size and logprob limit", nameof(jobs));
            if (job.Cancellation.CanBeCanceled) job.WakeOnCancel = job.Cancellation.Register(static s => ((SemaphoreSlim)s!).Release(), _wake);
        }
        _incoming.Enqueue(jobs.ToArray());
        _wake.Release();
    }

    public void Dispose()
    {
        if (_stopping) return;
        _stopping = true;
        _wake.Release();
        _thread.Join();
        _relay.Dispose();
        _scorer.Dispose();
        NativeMethods.ContextFree(_context);
    }

    private void Run()
    {
        while (!_stopping)
        {
            while (_incoming.TryDequeue(out SequenceJob[]? jobs)) Enqueue(jobs);
            DropCancelled();
            Admit();
            Counters.Running = _running.Count;
            Counters.Waiting = _waiting.Count;
            _relay.Flush();
            if (_running.Count == 0)
            {
                _wake.Wait();
                continue;
            }
            try
            {
                long start = System.Diagnostics.Stopwatch.GetTimestamp();
                Step();
                _relay.Flush();
                Counters.StepTicks += System.Diagnostics.Stopwatch.GetTimestamp() - start;
            }
            catch (Exception e)
            {
                // The engine refused the whole batch (or a bug surfaced): fail its sequences, keep serving.
                foreach (Active a in _running.ToArray()) Fail(a, e.Message);
            }
        }
        foreach (Active a in _running.Concat(_waiting).ToArray()) Fail(a, "the server is shutting down");
        while (_incoming.TryDequeue(out SequenceJob[]? jobs))
            foreach (SequenceJob job in jobs) Complete(job);
        _relay.Flush();
    }

    /// <summary>Makes the jobs of one request waiting sequences, grouped when their prompts share a long prefix.</summary>
    private void Enqueue(SequenceJob[] jobs)
    {
        var members = jobs.Select(j => new Active(j, new TextAssembler(j.Stop))).ToList();
        if (members.Count > 1)
        {
            int shared = jobs[0].Prompt.Length;
            foreach (SequenceJob j in jobs.Skip(1)) shared = Math.Min(shared, jobs[0].Prompt.AsSpan().CommonPrefixLength(j.Prompt));
            if (shared >= DeferGain)
            {
                var group = new Group(members, shared);
                foreach (Active m in members)
                {
                    m.Group = group;
                    // The leader's row at the prefix's end scores every member's first own token (ForkEntries).
                    m.Job.ScoreFrom = Math.Min(m.Job.ScoreFrom, shared);
                }
            }
        }
        _waiting.AddRange(members);
    }

    private void DropCancelled()
    {
        for (int i = _waiting.Count - 1; i >= 0; i--)
            if (_waiting[i].Job.Cancellation.IsCancellationRequested)
            {
                Active a = _waiting[i];
                Complete(a.Job);
                _waiting.RemoveAt(i);
                Unwait(a);
                Counters.Cancelled++;
            }
        foreach (Active a in _running.ToArray())
            if (a.Job.Cancellation.IsCancellationRequested)
            {
                Release(a);
                Complete(a.Job);
                Counters.Cancelled++;
            }
    }

    // ---- admission and prefix reuse ----------------------------------------------------------------------------

    private void Admit()
    {
        for (int w = 0; w < _waiting.Count; w++)
        {
            Active a = _waiting[w];
            // Once no slot is free, only members of groups already running (into their reserved slots) can start;
            // they must not wait behind anyone, or their group would hold its reservations forever.
            bool needsFreeSlot = a.Group is not { Leader: not null };
            if (needsFreeSlot && FreeSlot() is null) continue;
            bool admitted = a.Group is { } g ? AdmitGroupMember(a, g) : AdmitAlone(a);
            if (!admitted) continue;
            _waiting.RemoveAt(w--);
            _running.Add(a);
            Unwait(a);
        }
    }

    private bool AdmitAlone(Active a)
    {
        (Slot? source, int reuse) = BestCachedPrefix(a.Job);
        if (ShouldWaitForRunningPrefix(a.Job, reuse)) return false;
        Slot target = source is { Owner: null, ReservedFor: null } ? source : LeastRecentlyUsedFree()!;
        Bind(a, target, source, reuse, null);
        return true;
    }

    /// <summary>
    /// A group's first member to be admitted leads: it reserves as many free slots as the group has members (at least
    /// one, at most what is free) and computes the shared prefix (for scored prompts it evaluates the prefix's last
    /// position itself, whose logits give every member's first own token). The others wait until the prefix is in the
    /// leader's slot, then fork it into the group's reserved slots, so their continuations are decoded together in one
    /// step; members beyond the reserved slots take a slot as soon as a member frees one (in place: it still holds the
    /// prefix). Other requests never take a group's reserved slots, and a group always holds at least one, so every
    /// group progresses.
    /// </summary>
    private bool AdmitGroupMember(Active a, Group g)
    {
        if (g.Leader is null)
        {
            (Slot? source, int reuse) = BestCachedPrefix(a.Job);
            // The leader evaluates position SharedLength - 1: that row scores every member's token at SharedLength.
            if (a.Job.ScorePrompt) reuse = Math.Min(reuse, g.SharedLength - 1);
            Slot target = source is { Owner: null, ReservedFor: null } ? source : LeastRecentlyUsedFree()!;
            g.Reserve(target);
            foreach (Slot s in _slots)
                if (g.Reserved.Count < g.Members.Count && s.Owner is null && s.ReservedFor is null) g.Reserve(s);
            g.Leader = a;
            Bind(a, target, source, reuse, null);
            if (a.PromptPos >= g.SharedLength) g.PrefixReady = true;
            return true;
        }
        if (!g.PrefixReady) return false;
        // A reserved slot, else any free one: a group whose prefix is computed goes first (it is ahead in the waiting
        // list), so its members are decoded together in the next step instead of one per step behind later leaders
        // that would otherwise reserve the slots they free.
        Slot? free = g.Reserved.FirstOrDefault(s => s.Owner is null);
        if (free is null && FreeSlot() is { } unreserved) g.Reserve(free = unreserved);
        if (free is null) return false;
        (Slot? from, int reused) = BestCachedPrefix(a.Job);
        TokenLogprob? fork = null;
        if (g.ForkEntries.TryGetValue(a, out TokenLogprob? entry) && reused < g.SharedLength
            && g.Reserved.FirstOrDefault(s => HoldsScoredPrefix(s, a.Job, g.SharedLength)) is { } holder)
        {
            (from, reused, fork) = (holder, g.SharedLength, entry);
        }
        // In place when the source is one of the group's free slots (it holds the prefix); else a copy into one.
        Bind(a, from is { Owner: null } && from.ReservedFor == g ? from : free, from, reused, fork);
        return true;
    }

    /// <summary>True when <paramref name="slot"/> holds the first <paramref name="length"/> tokens of the job's prompt,
    /// with the log-probabilities it needs recorded for each of them.</summary>
    private static bool HoldsScoredPrefix(Slot slot, SequenceJob job, int length)
    {
        if (slot.Length < length || !job.Prompt.AsSpan(0, length).SequenceEqual(slot.Tokens.AsSpan(0, length))) return false;
        int needed = Math.Max(job.Logprobs, 0);
        for (int p = Math.Max(1, job.ScoreFrom); p < length; p++)
            if (slot.RecordCount[p] < needed) return false;
        return true;
    }

    /// <summary>A sequence left the waiting list (admitted or dropped): once a group has no one waiting, its spare
    /// reserved slots go back to everyone.</summary>
    private void Unwait(Active a)
    {
        if (a.Group is not { } g) return;
        if (--g.Waiting == 0) g.ReleaseReservations();
    }

    private Slot? FreeSlot()
    {
        foreach (Slot s in _slots)
            if (s.Owner is null && s.ReservedFor is null) return s;
        return null;
    }

    /// <summary>The slot whose cache covers the longest usable prefix of the job's prompt, and how many positions of it
    /// can be reused. At least the last prompt token is always evaluated: its logits give the first generated token.
    /// A scored prompt also needs each reused position's log-probabilities, and the entry for the first evaluated
    /// position, so it reuses up to one position less than the common prefix.</summary>
    private (Slot? Slot, int Reuse) BestCachedPrefix(SequenceJob job)
    {
        Slot? best = null;
        int bestReuse = 0;
        foreach (Slot s in _slots)
        {
            int reuse = UsablePrefix(job, s, s.Length);
            if (reuse > bestReuse || (reuse == bestReuse && best is not null && best.Owner is not null && s.Owner is null))
            {
                best = s;
                bestReuse = reuse;
            }
        }
        return (best, bestReuse);
    }

    private int UsablePrefix(SequenceJob job, Slot slot, int cachedLength)
    {
        int common = job.Prompt.AsSpan().CommonPrefixLength(slot.Tokens.AsSpan(0, cachedLength));
        if (!job.ScorePrompt) return Math.Min(common, job.Prompt.Length - 1);
        int needed = Math.Max(job.Logprobs, 0);
        int reuse = 0;
        while (reuse + 1 < common && (!job.Scores(reuse + 1) || slot.RecordCount[reuse + 1] >= needed)) reuse++;
        return reuse;
    }

    /// <summary>True when a sequence still evaluating its prompt is about to compute a longer shared prefix than any
    /// cache holds now: waiting for it (a few steps) is cheaper than computing the prefix twice.</summary>
    private bool ShouldWaitForRunningPrefix(SequenceJob job, int reuseNow)
    {
        foreach (Active r in _running)
        {
            if (!r.InPrefill) continue;
            if (job.ScorePrompt && !r.Job.ScorePrompt) continue;
            if (job.ScorePrompt && (r.Job.Logprobs < job.Logprobs || r.Job.ScoreFrom > job.ScoreFrom)) continue;
            int common = job.Prompt.AsSpan().CommonPrefixLength(r.Job.Prompt);
            int potential = job.ScorePrompt ? common - 1 : Math.Min(common, job.Prompt.Length - 1);
            if (potential >= reuseNow + DeferGain && r.Slot!.Length < potential + 1) return true;
        }
        return false;
    }

    private Slot? LeastRecentlyUsedFree()
    {
        Slot? pick = null;
        foreach (Slot s in _slots)
            if (s.Owner is null && s.ReservedFor is null && (pick is null || s.LastUsed < pick.LastUsed)) pick = s;
        return pick;
    }

    /// <param name="fork">For a group member that starts right after the shared prefix: the log-probability of its token
    /// there, computed from the leader's row (so it need not evaluate the prefix's last position again).</param>
    private void Bind(Active a, Slot target, Slot? source, int reuse, TokenLogprob? fork)
    {
        if (source is not null && source != target && reuse > 0)
        {
            EngineException.ThrowIfFailed(NativeMethods.SeqCopy(_context, source.Id, target.Id, reuse), "mlxb_seq_copy");
            source.CopyPrefixTo(target, reuse);
        }
        else
        {
            if (source != target) reuse = 0;
            EngineException.ThrowIfFailed(NativeMethods.SeqTruncate(_context, target.Id, reuse), "mlxb_seq_truncate");
            target.Length = reuse;
        }
        // Entries from position `reuse` on describe the old content (the scored rule reused only positions whose
        // entry is valid and matches, and it keeps the entry at `reuse` when it matched).
        bool keepEntryAtReuse = a.Job.ScorePrompt && reuse > 0;
        target.InvalidateRecordsFrom(keepEntryAtReuse ? reuse + 1 : reuse);
        if (fork is not null) target.Store(reuse, fork);
        target.Owner = a;
        a.Slot = target;
        a.PromptPos = reuse;
        a.Reused = reuse;
        Counters.PromptTokensReused += reuse;
        // Temperature 0 makes the engine's sampler an argmax with the same tie rule as its top-logprobs.
        MlxbSamplerParams p = NativeMethods.SamplerDefaultParams();
        p.Temperature = Math.Max(0, a.Job.Sampling.Temperature);
        p.TopP = a.Job.Sampling.TopP is > 0 and < 1 ? a.Job.Sampling.TopP : 1;
        p.Seed = a.Job.Sampling.Seed;
        nint sampler;
        EngineException.ThrowIfFailed(NativeMethods.SamplerNew(_model.Handle, &p, &sampler), "mlxb_sampler_new");
        a.Sampler = sampler;
    }

    // ---- one decode step ---------------------------------------------------------------------------------------

    private void Step()
    {
        int n = 0;
        int sequences = 0;
        // Generating sequences first: one token each, so streams advance every step.
        foreach (Active a in _running)
        {
            if (a.InPrefill) continue;
            if (a.Slot!.Length >= _nCtx)
            {
                a.PendingFinish = FinishReason.Length;
                continue;
            }
            _bTokens[n] = a.LastToken;
            _bSeq[n] = a.Slot.Id;
            _bWant[n] = 1;
            _bOwner[n] = (a, -1);
            n++;
            sequences++;
        }
        foreach (Active a in _running)
        {
            if (!a.InPrefill || n >= _nBatch) continue;
            int count = Math.Min(a.Job.Prompt.Length - a.PromptPos, _nBatch - n);
            int last = a.Job.Prompt.Length - 1;
            for (int i = 0; i < count; i++)
            {
                int p = a.PromptPos + i;
                _bTokens[n] = a.Job.Prompt[p];
                _bSeq[n] = a.Slot!.Id;
                _bWant[n] = (sbyte)(a.Job.Scores(p + 1) || p == last ? 1 : 0);
                _bOwner[n] = (a, p);
                n++;
            }
            sequences++;
        }
        FinishPending();
        if (n == 0) return;

        fixed (int* tokens = _bTokens)
        fixed (int* seqs = _bSeq)
        fixed (sbyte* want = _bWant)
        {
            var batch = new MlxbBatch { NTokens = n, Tokens = tokens, SeqIds = seqs, Pos = null, WantLogits = want };
            long start = System.Diagnostics.Stopwatch.GetTimestamp();
            int status = NativeMethods.Decode(_context, &batch);
            Counters.DecodeTicks += System.Diagnostics.Stopwatch.GetTimestamp() - start;
            EngineException.ThrowIfFailed(status, "mlxb_decode");
            if (status == (int)MlxbStatus.ContextFull)
                throw new EngineException("mlxb_decode", status, NativeMethods.LastErrorMessage());
        }
        Counters.DecodeSteps++;
        Counters.MaxSequencesPerStep = Math.Max(Counters.MaxSequencesPerStep, sequences);

        // Every scored prompt position's entry first (independent rows, perhaps two threads), then the bookkeeping.
        int scored = 0;
        for (int i = 0; i < n; i++)
        {
            (Active a, int p) = _bOwner[i];
            if (p < 0 || a.Done || !a.Job.Scores(p + 1) || p + 1 >= a.Job.Prompt.Length) continue;
            _sRows[scored] = i;
            _sTokens[scored] = a.Job.Prompt[p + 1];
            _sTops[scored] = Math.Max(a.Job.Logprobs, 0);
            scored++;
        }
        _scorer.Score(_sRows, _sTokens, _sTops, _sResults, scored);
        int nextScored = 0;

        for (int i = 0; i < n; i++)
        {
            (Active a, int p) = _bOwner[i];
            if (a.Done) continue;
            Slot slot = a.Slot!;
            slot.Tokens[slot.Length++] = _bTokens[i];
            if (p >= 0)
            {
                Counters.PromptTokensEvaluated++;
                a.PromptPos = p + 1;
                if (a.Job.Scores(p + 1) && p + 1 < a.Job.Prompt.Length) slot.Store(p + 1, _sResults[nextScored++]!);
                else if (p + 1 < slot.RecordCount.Length) slot.RecordCount[p + 1] = -1;
                if (a.Group is { } g && g.Leader == a && p == g.SharedLength - 1) PrefixComputed(g, i);
                if (p == a.Job.Prompt.Length - 1) PromptDone(a, i);
            }
            else Generate(a, i);
        }
        FinishPending();
        foreach (Active a in _running) a.Slot!.LastUsed = _tick;
        _tick++;
    }

    /// <summary>The group's shared prefix is in its leader's slot: batch row <paramref name="row"/> (its last position)
    /// scores every scored member's first own token, and the members may fork it.</summary>
    private void PrefixComputed(Group g, int row)
    {
        foreach (Active m in g.Members)
            if (m != g.Leader && m.Job.Scores(g.SharedLength) && m.Job.Prompt.Length > g.SharedLength)
                g.ForkEntries[m] = LogprobOf(row, m.Job.Prompt[g.SharedLength], Math.Max(m.Job.Logprobs, 0));
        g.PrefixReady = true;
    }

    private void PromptDone(Active a, int row)
    {
        if (a.Job.ScorePrompt)
        {
            var positions = new TokenLogprob?[a.Job.Prompt.Length];
            for (int p = 1; p < positions.Length; p++) positions[p] = a.Job.Scores(p) ? a.Slot!.RecordAt(p) : null;
            _relay.Write(a.Job, new PromptScored(positions));
        }
        if (a.Job.MaxTokens == 0)
        {
            a.PendingFinish = FinishReason.Length;
            return;
        }
        Generate(a, row);
    }

    private void Generate(Active a, int row)
    {
        long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
        int token = NativeMethods.SamplerSample(a.Sampler, _context, row);
        Counters.SampleTicks += System.Diagnostics.Stopwatch.GetTimestamp() - t0;
        EngineException.ThrowIfFailed(token, "mlxb_sampler_sample");
        TokenLogprob? logprob = a.Job.Logprobs >= 0 ? LogprobOf(row, token, a.Job.Logprobs) : null;
        a.Generated++;
        Counters.GeneratedTokens++;
        // Every generated token is one event and one unit of usage, end-of-generation tokens included (as vLLM
        // counts them): the token that ends the sequence travels in its SequenceFinished, not in an event of its own.
        if (!a.Job.IgnoreEos && _model.IsEndOfGeneration(token))
        {
            a.FinalToken = new TokenGenerated(token, "", logprob);
            a.PendingFinish = FinishReason.Stop;
            return;
        }
        string text = a.Text.Add(_model.Piece(token));
        FinishReason? finish = a.Text.Stopped ? FinishReason.Stop
            : a.Generated >= a.Job.MaxTokens || a.Slot!.Length >= _nCtx ? FinishReason.Length
            : null;
        if (finish is null)
        {
            long t1 = System.Diagnostics.Stopwatch.GetTimestamp();
            _relay.Write(a.Job, new TokenGenerated(token, text, logprob));
            Counters.EmitTicks += System.Diagnostics.Stopwatch.GetTimestamp() - t1;
            a.LastToken = token;
            return;
        }
        a.FinalToken = new TokenGenerated(token, text, logprob);
        a.PendingFinish = finish;
    }

    private TokenLogprob LogprobOf(int row, int token, int top) => _scorer.Own.LogprobOf(row, token, top);

    private void FinishPending()
    {
        foreach (Active a in _running.ToArray())
            if (a.PendingFinish is { } reason && !a.Done) Finish(a, reason);
    }

    private void Finish(Active a, FinishReason reason)
    {
        string tail = a.Text.Finish();
        if (a.Text.Stopped) reason = FinishReason.Stop;
        Release(a);
        string text = a.FinalToken is { } last ? last.Text + tail : tail;
        _relay.Write(a.Job, new SequenceFinished(a.FinalToken, text, reason, a.Job.Prompt.Length, a.Reused, a.Generated));
        Complete(a.Job);
        Counters.Completed++;
    }

    private void Fail(Active a, string message)
    {
        Release(a);
        _waiting.Remove(a);
        _relay.Write(a.Job, new SequenceFailed(message));
        Complete(a.Job);
    }

    private void Complete(SequenceJob job) => _relay.Complete(job);

    private void Release(Active a)
    {
        a.Done = true;
        if (a.Sampler != 0)
        {
            NativeMethods.SamplerFree(a.Sampler);
            a.Sampler = 0;
        }
        if (a.Slot is { } slot)
        {
            slot.Owner = null;
            slot.LastUsed = _tick;
        }
        // A leader gone before its prefix was computed (cancelled, failed): the next member to be admitted leads.
        if (a.Group is { } g && g.Leader == a && !g.PrefixReady)
        {
            g.Leader = null;
            g.ReleaseReservations();
        }
        _running.Remove(a);
    }

    /// <summary>The jobs of one request whose prompts share <see cref="SharedLength"/> leading tokens.</summary>
    private sealed class Group(List<Active> members, int sharedLength)
    {
        public List<Active> Members { get; } = members;
        public int SharedLength { get; } = sharedLength;
        public int Waiting = members.Count;
        public Active? Leader;
        /// <summary>The leader's slot holds the shared prefix (and <see cref="ForkEntries"/> are filled).</summary>
        public bool PrefixReady;
        /// <summary>Per scored member: its token right after the prefix, scored from the leader's row.</summary>
        public readonly Dictionary<Active, TokenLogprob> ForkEntries = [];
        public readonly List<Slot> Reserved = [];

        public void Reserve(Slot slot)
        {
            slot.ReservedFor = this;
            Reserved.Add(slot);
        }

        public void ReleaseReservations()
        {
            foreach (Slot s in Reserved) s.ReservedFor = null;
            Reserved.Clear();
        }
    }

    /// <summary>A job the engine thread is working on.</summary>
    private sealed class Active(SequenceJob job, TextAssembler text)
    {
        public Group? Group;
        public SequenceJob Job { get; } = job;
        public TextAssembler Text { get; } = text;
        public Slot? Slot;
        public int PromptPos;
        public int Reused;
        public int Generated;
        public int LastToken;
        public nint Sampler;
        public FinishReason? PendingFinish;
        /// <summary>The token that ended the sequence, sent with its SequenceFinished.</summary>
        public TokenGenerated? FinalToken;
        public bool Done;
        public bool InPrefill => PromptPos < Job.Prompt.Length;
    }

    /// <summary>One KV-cache sequence of the context: the tokens it holds, and per position the log-probability of
    /// that position's token (with alternatives) when it was evaluated for a scored prompt. Entries are immutable and
    /// shared: a copied prefix and a scored prompt's result refer to the same objects, so nothing is copied per position
    /// on the engine thread.</summary>
    private sealed class Slot(int id, int nCtx)
    {
        public int Id { get; } = id;
        public Active? Owner;
        /// <summary>Kept for the waiting members of a group: no one else takes it, even when free.</summary>
        public Group? ReservedFor;
        public long LastUsed = -1;
        public int Length;
        public readonly int[] Tokens = new int[nCtx];
        /// <summary>Per position: -1 no entry, else how many alternatives are stored.</summary>
        public readonly int[] RecordCount = Enumerable.Repeat(-1, nCtx + 1).ToArray();
        private readonly TokenLogprob?[] _records = new TokenLogprob?[nCtx + 1];

        public void Store(int position, TokenLogprob lp)
        {
            _records[position] = lp;
            RecordCount[position] = lp.TopTokens.Length;
        }

        public TokenLogprob RecordAt(int position) => _records[position]!;

        public void InvalidateRecordsFrom(int position)
        {
            if (position < RecordCount.Length) RecordCount.AsSpan(position).Fill(-1);
        }

        public void CopyPrefixTo(Slot target, int count)
        {
            Tokens.AsSpan(0, count).CopyTo(target.Tokens);
            target.Length = count;
            int records = Math.Min(count + 1, RecordCount.Length);
            RecordCount.AsSpan(0, records).CopyTo(target.RecordCount);
            _records.AsSpan(0, records).CopyTo(target._records);
        }
    }
}
