using System.Text.Json;

namespace MlxBench.Core.Cells;

/// <summary>A cell as JSON: how planned cells travel from one MSBuild task to the next, and what <c>cell.json</c> holds.</summary>
public static class BenchCellJson
{
    private static readonly JsonSerializerOptions s_options = new() { WriteIndented = false };

    public static string Serialize(BenchCell cell) => JsonSerializer.Serialize(cell, s_options);

    public static BenchCell Deserialize(string json) =>
        JsonSerializer.Deserialize<BenchCell>(json, s_options) ?? throw new JsonException("a cell is JSON null");
}
