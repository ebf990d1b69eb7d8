namespace MlxBench.Harness.Serving.Client;

/// <summary>
/// Everything measured about one request, as raw <see cref="System.Diagnostics.Stopwatch"/> ticks so that nothing is
/// converted, allocated or formatted while the request runs. <see cref="ChunkTicks"/> holds one arrival stamp per
/// choice-bearing message (vLLM's unit of ITL), taken when the bytes completing it were read from the socket.
/// </summary>
public sealed class RequestRecord(int index, int promptTokensClient, int maxTokens, int expectedChunks)
{
    public int Index { get; } = index;
    /// <summary>The prompt length the client built, or -1 when it cannot know (text prompts without a tokenizer).</summary>
    public int PromptTokensClient { get; } = promptTokensClient;
    public int MaxTokens { get; } = maxTokens;

    /// <summary>When the schedule meant the request to go out.</summary>
    public long IntendedTicks { get; internal set; }
    /// <summary>When the scheduler released it (before waiting for a concurrency slot).</summary>
    public long DispatchedTicks { get; internal set; }
    /// <summary>Just before the request was handed to HttpClient: the start of TTFT and E2EL, as in vLLM.</summary>
    public long StartTicks { get; internal set; }
    /// <summary>When the response was read to its end and the concurrency slot was freed.</summary>
    public long EndTicks { get; internal set; }

    private long[] _chunkTicks = new long[Math.Max(2, expectedChunks)];
    public int ChunkCount { get; private set; }
    public ReadOnlySpan<long> ChunkTicks => _chunkTicks.AsSpan(0, ChunkCount);
    /// <summary>Choice-bearing messages whose text (or delta content) was not empty.</summary>
    public int TextChunks { get; private set; }
    /// <summary>Messages that certainly carry a token: with text, or without text but neither opening a chat stream
    /// (a role-only delta) nor finishing it (a token that decodes to no text, such as a sampled control token).</summary>
    public int TokenChunks { get; private set; }
    /// <summary>Messages without text that carry a finish reason: the last token (an end-of-sequence token, or one
    /// that completed a stop string, as vLLM sends them) or only the finish reason (as llama.cpp sends it).</summary>
    public int FinishOnlyChunks { get; private set; }

    public int? UsagePromptTokens { get; internal set; }
    public int? UsageCompletionTokens { get; internal set; }

    public int StatusCode { get; internal set; }
    public bool Success { get; internal set; }
    public string? Error { get; internal set; }

    public long FirstChunkTicks => ChunkCount > 0 ? _chunkTicks[0] : 0;
    public long LastChunkTicks => ChunkCount > 0 ? _chunkTicks[ChunkCount - 1] : 0;

    internal void AddChunk(long ticks, bool hasText, bool finishes = false, bool hasRole = false)
    {
        if (ChunkCount == _chunkTicks.Length) Array.Resize(ref _chunkTicks, _chunkTicks.Length * 2);
        _chunkTicks[ChunkCount++] = ticks;
        if (hasText) TextChunks++;
        if (hasText || (!finishes && !hasRole)) TokenChunks++;
        else if (finishes) FinishOnlyChunks++;
    }

    /// <summary>True when the server's <c>completion_tokens</c> cannot be the number of tokens the messages carried
    /// (one token per message, the way our server, vLLM and llama.cpp stream without speculative decoding).</summary>
    internal bool UsageContradictsMessages =>
        UsageCompletionTokens is { } c && ChunkCount > 1 && (c < TokenChunks || c > TokenChunks + FinishOnlyChunks);

    /// <summary>Output tokens as vLLM counts them: the server's usage, else the client's count.</summary>
    public int OutputTokens => UsageCompletionTokens ?? TextChunks;

    public int PromptTokens => UsagePromptTokens ?? Math.Max(PromptTokensClient, 0);
}
