using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace MlxBench.Core.Envelopes;

/// <summary>Reads and writes envelopes in their snake_case wire form.</summary>
public static class EnvelopeJson
{
    public static JsonSerializerOptions Options { get; } = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        WriteIndented = true,
        // Envelopes are read by Python and JavaScript tools: keep non-ASCII text readable rather than \u-escaped.
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public static Envelope Parse(string json) =>
        JsonSerializer.Deserialize<Envelope>(json, Options) ?? throw new JsonException("the envelope is JSON null");

    public static string Serialize(Envelope envelope) => JsonSerializer.Serialize(envelope, Options) + "\n";

    /// <summary>Writes the envelope next to <paramref name="path"/> under a temporary name, then moves it into place.</summary>
    public static void WriteAtomically(Envelope envelope, string path) =>
        AtomicFile.WriteAllText(path, Serialize(envelope));
}

/// <summary>Writes files so a reader never sees half of one: temp file in the same folder, then a rename.</summary>
public static class AtomicFile
{
    public static void WriteAllText(string path, string text) => WriteAllBytes(path, new UTF8Encoding(false).GetBytes(text));

    public static void WriteAllBytes(string path, ReadOnlySpan<byte> bytes) =>
        WriteThenMove(path, bytes, temp => { File.Move(temp, path, overwrite: true); return true; });

    /// <summary>Like <see cref="WriteAllBytes"/> but never replaces an existing file; returns false when one exists.</summary>
    public static bool TryCreateNew(string path, ReadOnlySpan<byte> bytes) =>
        WriteThenMove(path, bytes, temp =>
        {
            try
            {
                File.Move(temp, path, overwrite: false);
                return true;
            }
            catch (IOException) when (File.Exists(path))
            {
                return false;
            }
        });

    private static bool WriteThenMove(string path, ReadOnlySpan<byte> bytes, Func<string, bool> move)
    {
        string directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(directory);
        string temp = Path.Combine(directory, $".{Path.GetFileName(path)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write))
            {
                stream.Write(bytes);
                stream.Flush(flushToDisk: true);
            }
            return move(temp);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }
}
