using MlxBench.Server.Engine;

namespace MlxBench.Server.Scheduling;

/// <summary>
/// The log-probability of a token at a batch row of the last decode, with the row's most likely alternatives. One
/// log-softmax per row (<c>mlxb_get_logprobs</c>, whose values are bit-identical to <c>mlxb_get_token_logprob</c>'s and
/// <c>mlxb_get_top_logprobs</c>'s) instead of one per call: the engine computes it over the whole vocabulary, and a
/// scored prompt needs it at every position. The top tokens are ranked on the raw logits exactly as
/// <c>mlxb_get_top_logprobs</c> ranks them (ties: lower id first). Each instance owns its buffers: one per thread.
/// Reading a row is read-only in the engine, so several scorers may read rows of the same decode at once.
/// </summary>
internal sealed unsafe class RowScorer(nint context, int vocabSize, int maxLogprobs)
{
    private readonly int[] _topTokens = new int[maxLogprobs + 1];
    private readonly float[] _topLogprobs = new float[maxLogprobs + 1];
    private readonly float[] _rowLogprobs = new float[vocabSize];

    public TokenLogprob LogprobOf(int row, int token, int top)
    {
        fixed (float* lp = _rowLogprobs)
            EngineException.ThrowIfFailed(NativeMethods.GetLogprobs(context, row, lp, _rowLogprobs.Length), "mlxb_get_logprobs");
        if (top <= 0) return new TokenLogprob(token, _rowLogprobs[token], [], []);
        float* logits = NativeMethods.GetLogits(context, row);
        if (logits is null) throw new EngineException("mlxb_get_logits", (int)MlxbStatus.ErrArg, "a scored row has no logits");
        if (top == 1)
        {
            // The engine's argmax (lowest id on ties), without the general insertion's bookkeeping: lm-eval asks for 1.
            int best = 0;
            float bestLogit = logits[0];
            for (int t = 1; t < _rowLogprobs.Length; t++)
                if (logits[t] > bestLogit)
                {
                    bestLogit = logits[t];
                    best = t;
                }
            return new TokenLogprob(token, _rowLogprobs[token], [best], [_rowLogprobs[best]]);
        }
        int got = 0;
        int k = Math.Min(top, _rowLogprobs.Length);
        for (int t = 0; t < _rowLogprobs.Length; t++)
        {
            if (got == k && !(logits[t] > logits[_topTokens[got - 1]])) continue;
            int j = got < k ? got++ : k - 1;
            while (j > 0 && logits[t] > logits[_topTokens[j - 1]])
            {
                _topTokens[j] = _topTokens[j - 1];
                j--;
            }
            _topTokens[j] = t;
        }
        for (int j = 0; j < got; j++) _topLogprobs[j] = _rowLogprobs[_topTokens[j]];
        return new TokenLogprob(token, _rowLogprobs[token], _topTokens.AsSpan(0, got).ToArray(), _topLogprobs.AsSpan(0, got).ToArray());
    }
}

/// <summary>
/// Scores the prompt rows of one decode step on the engine thread and, when the machine has a core the engine's
/// compute threads leave free, on one helper thread at the same time. On small models the log-softmax over the
/// vocabulary of every scored position costs a third of the decode itself; it depends only on the step's logits, so
/// the rows are independent. Both threads claim rows from a shared counter and the engine thread scores until none
/// is left, so a helper that is slow to wake (a busy machine) costs nothing but the rows it has claimed: results are
/// the same whoever computes them.
/// </summary>
internal sealed class ParallelRowScorer : IDisposable
{
    /// <summary>Fewer rows than this are scored by the engine thread alone (waking the helper costs more).</summary>
    private const int MinRowsForHelper = 24;

    private readonly RowScorer _own;
    private readonly RowScorer? _helperScorer;
    private readonly Thread? _helper;
    private readonly SemaphoreSlim _wake = new(0);
    private volatile Work? _work;
    private volatile bool _stopping;

    public ParallelRowScorer(nint context, int vocabSize, int maxLogprobs, bool useHelper)
    {
        _own = new RowScorer(context, vocabSize, maxLogprobs);
        if (!useHelper) return;
        _helperScorer = new RowScorer(context, vocabSize, maxLogprobs);
        _helper = new Thread(HelperLoop) { IsBackground = true, Name = "mlxbench-scorer" };
        _helper.Start();
    }

    public bool HasHelper => _helper is not null;

    /// <summary>Rows scored in all, and by the helper thread (read by /metrics).</summary>
    public long RowsScored, RowsScoredByHelper;

    /// <summary>The engine thread's own scorer, for single rows.</summary>
    public RowScorer Own => _own;

    /// <summary>Scores <paramref name="count"/> rows: <c>results[i] = LogprobOf(rows[i], tokens[i], tops[i])</c>.</summary>
    public void Score(int[] rows, int[] tokens, int[] tops, TokenLogprob?[] results, int count)
    {
        if (count == 0) return;
        var work = new Work(rows, tokens, tops, results, count);
        if (_helper is not null && count >= MinRowsForHelper)
        {
            _work = work;
            _wake.Release();
        }
        work.Run(_own, helper: false);
        // The helper may be inside its last claimed row: wait for it (a few microseconds), then for its failure, if any.
        var spin = new SpinWait();
        while (Volatile.Read(ref work.Done) < count) spin.SpinOnce();
        _work = null;
        RowsScored += count;
        RowsScoredByHelper += work.ByHelper;
        if (work.Error is { } error) throw error;
    }

    private void HelperLoop()
    {
        while (true)
        {
            _wake.Wait();
            if (_stopping) return;
            _work?.Run(_helperScorer!, helper: true);
        }
    }

    public void Dispose()
    {
        _stopping = true;
        _wake.Release();
        _helper?.Join();
    }

    private sealed class Work(int[] rows, int[] tokens, int[] tops, TokenLogprob?[] results, int count)
    {
        private int _next = -1;
        public int Done;
        public Exception? Error;
        public int ByHelper;

        /// <summary>Scores rows until none is left.</summary>
        public void Run(RowScorer scorer, bool helper)
        {
            for (int i = Interlocked.Increment(ref _next); i < count; i = Interlocked.Increment(ref _next))
            {
                try
                {
                    results[i] = scorer.LogprobOf(rows[i], tokens[i], tops[i]);
                }
                catch (Exception e)
                {
                    Error ??= e;
                }
                if (helper) ByHelper++;   // published by the increment below
                Interlocked.Increment(ref Done);
            }
        }
    }
}
