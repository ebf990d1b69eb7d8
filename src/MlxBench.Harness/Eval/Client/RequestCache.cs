using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace MlxBench.Harness.Eval.Client;

/// <summary>
/// Responses on disk, keyed by the SHA-256 of the request (endpoint path and body, never the host, so a server
/// restarted on another port still hits). Append-only JSON Lines, one line flushed per response: a run killed at any
/// point keeps everything answered before it, and a torn last line is ignored on load.
/// </summary>
public sealed class RequestCache : IDisposable
{
    private readonly Dictionary<string, JsonNode> _entries = new(StringComparer.Ordinal);
    private readonly StreamWriter _writer;
    private readonly Lock _lock = new();

    public RequestCache(string path)
    {
        Path = path;
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!);
        if (File.Exists(path))
        {
            foreach (string line in File.ReadLines(path))
            {
                try
                {
                    if (JsonNode.Parse(line) is JsonObject { } entry && (string?)entry["key"] is { } key && entry["response"] is { } response)
                        _entries[key] = response.DeepClone();
                }
                catch (System.Text.Json.JsonException)
                {
                    // A line cut short by a kill: that response is simply asked again.
                }
            }
        }
        var stream = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read);
        // Start on a fresh line in case the previous run died mid-line.
        if (stream.Length > 0) stream.WriteByte((byte)'\n');
        _writer = new StreamWriter(stream, new UTF8Encoding(false));
    }

    public string Path { get; }
    public int Count { get { lock (_lock) return _entries.Count; } }
    public int Hits { get; private set; }
    public int Misses { get; private set; }

    public static string KeyOf(string path, JsonObject body) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(path + "\n" + body.ToJsonString())));

    public bool TryGet(string key, out JsonNode response)
    {
        lock (_lock)
        {
            if (_entries.TryGetValue(key, out JsonNode? found))
            {
                Hits++;
                response = found.DeepClone();
                return true;
            }
            Misses++;
            response = null!;
            return false;
        }
    }

    public void Put(string key, JsonNode response)
    {
        lock (_lock)
        {
            _entries[key] = response.DeepClone();
            _writer.Write(new JsonObject { ["key"] = key, ["response"] = response.DeepClone() }.ToJsonString());
            _writer.Write('\n');
            _writer.Flush();
        }
    }

    public void Dispose()
    {
        lock (_lock) _writer.Dispose();
    }
}
