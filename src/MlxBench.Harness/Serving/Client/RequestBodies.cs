using System.Buffers;
using System.Text.Json;
using MlxBench.Harness.Serving.Workloads;

namespace MlxBench.Harness.Serving.Client;

/// <summary>
/// The JSON bodies vLLM's <c>openai</c> and <c>openai-chat</c> backends send: <c>prompt</c> (text or ids) with
/// <c>max_tokens</c>, or one user message with <c>max_completion_tokens</c> (and <c>max_tokens</c> for older servers);
/// <c>stream_options.include_usage</c> when streaming, <c>ignore_eos</c> only when on.
/// </summary>
public sealed record RequestBodies(ServingApi Api, string Model, bool Stream, bool IgnoreEos, double? Temperature)
{
    public byte[] Build(ServingPrompt prompt)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("model", Model);
            if (Api == ServingApi.Chat)
            {
                json.WritePropertyName("messages");
                if (prompt.MessagesJson is { } messages) json.WriteRawValue(messages, skipInputValidation: true);
                else
                {
                    json.WriteStartArray();
                    json.WriteStartObject();
                    json.WriteString("role", "user");
                    json.WriteString("content", prompt.Text ?? throw new InvalidOperationException("a chat prompt needs text"));
                    json.WriteEndObject();
                    json.WriteEndArray();
                }
                json.WriteNumber("max_completion_tokens", prompt.OutputTokens);
                json.WriteNumber("max_tokens", prompt.OutputTokens);
            }
            else
            {
                if (prompt.TokenIds is { } ids)
                {
                    json.WriteStartArray("prompt");
                    foreach (int id in ids) json.WriteNumberValue(id);
                    json.WriteEndArray();
                }
                else json.WriteString("prompt", prompt.Text ?? throw new InvalidOperationException("a completions prompt needs text or ids"));
                json.WriteNumber("max_tokens", prompt.OutputTokens);
            }
            if (Temperature is { } t) json.WriteNumber("temperature", t);
            json.WriteBoolean("stream", Stream);
            if (Stream)
            {
                json.WriteStartObject("stream_options");
                json.WriteBoolean("include_usage", true);
                json.WriteEndObject();
            }
            if (IgnoreEos) json.WriteBoolean("ignore_eos", true);
            json.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }
}
