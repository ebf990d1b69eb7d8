using System.Text;

namespace MlxBench.Server.Engine;

/// <summary>
/// A loaded model (weights memory-mapped by the engine) and its vocabulary. Tokenizing and detokenizing are safe from
/// any thread (the engine allows that on a shared model); token pieces are read once at load so the hot path of
/// generation never calls into the library for them.
/// </summary>
internal sealed unsafe class EngineModel : IDisposable
{
    private nint _handle;
    private readonly byte[][] _pieces;      // raw bytes, control tokens as ""
    private readonly string[] _displayText; // for logprobs.tokens: control tokens rendered ("<s>")

    private EngineModel(nint handle, string path)
    {
        _handle = handle;
        Path = path;
        VocabSize = NativeMethods.ModelNVocab(handle);
        ContextTrain = NativeMethods.ModelNCtxTrain(handle);
        ParameterCount = NativeMethods.ModelNParams(handle);
        Bos = NativeMethods.ModelTokenBos(handle);
        Eos = NativeMethods.ModelTokenEos(handle);
        AddBos = NativeMethods.ModelAddBos(handle) != 0;
        ChatTemplate = Meta("tokenizer.chat_template");
        Architecture = Meta("general.architecture") ?? "unknown";
        _pieces = new byte[VocabSize][];
        _displayText = new string[VocabSize];
        var eog = new bool[VocabSize];
        for (int t = 0; t < VocabSize; t++)
        {
            _pieces[t] = PieceOf(t, 0);
            _displayText[t] = Encoding.UTF8.GetString(PieceOf(t, NativeMethods.DetokRenderSpecial));
            eog[t] = NativeMethods.TokenIsEog(handle, t) != 0;
        }
        _eog = eog;
        BosText = Bos >= 0 ? _displayText[Bos] : null;
        EosText = Eos >= 0 ? _displayText[Eos] : null;
    }

    private readonly bool[] _eog;

    public nint Handle => _handle != 0 ? _handle : throw new ObjectDisposedException(nameof(EngineModel));
    public string Path { get; }
    public int VocabSize { get; }
    public int ContextTrain { get; }
    public long ParameterCount { get; }
    public int Bos { get; }
    public int Eos { get; }
    public bool AddBos { get; }
    public string? BosText { get; }
    public string? EosText { get; }
    public string? ChatTemplate { get; }
    public string Architecture { get; }

    public static EngineModel Load(string path) => Load(path, vocabOnly: false);

    /// <summary>Only the vocabulary and metadata (a vocab-only GGUF has no tensors).</summary>
    internal static EngineModel LoadVocabOnly(string path, string? engineLibrary)
    {
        EngineLibrary.Configure(engineLibrary);
        return Load(path, vocabOnly: true);
    }

    private static EngineModel Load(string path, bool vocabOnly)
    {
        nint handle;
        MlxbModelParams parameters = NativeMethods.ModelDefaultParams();
        parameters.VocabOnly = vocabOnly ? 1 : 0;
        int status = NativeMethods.ModelLoad(path, &parameters, &handle);
        EngineException.ThrowIfFailed(status, "mlxb_model_load");
        return new EngineModel(handle, path);
    }

    public bool IsEndOfGeneration(int token) => (uint)token < (uint)_eog.Length && _eog[token];

    public bool IsValidToken(int token) => (uint)token < (uint)VocabSize;

    /// <summary>The raw bytes a token contributes to text (may be part of a UTF-8 sequence; control tokens give none).</summary>
    public ReadOnlySpan<byte> Piece(int token) => _pieces[token];

    /// <summary>A token as <c>logprobs.tokens</c> shows it.</summary>
    public string DisplayText(int token) => _displayText[token];

    public int[] Tokenize(string text, bool addBos, bool parseSpecial)
    {
        byte[] utf8 = Encoding.UTF8.GetBytes(text);
        int flags = (addBos ? NativeMethods.TokenizeAddBos : 0) | (parseSpecial ? NativeMethods.TokenizeParseSpecial : 0);
        fixed (byte* p = utf8)
        {
            int capacity = utf8.Length + 8;
            while (true)
            {
                int[] output = new int[capacity];
                int n;
                fixed (int* o = output) n = NativeMethods.Tokenize(Handle, p, utf8.Length, o, capacity, flags);
                if (n >= 0) return n == capacity ? output : output.AsSpan(0, n).ToArray();
                if (-n <= capacity) EngineException.ThrowIfFailed(n, "mlxb_tokenize");
                capacity = -n;
            }
        }
    }

    /// <summary>The text of a token sequence, the way the engine renders a whole prompt.</summary>
    public string Detokenize(ReadOnlySpan<int> tokens, bool stripLeading, bool renderSpecial = false)
    {
        int flags = (stripLeading ? NativeMethods.DetokStripLeading : 0) | (renderSpecial ? NativeMethods.DetokRenderSpecial : 0);
        if (tokens.IsEmpty) return "";
        fixed (int* t = tokens)
        {
            int capacity = tokens.Length * 8 + 16;
            while (true)
            {
                byte[] buffer = new byte[capacity];
                int n;
                fixed (byte* b = buffer) n = NativeMethods.Detokenize(Handle, t, tokens.Length, b, capacity, flags);
                if (n >= 0) return Encoding.UTF8.GetString(buffer, 0, n);
                if (-n <= capacity) EngineException.ThrowIfFailed(n, "mlxb_detokenize");
                capacity = -n;
            }
        }
    }

    public string? Meta(string key)
    {
        int n = NativeMethods.ModelMetaStr(_handle, key, null, 0);
        if (n < 0) return null;
        byte[] buffer = new byte[n + 1];
        fixed (byte* b = buffer) NativeMethods.ModelMetaStr(_handle, key, b, buffer.Length);
        return Encoding.UTF8.GetString(buffer, 0, n);
    }

    private byte[] PieceOf(int token, int flags)
    {
        Span<byte> small = stackalloc byte[64];
        fixed (byte* b = small)
        {
            int n = NativeMethods.TokenToPiece(_handle, token, b, small.Length, flags);
            if (n >= 0) return small[..n].ToArray();
            byte[] large = new byte[-n];
            fixed (byte* l = large) EngineException.ThrowIfFailed(NativeMethods.TokenToPiece(_handle, token, l, large.Length, flags), "mlxb_token_to_piece");
            return large;
        }
    }

    public void Dispose()
    {
        nint handle = Interlocked.Exchange(ref _handle, 0);
        if (handle != 0) NativeMethods.ModelFree(handle);
    }
}
