using System.Text.Json;

namespace MlxBench.Server.Api;

/// <summary>What every completion response and stream chunk opens with (OpenAI's shape): the object, its id, type,
/// creation time and model, then the <c>choices</c> array, left open for the caller.</summary>
internal static class ResponseHead
{
    public static void Write(Utf8JsonWriter w, string id, string objectType, long created, string model)
    {
        w.WriteStartObject();
        w.WriteString("id", id);
        w.WriteString("object", objectType);
        w.WriteNumber("created", created);
        w.WriteString("model", model);
        w.WriteStartArray("choices");
    }
}
