using MlxBench.Server.Engine;

namespace MlxBench.Server.Api;

/// <summary>
/// <c>logprobs.text_offset</c>: where each token's text starts in the choice's <c>text</c>, in code points (what
/// Python's <c>len</c> counts, and what lm-eval's gguf backend compares with). Counted from the tokens' bytes: a code
/// point starts at every byte that is not a UTF-8 continuation byte.
/// </summary>
internal sealed class TextOffsets(EngineModel model)
{
    private int _codePoints;

    public int Position => _codePoints;

    public void MoveTo(int codePoints) => _codePoints = codePoints;

    /// <summary>Offsets of a prompt's tokens, rendered as a whole with the leading SentencePiece space dropped.</summary>
    public int[] ForPrompt(ReadOnlySpan<int> tokens)
    {
        int raw = 0;
        foreach (int t in tokens) raw += model.Piece(t).Length;
        int stripped = System.Text.Encoding.UTF8.GetByteCount(model.Detokenize(tokens, stripLeading: true));
        int drop = Math.Max(0, raw - stripped);   // the stripped leading space (0 or 1 byte)
        var offsets = new int[tokens.Length];
        for (int i = 0; i < tokens.Length; i++)
        {
            offsets[i] = _codePoints;
            ReadOnlySpan<byte> piece = model.Piece(tokens[i]);
            if (drop > 0 && piece.Length > 0)
            {
                int skip = Math.Min(drop, piece.Length);
                piece = piece[skip..];
                drop -= skip;
            }
            Count(piece);
        }
        return offsets;
    }

    /// <summary>Offset of a generated token, then advances past it.</summary>
    public int Next(int token)
    {
        int at = _codePoints;
        Count(model.Piece(token));
        return at;
    }

    private void Count(ReadOnlySpan<byte> bytes)
    {
        foreach (byte b in bytes)
            if ((b & 0xC0) != 0x80) _codePoints++;
    }
}
