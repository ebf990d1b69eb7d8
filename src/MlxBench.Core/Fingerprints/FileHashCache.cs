using System.Security.Cryptography;
using System.Text.Json;

namespace MlxBench.Core.Fingerprints;

/// <summary>
/// SHA-256 of files that feed fingerprints (model weights, task data), remembered by path, size and write time so a
/// no-op build does not re-read gigabytes of weights. The cache file is rewritten atomically only when it changed.
/// </summary>
public sealed class FileHashCache
{
    private sealed record Entry(long Size, long WriteTimeTicks, string Sha256);

    private readonly string? _cachePath;
    private readonly Dictionary<string, Entry> _entries;
    private bool _dirty;

    public FileHashCache(string? cachePath)
    {
        _cachePath = cachePath;
        _entries = Load(cachePath);
    }

    public string HashOf(string path)
    {
        var info = new FileInfo(path);
        string key = info.FullName;
        if (_entries.TryGetValue(key, out Entry? entry) && entry.Size == info.Length && entry.WriteTimeTicks == info.LastWriteTimeUtc.Ticks)
            return entry.Sha256;

        string hash;
        using (FileStream stream = info.OpenRead())
            hash = Convert.ToHexStringLower(SHA256.HashData(stream));
        _entries[key] = new Entry(info.Length, info.LastWriteTimeUtc.Ticks, hash);
        _dirty = true;
        return hash;
    }

    public void Save()
    {
        if (!_dirty || _cachePath is null) return;
        Envelopes.AtomicFile.WriteAllText(_cachePath, JsonSerializer.Serialize(_entries));
        _dirty = false;
    }

    private static Dictionary<string, Entry> Load(string? path)
    {
        if (path is null || !File.Exists(path)) return new Dictionary<string, Entry>(StringComparer.Ordinal);
        try
        {
            return JsonSerializer.Deserialize<Dictionary<string, Entry>>(File.ReadAllText(path)) ?? new(StringComparer.Ordinal);
        }
        catch (JsonException)
        {
            // A damaged cache only costs re-hashing; it is rewritten on the next save.
            return new Dictionary<string, Entry>(StringComparer.Ordinal);
        }
    }
}
