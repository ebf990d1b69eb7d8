using MlxBench.Server.Engine;

namespace MlxBench.Server.Tests;

/// <summary>
/// The engine's own answers, computed through the C API directly (not through the server): one decode of the whole
/// prompt with logits at every position, the way a scoring request is meant to be computed.
/// </summary>
internal static unsafe class EngineReference
{
    public sealed record Position(float Logprob, int TopToken, float TopLogprob);

    /// <summary>For each position p >= 1: the log-probability of prompt[p] and the top-1 entry, from row p - 1.</summary>
    public static Position[] Score(EngineModel model, int[] prompt)
    {
        MlxbContextParams parameters = NativeMethods.ContextDefaultParams();
        parameters.NCtx = Math.Max(512, prompt.Length);
        parameters.NBatch = Math.Max(prompt.Length, 1);
        parameters.NThreads = 1;
        nint ctx;
        EngineException.ThrowIfFailed(NativeMethods.ContextNew(model.Handle, &parameters, &ctx), "mlxb_context_new");
        try
        {
            var want = Enumerable.Repeat((sbyte)1, prompt.Length).ToArray();
            fixed (int* t = prompt)
            fixed (sbyte* w = want)
            {
                var batch = new MlxbBatch { NTokens = prompt.Length, Tokens = t, WantLogits = w };
                EngineException.ThrowIfFailed(NativeMethods.Decode(ctx, &batch), "mlxb_decode");
            }
            var result = new Position[prompt.Length];
            for (int p = 1; p < prompt.Length; p++)
            {
                float lp, topLp;
                int top;
                EngineException.ThrowIfFailed(NativeMethods.GetTokenLogprob(ctx, p - 1, prompt[p], &lp), "logprob");
                EngineException.ThrowIfFailed(NativeMethods.GetTopLogprobs(ctx, p - 1, 1, &top, &topLp), "top");
                result[p] = new Position(lp, top, topLp);
            }
            return result;
        }
        finally
        {
            NativeMethods.ContextFree(ctx);
        }
    }
}
