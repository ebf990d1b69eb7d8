using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using MlxBench.Server.Engine;
using MlxBench.Server.Scheduling;

namespace MlxBench.Server.Api;

/// <summary>What one choice (one scheduler job) produced, gathered from its events.</summary>
internal sealed class ChoiceResult(int index, int promptIndex)
{
    public int Index { get; } = index;
    public int PromptIndex { get; } = promptIndex;
    public StringBuilder Text { get; } = new();
    public TokenLogprob?[]? PromptLogprobs { get; set; }
    public List<TokenGenerated> Tokens { get; } = [];
    public FinishReason? Finish { get; set; }
    public int PromptTokens { get; set; }
    public int CachedTokens { get; set; }
    public int CompletionTokens { get; set; }
    public string? Failure { get; set; }

    /// <summary>Applies one event; returns the text it added.</summary>
    public string Apply(SequenceEvent e)
    {
        switch (e)
        {
            case PromptScored p:
                PromptLogprobs = p.Positions;
                return "";
            case TokenGenerated t:
                Tokens.Add(t);
                Text.Append(t.Text);
                return t.Text;
            case SequenceFinished f:
                if (f.Last is { } last) Tokens.Add(last);
                Text.Append(f.Text);
                Finish = f.Reason;
                PromptTokens = f.PromptTokens;
                CachedTokens = f.CachedPromptTokens;
                CompletionTokens = f.CompletionTokens;
                return f.Text;
            case SequenceFailed x:
                Failure = x.Message;
                return "";
            default:
                return "";
        }
    }
}

/// <summary>Submits a request's jobs and reads their events, in arrival order across jobs.</summary>
internal static class JobEvents
{
    public static async IAsyncEnumerable<(int Choice, SequenceEvent Event)> ReadAllAsync(IReadOnlyList<SequenceJob> jobs, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        if (jobs.Count == 1)
        {
            // The common case (one prompt, one choice) reads the job directly: no extra hop per token.
            await foreach (SequenceEvent e in jobs[0].Events.ReadAllAsync(cancellationToken)) yield return (0, e);
            yield break;
        }
        // Streamed jobs hand their events on inline (see SequenceJob.Stream), so the merged reader writes inline too.
        bool inline = jobs[0].Stream;
        var merged = Channel.CreateUnbounded<(int, SequenceEvent)>(new UnboundedChannelOptions { SingleReader = true, AllowSynchronousContinuations = inline });
        int remaining = jobs.Count;
        for (int i = 0; i < jobs.Count; i++)
        {
            int choice = i;
            _ = Task.Run(async () =>
            {
                try
                {
                    await foreach (SequenceEvent e in jobs[choice].Events.ReadAllAsync(cancellationToken)) merged.Writer.TryWrite((choice, e));
                }
                catch (OperationCanceledException)
                {
                    // The client went away; the scheduler drops the job on its own.
                }
                finally
                {
                    if (Interlocked.Decrement(ref remaining) == 0) merged.Writer.TryComplete();
                }
            }, CancellationToken.None);
        }
        await foreach ((int, SequenceEvent) item in merged.Reader.ReadAllAsync(cancellationToken)) yield return item;
    }
}

/// <summary>Writes the log-probability shapes: the legacy completions one and the chat one.</summary>
internal static class LogprobJson
{
    /// <summary>vLLM writes -inf as -9999.0; JSON has no infinity.</summary>
    public static void Number(Utf8JsonWriter w, float value) => w.WriteNumberValue(float.IsFinite(value) ? value : -9999f);

    /// <summary>A <c>top_logprobs</c> entry: <c>{token text: logprob}</c>, best first, plus the chosen token (as OpenAI does).
    /// Two tokens with the same text keep the first (higher) value, so a chosen top-1 token's entry is its own value.</summary>
    public static void TopDictionary(Utf8JsonWriter w, EngineModel model, TokenLogprob lp)
    {
        w.WriteStartObject();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < lp.TopTokens.Length; i++)
        {
            string key = model.DisplayText(lp.TopTokens[i]);
            if (!seen.Add(key)) continue;
            w.WritePropertyName(key);
            Number(w, lp.TopLogprobs[i]);
        }
        string chosen = model.DisplayText(lp.Token);
        if (seen.Add(chosen))
        {
            w.WritePropertyName(chosen);
            Number(w, lp.Logprob);
        }
        w.WriteEndObject();
    }
}
