using System.Text.Json;
using System.Text.Json.Nodes;

namespace MlxBench.Core.Models;

/// <summary>
/// A model given as a folder (an MLX-community style conversion: <c>config.json</c>, <c>*.safetensors</c>,
/// <c>tokenizer.json</c>): what identifies its content for a fingerprint, and the quantization its config declares.
/// </summary>
public static class ModelFolder
{
    /// <summary>The files that make up the model, relative to the folder, in a stable order (hidden files left out).</summary>
    public static IReadOnlyList<string> Files(string folder) =>
        Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(folder, f).Replace('\\', '/'))
            .Where(f => !f.Split('/').Any(part => part.StartsWith('.')))
            .Order(StringComparer.Ordinal)
            .ToList();

    /// <summary>
    /// <c>mlx-4bit</c>, <c>mlx-8bit</c>, ... from <c>config.json</c>'s <c>quantization</c> (or
    /// <c>quantization_config</c>) <c>bits</c>, as mlx-lm writes it; null for an unquantized model or no config.
    /// </summary>
    public static string? Quantization(string folder)
    {
        string config = Path.Combine(folder, "config.json");
        if (!File.Exists(config)) return null;
        try
        {
            JsonNode? root = JsonNode.Parse(File.ReadAllText(config));
            JsonNode? quantization = root?["quantization"] ?? root?["quantization_config"];
            return quantization?["bits"] is JsonValue bits && bits.TryGetValue(out int b) && b > 0 ? $"mlx-{b}bit" : null;
        }
        catch (JsonException)
        {
            return null;   // the engine reports a broken config when it loads the model; the envelope just says nothing
        }
    }
}
