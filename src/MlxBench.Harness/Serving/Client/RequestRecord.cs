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
    /// <summary>Choice-bearing messages whose text (or delta content) was not empty: the client's output token count.</summary>
    public int TextChunks { get; private set; }

    public int? UsagePromptTokens { get; internal set; }
    public int? UsageCompletionTokens { get; internal set; }

    public int StatusCode { get; internal set; }
    public bool Success { get; internal set; }
    public string? Error { get; internal set; }

    public long FirstChunkTicks => ChunkCount > 0 ? _chunkTicks[0] : 0;
    public long LastChunkTicks => ChunkCount > 0 ? _chunkTicks[ChunkCount - 1] : 0;

    internal void AddChunk(long ticks, bool hasText)
    {
        if (ChunkCount == _chunkTicks.Length) Array.Resize(ref _chunkTicks, _chunkTicks.Length * 2);
        _chunkTicks[ChunkCount++] = ticks;
        if (hasText) TextChunks++;
    }

    /// <summary>Output tokens as vLLM counts them: the server's usage, else the client's count.</summary>
    public int OutputTokens => UsageCompletionTokens ?? TextChunks;

    public int PromptTokens => UsagePromptTokens ?? Math.Max(PromptTokensClient, 0);
}
