using System.Text.Json;
using System.Text.Json.Nodes;
using MlxBench.Core.Diagnostics;

namespace MlxBench.Harness.Serving.Workloads;

/// <summary>
/// Custom prompts, one JSON object per line: <c>"prompt"</c> (text or token ids) or <c>"messages"</c> (a chat
/// messages array), and optionally <c>"output_tokens"</c> (also read as <c>max_tokens</c> or <c>output_len</c>).
/// Lines are used in file order and repeated when Requests exceeds them (vLLM oversamples the same way).
/// </summary>
public static class JsonlPrompts
{
    public static ServingPrompt[] Read(string path, int count, int defaultOutputTokens)
    {
        var lines = new List<ServingPrompt>();
        int number = 0;
        foreach (string line in File.ReadLines(path))
        {
            number++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            lines.Add(Parse(path, number, line, defaultOutputTokens));
        }
        if (lines.Count == 0) throw new BenchException(BenchDiagnostic.Error("Serving.DatasetEmpty", path));
        return Enumerable.Range(0, count).Select(i => lines[i % lines.Count]).ToArray();
    }

    private static ServingPrompt Parse(string path, int number, string line, int defaultOutputTokens)
    {
        JsonObject item;
        try
        {
            item = JsonNode.Parse(line) as JsonObject ?? throw Bad("not a JSON object");
        }
        catch (JsonException e)
        {
            throw Bad($"not valid JSON ({e.Message})");
        }
        int output = defaultOutputTokens;
        if ((item["output_tokens"] ?? item["max_tokens"] ?? item["output_len"]) is { } outNode)
        {
            if (outNode is not JsonValue v || !v.TryGetValue(out int o) || o <= 0) throw Bad("\"output_tokens\" is not a positive whole number");
            output = o;
        }
        switch (item["prompt"], item["messages"])
        {
            case (JsonValue text, _) when text.TryGetValue(out string? s) && s.Length > 0:
                return new ServingPrompt(null, s, null, -1, output);
            case (JsonArray ids, _):
                int[] tokens = ids.Select(t => t is JsonValue tv && tv.TryGetValue(out int id) ? id : throw Bad("\"prompt\" array holds something other than token ids")).ToArray();
                if (tokens.Length == 0) throw Bad("\"prompt\" is empty");
                return ServingPrompt.FromIds(tokens, output);
            case (null, JsonArray messages) when messages.Count > 0:
                return new ServingPrompt(null, null, messages.ToJsonString(), -1, output);
            default:
                throw Bad("no non-empty \"prompt\" or \"messages\"");
        }

        BenchException Bad(string problem) => new(BenchDiagnostic.Error("Serving.BadDatasetLine", path, number, problem));
    }
}
