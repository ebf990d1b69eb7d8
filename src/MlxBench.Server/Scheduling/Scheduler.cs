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
    private readonly ConcurrentQueue<SequenceJob> _incoming = new();
    private readonly SemaphoreSlim _wake = new(0);
    private readonly List<Active> _waiting = [];
    private readonly List<Active> _running = [];
    private readonly Thread _thread;
    private volatile bool _stopping;
    private long _tick;

    // Batch arrays, sized n_batch once.
    private readonly int[] _bTokens, _bSeq;
    private readonly sbyte[] _bWant;
    private readonly (Active Job, int PromptIndex)[] _bOwner;
    private readonly int[] _topTokens;
    private readonly float[] _topLogprobs;

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
        for (int i = 0; i < _slots.Length; i++) _slots[i] = new Slot(i, _nCtx, _maxLogprobs + 1);
        _bTokens = new int[_nBatch];
        _bSeq = new int[_nBatch];
        _bWant = new sbyte[_nBatch];
        _bOwner = new (Active, int)[_nBatch];
        _topTokens = new int[_maxLogprobs + 1];
        _topLogprobs = new float[_maxLogprobs + 1];
        _thread = new Thread(Run) { IsBackground = true, Name = "mlxbench-engine" };
        _thread.Start();
    }

    public int ContextSize => _nCtx;
    public int Parallel => _slots.Length;
    public int Threads { get; }
    public int MaxLogprobs => _maxLogprobs;
    public SchedulerCounters Counters { get; } = new();

    /// <summary>Queues a job; its events arrive on <see cref="SequenceJob.Events"/>. Thread-safe.</summary>
    public void Submit(SequenceJob job)
    {
        ObjectDisposedException.ThrowIf(_stopping, this);
        if (job.Prompt.Length == 0 || job.Prompt.Length > _nCtx || job.Logprobs > _maxLogprobs)
            throw new ArgumentException("the job was not validated against the context size and logprob limit", nameof(job));
        if (job.Cancellation.CanBeCanceled) job.WakeOnCancel = job.Cancellation.Register(static s => ((SemaphoreSlim)s!).Release(), _wake);
        _incoming.Enqueue(job);
        _wake.Release();
    }

    public void Dispose()
    {
        if (_stopping) return;
        _stopping = true;
        _wake.Release();
        _thread.Join();
        NativeMethods.ContextFree(_context);
    }

    private void Run()
    {
        while (!_stopping)
        {
            while (_incoming.TryDequeue(out SequenceJob? job)) _waiting.Add(new Active(job, new TextAssembler(job.Stop)));
            DropCancelled();
            Admit();
            Counters.Running = _running.Count;
            Counters.Waiting = _waiting.Count;
            if (_running.Count == 0)
            {
                _wake.Wait();
                continue;
            }
            try
            {
                Step();
            }
            catch (Exception e)
            {
                // The engine refused the whole batch (or a bug surfaced): fail its sequences, keep serving.
                foreach (Active a in _running.ToArray()) Fail(a, e.Message);
            }
        }
        foreach (Active a in _running.Concat(_waiting).ToArray()) Fail(a, "the server is shutting down");
        while (_incoming.TryDequeue(out SequenceJob? job)) Complete(job);
    }

    private void DropCancelled()
    {
        for (int i = _waiting.Count - 1; i >= 0; i--)
            if (_waiting[i].Job.Cancellation.IsCancellationRequested)
            {
                Complete(_waiting[i].Job);
                _waiting.RemoveAt(i);
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
            Slot? free = null;
            foreach (Slot s in _slots)
                if (s.Owner is null) { free = s; break; }
            if (free is null) return;

            (Slot? source, int reuse) = BestCachedPrefix(a.Job);
            if (ShouldWaitForRunningPrefix(a.Job, reuse)) continue;

            Slot target = source is { Owner: null } ? source : LeastRecentlyUsedFree();
            Bind(a, target, source, reuse);
            _waiting.RemoveAt(w--);
            _running.Add(a);
        }
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
        while (reuse + 1 < common && slot.RecordCount[reuse + 1] >= needed) reuse++;
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
            if (job.ScorePrompt && r.Job.Logprobs < job.Logprobs) continue;
            int common = job.Prompt.AsSpan().CommonPrefixLength(r.Job.Prompt);
            int potential = job.ScorePrompt ? common - 1 : Math.Min(common, job.Prompt.Length - 1);
            if (potential >= reuseNow + DeferGain && r.Slot!.Length < potential + 1) return true;
        }
        return false;
    }

    private Slot LeastRecentlyUsedFree()
    {
        Slot? pick = null;
        foreach (Slot s in _slots)
            if (s.Owner is null && (pick is null || s.LastUsed < pick.LastUsed)) pick = s;
        return pick!;
    }

    private void Bind(Active a, Slot target, Slot? source, int reuse)
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
                _bWant[n] = (sbyte)(a.Job.ScorePrompt || p == last ? 1 : 0);
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
            int status = NativeMethods.Decode(_context, &batch);
            EngineException.ThrowIfFailed(status, "mlxb_decode");
            if (status == (int)MlxbStatus.ContextFull)
                throw new EngineException("mlxb_decode", status, NativeMethods.LastErrorMessage());
        }
        Counters.DecodeSteps++;
        Counters.MaxSequencesPerStep = Math.Max(Counters.MaxSequencesPerStep, sequences);

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
                if (a.Job.ScorePrompt && p + 1 < a.Job.Prompt.Length) Record(slot, i, p + 1, a.Job.Prompt[p + 1], a.Job.Logprobs);
                else if (p + 1 < slot.RecordCount.Length) slot.RecordCount[p + 1] = -1;
                if (p == a.Job.Prompt.Length - 1) PromptDone(a, i);
            }
            else Generate(a, i);
        }
        FinishPending();
        foreach (Active a in _running) a.Slot!.LastUsed = _tick;
        _tick++;
    }

    private void PromptDone(Active a, int row)
    {
        if (a.Job.ScorePrompt)
        {
            var positions = new TokenLogprob?[a.Job.Prompt.Length];
            for (int p = 1; p < positions.Length; p++) positions[p] = a.Slot!.RecordAt(p);
            a.Job.Channel.Writer.TryWrite(new PromptScored(positions));
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
        int token = NativeMethods.SamplerSample(a.Sampler, _context, row);
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
            a.Job.Channel.Writer.TryWrite(new TokenGenerated(token, text, logprob));
            a.LastToken = token;
            return;
        }
        a.FinalToken = new TokenGenerated(token, text, logprob);
        a.PendingFinish = finish;
    }

    private TokenLogprob LogprobOf(int row, int token, int top)
    {
        float chosen;
        EngineException.ThrowIfFailed(NativeMethods.GetTokenLogprob(_context, row, token, &chosen), "mlxb_get_token_logprob");
        int got = 0;
        if (top > 0)
            fixed (int* t = _topTokens)
            fixed (float* l = _topLogprobs)
            {
                got = NativeMethods.GetTopLogprobs(_context, row, top, t, l);
                EngineException.ThrowIfFailed(got, "mlxb_get_top_logprobs");
            }
        return new TokenLogprob(token, chosen, _topTokens.AsSpan(0, got).ToArray(), _topLogprobs.AsSpan(0, got).ToArray());
    }

    /// <summary>Stores the log-probability of <paramref name="token"/> at <paramref name="position"/> (from the logits of
    /// the previous position, batch row <paramref name="row"/>), so later prompts sharing this prefix reuse it.</summary>
    private void Record(Slot slot, int row, int position, int token, int top)
    {
        TokenLogprob lp = LogprobOf(row, token, Math.Max(top, 0));
        slot.Store(position, lp);
    }

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
        a.Job.Channel.Writer.TryWrite(new SequenceFinished(a.FinalToken, text, reason, a.Job.Prompt.Length, a.Reused, a.Generated));
        Complete(a.Job);
        Counters.Completed++;
    }

    private void Fail(Active a, string message)
    {
        Release(a);
        _waiting.Remove(a);
        a.Job.Channel.Writer.TryWrite(new SequenceFailed(message));
        Complete(a.Job);
    }

    private static void Complete(SequenceJob job)
    {
        job.WakeOnCancel.Dispose();
        job.Channel.Writer.TryComplete();
    }

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
        _running.Remove(a);
    }

    /// <summary>A job the engine thread is working on.</summary>
    private sealed class Active(SequenceJob job, TextAssembler text)
    {
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
    /// that position's token (with alternatives) when it was evaluated for a scored prompt.</summary>
    private sealed class Slot(int id, int nCtx, int topStride)
    {
        public int Id { get; } = id;
        public Active? Owner;
        public long LastUsed = -1;
        public int Length;
        public readonly int[] Tokens = new int[nCtx];
        /// <summary>Per position: -1 no entry, else how many alternatives are stored.</summary>
        public readonly int[] RecordCount = Enumerable.Repeat(-1, nCtx + 1).ToArray();
        private readonly float[] _logprob = new float[nCtx + 1];
        private readonly int[] _topTokens = new int[(nCtx + 1) * topStride];
        private readonly float[] _topLogprobs = new float[(nCtx + 1) * topStride];

        public void Store(int position, TokenLogprob lp)
        {
            _logprob[position] = lp.Logprob;
            lp.TopTokens.CopyTo(_topTokens, position * topStride);
            lp.TopLogprobs.CopyTo(_topLogprobs, position * topStride);
            RecordCount[position] = lp.TopTokens.Length;
        }

        public TokenLogprob RecordAt(int position)
        {
            int count = RecordCount[position];
            return new TokenLogprob(Tokens[position], _logprob[position],
                _topTokens.AsSpan(position * topStride, count).ToArray(), _topLogprobs.AsSpan(position * topStride, count).ToArray());
        }

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
            _logprob.AsSpan(0, records).CopyTo(target._logprob);
            _topTokens.AsSpan(0, records * topStride).CopyTo(target._topTokens);
            _topLogprobs.AsSpan(0, records * topStride).CopyTo(target._topLogprobs);
        }
    }
}
