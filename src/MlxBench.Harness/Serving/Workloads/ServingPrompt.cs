namespace MlxBench.Harness.Serving.Workloads;

/// <summary>
/// One prompt of a workload. Exactly one of <see cref="TokenIds"/>, <see cref="Text"/> or <see cref="MessagesJson"/>
/// is what goes on the wire; <see cref="PromptTokens"/> is the client's count of it (-1 when the client cannot know).
/// </summary>
public sealed record ServingPrompt(int[]? TokenIds, string? Text, string? MessagesJson, int PromptTokens, int OutputTokens)
{
    public static ServingPrompt FromIds(int[] ids, int outputTokens) => new(ids, null, null, ids.Length, outputTokens);
}

/// <summary>How the prompts of a workload are sent, as recorded in the result (<c>mlxbench.prompt_mode</c>).</summary>
public static class PromptModes
{
    /// <summary>Token-id arrays to /v1/completions: exact input lengths.</summary>
    public const string TokenIds = "token-ids";
    /// <summary>Token ids turned into text by the server's /detokenize: lengths checked against usage.</summary>
    public const string Detokenized = "detokenized";
    /// <summary>Random words (no tokenizer endpoint): lengths approximate.</summary>
    public const string Words = "words";
    /// <summary>The user's own prompts from a JSONL file.</summary>
    public const string Dataset = "dataset";
}
