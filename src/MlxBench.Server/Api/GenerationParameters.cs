using System.Security.Cryptography;
using System.Text.Json;
using MlxBench.Server.Scheduling;

namespace MlxBench.Server.Api;

/// <summary>The sampling and streaming fields both /v1/completions and /v1/chat/completions take, read and checked once.</summary>
internal sealed record GenerationParameters
{
    public const int MaxChoices = 16;
    public const int MaxStops = 16;

    public string? Model { get; init; }
    public int? MaxTokens { get; init; }
    public float Temperature { get; init; } = 1;
    public float TopP { get; init; } = 1;
    public ulong Seed { get; init; }
    public int N { get; init; } = 1;
    public IReadOnlyList<string> Stop { get; init; } = [];
    public bool Stream { get; init; }
    public bool IncludeUsage { get; init; }
    /// <summary>vLLM's extension: keep generating through end-of-generation tokens (benchmarks want exact lengths).</summary>
    public bool IgnoreEos { get; init; }

    public static GenerationParameters Read(JsonFields f, string maxTokensField)
    {
        // Fields this server accepts but does not act on are still type-checked, so a client's mistake is reported.
        f.Number("presence_penalty", -2, 2);
        f.Number("frequency_penalty", -2, 2);
        f.Number("repetition_penalty", 0, 10);
        f.String("user");
        if (f.Get("logit_bias") is { } bias && bias.ValueKind != JsonValueKind.Object) throw JsonFields.WrongType("logit_bias", "an object", bias);

        int? maxTokens = f.Int(maxTokensField, 0, int.MaxValue);
        if (maxTokens is null && maxTokensField != "max_tokens") maxTokens = f.Int("max_tokens", 0, int.MaxValue);
        long? seed = f.Get("seed") is { } s
            ? s.ValueKind == JsonValueKind.Number && s.TryGetInt64(out long v) ? v : throw JsonFields.WrongType("seed", "an integer", s)
            : null;
        bool includeUsage = false;
        if (f.Get("stream_options") is { } options)
        {
            if (options.ValueKind != JsonValueKind.Object) throw JsonFields.WrongType("stream_options", "an object", options);
            includeUsage = new JsonFields(options).Bool("include_usage") ?? false;
        }
        return new GenerationParameters
        {
            Model = f.String("model"),
            MaxTokens = maxTokens,
            Temperature = (float)(f.Number("temperature", 0, 100) ?? 1),
            TopP = (float)(f.Number("top_p", 0, 1) ?? 1),
            Seed = seed is { } given ? unchecked((ulong)given) : BitConverter.ToUInt64(RandomNumberGenerator.GetBytes(8)),
            N = f.Int("n", 1, MaxChoices) ?? 1,
            Stop = f.StringOrList("stop", MaxStops),
            Stream = f.Bool("stream") ?? false,
            IncludeUsage = includeUsage,
            IgnoreEos = f.Bool("ignore_eos") ?? false,
        };
    }

    /// <summary>The token budget for one prompt, refusing what cannot fit the context (vLLM's rule: prompt + max_tokens
    /// &lt;= context). Without max_tokens: <paramref name="defaultMax"/> or what is left of the context.</summary>
    public int BudgetFor(int promptTokens, int contextSize, int? defaultMax, string promptParam)
    {
        if (promptTokens == 0) throw ApiError.BadRequest("The prompt is empty: give at least one token.", promptParam);
        if (promptTokens > contextSize)
            throw ApiError.BadRequest($"This model's maximum context length is {contextSize} tokens, but the prompt has {promptTokens} tokens. Shorten the prompt.", promptParam);
        if (MaxTokens is { } max)
        {
            if ((long)promptTokens + max > contextSize)
                throw ApiError.BadRequest($"This model's maximum context length is {contextSize} tokens. However, you requested {(long)promptTokens + max} tokens ({promptTokens} in the prompt, {max} in the completion). Reduce the prompt or max_tokens.", "max_tokens");
            return max;
        }
        return Math.Min(defaultMax ?? int.MaxValue, contextSize - promptTokens);
    }

    public SamplingSettings SamplingFor(int choice) => new(Temperature, TopP, unchecked(Seed + (ulong)choice));
}
