using System.Threading.Channels;

namespace MlxBench.Server.Scheduling;

/// <summary>How one sequence samples. Temperature 0 is greedy (argmax, lowest id on ties).</summary>
internal readonly record struct SamplingSettings(float Temperature, float TopP, ulong Seed);

/// <summary>One sequence for the scheduler: a prompt to evaluate, then up to <see cref="MaxTokens"/> tokens to generate.
/// A request with <c>n</c> choices or a list of prompts becomes several jobs.</summary>
internal sealed class SequenceJob
{
    public required int[] Prompt { get; init; }
    /// <summary>0: only evaluate (score) the prompt.</summary>
    public required int MaxTokens { get; init; }
    /// <summary>Log-probabilities for every prompt token (echo with logprobs): the prompt is evaluated with logits
    /// at every position.</summary>
    public bool ScorePrompt { get; init; }
    /// <summary>With <see cref="ScorePrompt"/>: the first prompt position whose log-probability is wanted (the request's
    /// <c>echo_logprobs_from</c>; 1, every position, by default). Rows before it are decoded without logits, so nothing
    /// is computed for entries no one reads (a log-likelihood reads only its continuation's). The scheduler may lower it
    /// (a group's members start at their shared prefix's end at the latest), never raise it.</summary>
    public int ScoreFrom { get; internal set; } = 1;
    /// <summary>True when the log-probability of the prompt token at <paramref name="position"/> is wanted.</summary>
    internal bool Scores(int position) => ScorePrompt && position >= ScoreFrom;
    /// <summary>-1: no log-probabilities; otherwise the number of alternatives (top_logprobs) per position.</summary>
    public int Logprobs { get; init; } = -1;
    public SamplingSettings Sampling { get; init; }
    public IReadOnlyList<string> Stop { get; init; } = [];
    /// <summary>Generate through end-of-generation tokens (always <see cref="MaxTokens"/> tokens unless a stop matches).</summary>
    public bool IgnoreEos { get; init; }
    public CancellationToken Cancellation { get; init; }

    internal CancellationTokenRegistration WakeOnCancel { get; set; }

    /// <summary>
    /// A streamed job's events are written to its client by the scheduler's stream relay thread, synchronously, right
    /// after the step that produced them (<see cref="StreamRelay"/>): the channel runs the reader's continuation (the
    /// SSE writer) inline, and the transport sends inline (Kestrel's inline scheduling), so a step's tokens are sent
    /// while the engine thread decodes the next step, without a hop through the thread pool. Only a client that stops
    /// reading (a flush that cannot complete at once) moves its writer to the thread pool; neither thread waits for a
    /// client. Non-streamed jobs are read on the thread pool: their responses are built once, at the end, and can be
    /// large.
    /// </summary>
    public bool Stream
    {
        get => _stream;
        init
        {
            _stream = value;
            _channel = CreateChannel(value);
        }
    }

    private readonly bool _stream;
    private readonly Channel<SequenceEvent> _channel = CreateChannel(synchronous: false);

    internal Channel<SequenceEvent> Channel => _channel;

    private static Channel<SequenceEvent> CreateChannel(bool synchronous) => System.Threading.Channels.Channel.CreateUnbounded<SequenceEvent>(
        new UnboundedChannelOptions { SingleReader = true, SingleWriter = true, AllowSynchronousContinuations = synchronous });

    /// <summary>What the scheduler reports for this job, in order, ending with <see cref="SequenceFinished"/> or
    /// <see cref="SequenceFailed"/> (or just completion, when the job was cancelled).</summary>
    public ChannelReader<SequenceEvent> Events => Channel.Reader;
}

/// <summary>The log-probability of one token at one position, with the most likely alternatives (best first).</summary>
internal sealed record TokenLogprob(int Token, float Logprob, int[] TopTokens, float[] TopLogprobs);

internal abstract record SequenceEvent;

/// <summary>Log-probabilities of the prompt's tokens; entry 0 is null (nothing predicts the first token).</summary>
internal sealed record PromptScored(TokenLogprob?[] Positions) : SequenceEvent;

/// <summary>A generated token and the text it releases (often empty while a stop sequence or a UTF-8 character is pending).</summary>
internal sealed record TokenGenerated(int Token, string Text, TokenLogprob? Logprob) : SequenceEvent;

internal enum FinishReason { Stop, Length }

/// <summary>The end of a sequence: the token that ended it (null when none did: <c>max_tokens</c> 0), the text released
/// at the end (that token's and whatever was held back), why it ended, and its token counts. Each generated token is
/// exactly one <see cref="TokenGenerated"/> or the <see cref="Last"/> token, so a stream has one event per token and
/// <see cref="CompletionTokens"/> equals their number.</summary>
internal sealed record SequenceFinished(TokenGenerated? Last, string Text, FinishReason Reason, int PromptTokens, int CachedPromptTokens, int CompletionTokens) : SequenceEvent;

internal sealed record SequenceFailed(string Message) : SequenceEvent;
