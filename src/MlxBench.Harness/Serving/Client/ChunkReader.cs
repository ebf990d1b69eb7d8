using System.Text;
using System.Text.Json;

namespace MlxBench.Harness.Serving.Client;

/// <summary>What one completion chunk (or a whole non-streamed completion) says, read without building a DOM.</summary>
internal struct ChunkInfo
{
    /// <summary>A non-empty <c>choices</c> array: vLLM's test for a token-bearing message.</summary>
    public bool HasChoices;
    /// <summary>The first choice carries non-empty <c>text</c>, <c>delta.content</c>, reasoning or <c>message.content</c>.</summary>
    public bool HasText;
    /// <summary>The first choice has a non-null <c>finish_reason</c>.</summary>
    public bool Finishes;
    /// <summary>The first choice's <c>delta</c> has a <c>role</c> (a chat stream's opening message).</summary>
    public bool HasRole;
    public int? CompletionTokens;
    public int? PromptTokens;
    public string? Error;
}

internal static class ChunkReader
{
    private static ReadOnlySpan<byte> Choices => "choices"u8;
    private static ReadOnlySpan<byte> Usage => "usage"u8;
    private static ReadOnlySpan<byte> ErrorName => "error"u8;

    /// <summary>Reads a completions or chat completions object; throws <see cref="JsonException"/> on malformed JSON.</summary>
    public static ChunkInfo Read(ReadOnlySpan<byte> json)
    {
        var info = new ChunkInfo();
        var reader = new Utf8JsonReader(json);
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            throw new JsonException("a completion chunk is not a JSON object");
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals(Choices))
            {
                reader.Read();
                if (reader.TokenType == JsonTokenType.StartArray) ReadChoices(ref reader, ref info);
                else reader.Skip();
            }
            else if (reader.ValueTextEquals(Usage))
            {
                reader.Read();
                if (reader.TokenType == JsonTokenType.StartObject) ReadUsage(ref reader, ref info);
                else reader.Skip();
            }
            else if (reader.ValueTextEquals(ErrorName))
            {
                reader.Read();
                info.Error = ReadError(ref reader);
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }
        return info;
    }

    private static void ReadChoices(ref Utf8JsonReader reader, ref ChunkInfo info)
    {
        bool first = true;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            info.HasChoices = true;
            if (first && reader.TokenType == JsonTokenType.StartObject) ReadFirstChoice(ref reader, ref info);
            else reader.Skip();
            first = false;
        }
    }

    /// <summary>Reads one choice object to its end: whether it carries text, a finish reason, a role.</summary>
    private static void ReadFirstChoice(ref Utf8JsonReader reader, ref ChunkInfo info)
    {
        int depth = reader.CurrentDepth;
        while (reader.Read() && !(reader.TokenType == JsonTokenType.EndObject && reader.CurrentDepth == depth))
        {
            if (reader.TokenType != JsonTokenType.PropertyName) continue;
            bool textual = reader.ValueTextEquals("text"u8) || reader.ValueTextEquals("content"u8)
                || reader.ValueTextEquals("reasoning_content"u8) || reader.ValueTextEquals("reasoning"u8);
            bool container = reader.ValueTextEquals("delta"u8) || reader.ValueTextEquals("message"u8);
            bool finish = reader.CurrentDepth == depth + 1 && reader.ValueTextEquals("finish_reason"u8);
            bool role = reader.CurrentDepth == depth + 2 && reader.ValueTextEquals("role"u8);
            reader.Read();
            if (textual && reader.TokenType == JsonTokenType.String && reader.ValueSpan.Length > 0) info.HasText = true;
            else if (finish) info.Finishes = reader.TokenType == JsonTokenType.String;
            else if (role) info.HasRole = true;
            else if (!container) reader.Skip();
            // delta/message objects are walked into: their "content" is read by the loop above.
        }
    }

    private static void ReadUsage(ref Utf8JsonReader reader, ref ChunkInfo info)
    {
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            bool completion = reader.ValueTextEquals("completion_tokens"u8);
            bool prompt = reader.ValueTextEquals("prompt_tokens"u8);
            reader.Read();
            if (reader.TokenType == JsonTokenType.Number && reader.TryGetInt32(out int value))
            {
                if (completion) info.CompletionTokens = value;
                else if (prompt) info.PromptTokens = value;
            }
            else reader.Skip();
        }
    }

    private static string ReadError(ref Utf8JsonReader reader)
    {
        if (reader.TokenType == JsonTokenType.String) return reader.GetString() ?? "error";
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            reader.Skip();
            return "error";
        }
        string message = "error";
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            bool isMessage = reader.ValueTextEquals("message"u8);
            reader.Read();
            if (isMessage && reader.TokenType == JsonTokenType.String) message = reader.GetString() ?? message;
            else reader.Skip();
        }
        return message;
    }

    public static string Preview(ReadOnlySpan<byte> body) =>
        Encoding.UTF8.GetString(body[..Math.Min(body.Length, 300)]).ReplaceLineEndings(" ");
}
