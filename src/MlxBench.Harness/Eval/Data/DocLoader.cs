using System.Collections;
using System.Text.Json;
using System.Text.Json.Nodes;
using Parquet.Serialization;

namespace MlxBench.Harness.Eval.Data;

/// <summary>A data file (or glob) could not be found or read; the message says which and why.</summary>
public sealed class DataException(string message) : Exception(message);

/// <summary>
/// Reads a data set's rows as JSON objects, in file order: JSON Lines (<c>.jsonl</c>), a JSON array (<c>.json</c>), or
/// parquet (the format of HuggingFace dataset repositories). A file name may be a glob (<c>test-*.parquet</c>); the
/// matching files are read in ordinal name order, as the shards of a split.
/// </summary>
public static class DocLoader
{
    public static async Task<List<JsonObject>> LoadAsync(IReadOnlyList<string> files, CancellationToken cancellationToken)
    {
        var rows = new List<JsonObject>();
        foreach (string file in files)
            rows.AddRange(await LoadFileAsync(file, cancellationToken));
        return rows;
    }

    /// <summary>Expands a path whose file name may hold <c>*</c> or <c>?</c>; a missing file or an empty match is an error.</summary>
    public static IReadOnlyList<string> Expand(string path)
    {
        string name = Path.GetFileName(path);
        if (name.IndexOfAny(['*', '?']) < 0)
            return File.Exists(path) ? [path] : throw new DataException($"{path} does not exist");
        string directory = Path.GetDirectoryName(path) is { Length: > 0 } d ? d : ".";
        string[] matches = Directory.Exists(directory) ? Directory.GetFiles(directory, name).Order(StringComparer.Ordinal).ToArray() : [];
        return matches.Length > 0 ? matches : throw new DataException($"no file matches {path}");
    }

    public static async Task<List<JsonObject>> LoadFileAsync(string file, CancellationToken cancellationToken)
    {
        try
        {
            string extension = Path.GetExtension(file).ToLowerInvariant();
            return extension switch
            {
                ".jsonl" or ".ndjson" => ReadJsonLines(file, await File.ReadAllTextAsync(file, cancellationToken)),
                ".json" => ReadJsonArray(file, await File.ReadAllTextAsync(file, cancellationToken)),
                ".parquet" => await ReadParquetAsync(file, cancellationToken),
                _ => throw new DataException($"{file}: unknown data format \"{extension}\" (use .jsonl, .json or .parquet)"),
            };
        }
        catch (IOException e)
        {
            throw new DataException($"{file} could not be read: {e.Message}");
        }
    }

    private static List<JsonObject> ReadJsonLines(string file, string text)
    {
        var rows = new List<JsonObject>();
        int lineNumber = 0;
        foreach (string line in text.Split('\n'))
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            try
            {
                rows.Add(JsonNode.Parse(line) as JsonObject ?? throw new DataException($"{file}:{lineNumber}: a line is not a JSON object"));
            }
            catch (JsonException e)
            {
                throw new DataException($"{file}:{lineNumber}: not valid JSON ({e.Message})");
            }
        }
        return rows;
    }

    private static List<JsonObject> ReadJsonArray(string file, string text)
    {
        try
        {
            if (JsonNode.Parse(text) is JsonArray array && array.All(n => n is JsonObject))
                return array.Select(n => (JsonObject)n!.DeepClone()).ToList();
        }
        catch (JsonException e)
        {
            throw new DataException($"{file}: not valid JSON ({e.Message})");
        }
        throw new DataException($"{file}: expected a JSON array of objects (or use JSON Lines, .jsonl)");
    }

    private static async Task<List<JsonObject>> ReadParquetAsync(string file, CancellationToken cancellationToken)
    {
        await using FileStream stream = File.OpenRead(file);
        DeserializationResult<Dictionary<string, object>> result;
        try
        {
            result = await ParquetSerializer.DeserializeUntypedAsync(stream, cancellationToken: cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            throw new DataException($"{file}: not a readable parquet file ({e.Message})");
        }
        string[] columns = result.Schema.Fields.Select(f => f.Name).ToArray();
        return result.Data.Select(row =>
        {
            var obj = new JsonObject();
            foreach (string column in columns) obj[column] = ToJson(row.GetValueOrDefault(column));
            return obj;
        }).ToList();
    }

    private static JsonNode? ToJson(object? value) => value switch
    {
        null => null,
        string s => JsonValue.Create(s),
        bool b => JsonValue.Create(b),
        IDictionary<string, object> map => new JsonObject(map.Select(p => KeyValuePair.Create(p.Key, ToJson(p.Value)))),
        IEnumerable list and not byte[] => new JsonArray(list.Cast<object?>().Select(ToJson).ToArray()),
        byte[] bytes => JsonValue.Create(Convert.ToBase64String(bytes)),
        int or long or short or sbyte or byte or uint or ushort or ulong => JsonValue.Create(Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture)),
        float f => JsonValue.Create((double)f),
        double d => JsonValue.Create(d),
        decimal m => JsonValue.Create((double)m),
        _ => JsonValue.Create(Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture)),
    };
}
