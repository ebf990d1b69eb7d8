using System.Text;

namespace MlxBench.Server.Text;

/// <summary>
/// Turns generated token pieces into text that is safe to send: bytes are held until they form whole UTF-8 characters
/// (a byte-fallback token can carry half of one), and the tail that could still become a stop sequence is held until
/// it is known not to. A stop sequence is never emitted, however the tokens split it.
/// </summary>
internal sealed class TextAssembler
{
    private readonly string[] _stops;
    private readonly int _longestStop;
    private readonly Decoder _decoder = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false).GetDecoder();
    private readonly StringBuilder _held = new();
    private char[] _chars = new char[64];

    public TextAssembler(IReadOnlyList<string> stops)
    {
        _stops = stops.Where(s => s.Length > 0).Distinct(StringComparer.Ordinal).ToArray();
        _longestStop = _stops.Length == 0 ? 0 : _stops.Max(s => s.Length);
    }

    /// <summary>True once a stop sequence has been seen; nothing after it is ever emitted.</summary>
    public bool Stopped { get; private set; }

    /// <summary>Adds one token's bytes; returns the text that can be sent now (often empty).</summary>
    public string Add(ReadOnlySpan<byte> piece)
    {
        if (Stopped) return "";
        int needed = _decoder.GetCharCount(piece, flush: false);
        if (needed > _chars.Length) _chars = new char[Math.Max(needed, _chars.Length * 2)];
        int n = _decoder.GetChars(piece, _chars, flush: false);
        if (n == 0) return "";
        _held.Append(_chars, 0, n);
        return Release();
    }

    /// <summary>Ends the text: whatever is held (and any dangling partial character, as U+FFFD) is released.</summary>
    public string Finish()
    {
        if (Stopped) return "";
        int n = _decoder.GetChars(ReadOnlySpan<byte>.Empty, _chars, flush: true);
        _held.Append(_chars, 0, n);
        string rest = _held.ToString();
        _held.Clear();
        int stop = FirstStop(rest);
        if (stop >= 0)
        {
            Stopped = true;
            return rest[..stop];
        }
        return rest;
    }

    private string Release()
    {
        if (_stops.Length == 0)
        {
            string all = _held.ToString();
            _held.Clear();
            return all;
        }
        string held = _held.ToString();
        int stop = FirstStop(held);
        if (stop >= 0)
        {
            Stopped = true;
            _held.Clear();
            return held[..stop];
        }
        int keep = LongestStopPrefixSuffix(held);
        string ready = held[..^keep];
        _held.Remove(0, ready.Length);
        return ready;
    }

    private int FirstStop(string text)
    {
        int first = -1;
        foreach (string stop in _stops)
        {
            int at = text.IndexOf(stop, StringComparison.Ordinal);
            if (at >= 0 && (first < 0 || at < first)) first = at;
        }
        return first;
    }

    /// <summary>The length of the longest suffix of <paramref name="text"/> that is a proper prefix of some stop sequence.</summary>
    private int LongestStopPrefixSuffix(string text)
    {
        int max = Math.Min(text.Length, _longestStop - 1);
        for (int length = max; length > 0; length--)
        {
            ReadOnlySpan<char> suffix = text.AsSpan(text.Length - length);
            foreach (string stop in _stops)
                if (stop.Length > length && stop.AsSpan().StartsWith(suffix, StringComparison.Ordinal))
                    return length;
        }
        return 0;
    }
}
