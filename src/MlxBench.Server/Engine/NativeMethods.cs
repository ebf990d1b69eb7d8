using System.Runtime.InteropServices;

namespace MlxBench.Server.Engine;

/// <summary>Status codes of <c>mlxb_status</c> (native/include/mlxb.h).</summary>
internal enum MlxbStatus
{
    Ok = 0,
    ContextFull = 1,
    ErrArg = -1,
    ErrIo = -2,
    ErrFormat = -3,
    ErrNoMem = -4,
    ErrUnsupported = -5,
    ErrInternal = -6,
}

[StructLayout(LayoutKind.Sequential)]
internal struct MlxbModelParams
{
    public int VocabOnly;
    public int Reserved;
}

[StructLayout(LayoutKind.Sequential)]
internal struct MlxbContextParams
{
    public int NCtx;
    public int NSeqMax;
    public int NBatch;
    public int NThreads;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct MlxbBatch
{
    public int NTokens;
    public int* Tokens;
    public int* SeqIds;
    public int* Pos;
    public sbyte* WantLogits;
}

[StructLayout(LayoutKind.Sequential)]
internal struct MlxbSamplerParams
{
    public float Temperature;
    public int TopK;
    public float TopP;
    public float MinP;
    public ulong Seed;
}

/// <summary>
/// The C API of libmlxbench, one declaration per function of <c>mlxb.h</c> (API version 1). The library is found by
/// <see cref="EngineLibrary"/>: an explicit path (<c>--engine-library</c> or <c>MLXBENCH_ENGINE_LIBRARY</c>) wins over
/// the normal probing.
/// </summary>
internal static unsafe partial class NativeMethods
{
    public const string Library = "mlxbench";
    public const int ApiVersion = 1;

    public const int TokenizeAddBos = 1;
    public const int TokenizeParseSpecial = 2;
    public const int DetokRenderSpecial = 1;
    public const int DetokStripLeading = 2;

    [LibraryImport(Library, EntryPoint = "mlxb_api_version")] public static partial int ApiVersionOf();
    [LibraryImport(Library, EntryPoint = "mlxb_last_error")] public static partial nint LastError();
    [LibraryImport(Library, EntryPoint = "mlxb_system_info")] public static partial nint SystemInfo();

    [LibraryImport(Library, EntryPoint = "mlxb_model_default_params")] public static partial MlxbModelParams ModelDefaultParams();
    [LibraryImport(Library, EntryPoint = "mlxb_model_load", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int ModelLoad(string path, MlxbModelParams* parameters, nint* model);
    [LibraryImport(Library, EntryPoint = "mlxb_model_free")] public static partial void ModelFree(nint model);
    [LibraryImport(Library, EntryPoint = "mlxb_model_n_vocab")] public static partial int ModelNVocab(nint model);
    [LibraryImport(Library, EntryPoint = "mlxb_model_n_ctx_train")] public static partial int ModelNCtxTrain(nint model);
    [LibraryImport(Library, EntryPoint = "mlxb_model_n_params")] public static partial long ModelNParams(nint model);
    [LibraryImport(Library, EntryPoint = "mlxb_model_token_bos")] public static partial int ModelTokenBos(nint model);
    [LibraryImport(Library, EntryPoint = "mlxb_model_token_eos")] public static partial int ModelTokenEos(nint model);
    [LibraryImport(Library, EntryPoint = "mlxb_model_add_bos")] public static partial int ModelAddBos(nint model);
    [LibraryImport(Library, EntryPoint = "mlxb_token_is_eog")] public static partial int TokenIsEog(nint model, int token);
    [LibraryImport(Library, EntryPoint = "mlxb_token_is_control")] public static partial int TokenIsControl(nint model, int token);
    [LibraryImport(Library, EntryPoint = "mlxb_model_meta_str", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int ModelMetaStr(nint model, string key, byte* buffer, int capacity);

    [LibraryImport(Library, EntryPoint = "mlxb_tokenize")]
    public static partial int Tokenize(nint model, byte* text, int length, int* output, int capacity, int flags);
    [LibraryImport(Library, EntryPoint = "mlxb_token_to_piece")]
    public static partial int TokenToPiece(nint model, int token, byte* buffer, int capacity, int flags);
    [LibraryImport(Library, EntryPoint = "mlxb_detokenize")]
    public static partial int Detokenize(nint model, int* tokens, int count, byte* buffer, int capacity, int flags);

    [LibraryImport(Library, EntryPoint = "mlxb_context_default_params")] public static partial MlxbContextParams ContextDefaultParams();
    [LibraryImport(Library, EntryPoint = "mlxb_context_new")]
    public static partial int ContextNew(nint model, MlxbContextParams* parameters, nint* context);
    [LibraryImport(Library, EntryPoint = "mlxb_context_free")] public static partial void ContextFree(nint context);
    [LibraryImport(Library, EntryPoint = "mlxb_context_n_ctx")] public static partial int ContextNCtx(nint context);
    [LibraryImport(Library, EntryPoint = "mlxb_context_n_seq_max")] public static partial int ContextNSeqMax(nint context);
    [LibraryImport(Library, EntryPoint = "mlxb_context_n_batch")] public static partial int ContextNBatch(nint context);
    [LibraryImport(Library, EntryPoint = "mlxb_context_n_threads")] public static partial int ContextNThreads(nint context);

    [LibraryImport(Library, EntryPoint = "mlxb_seq_len")] public static partial int SeqLen(nint context, int seq);
    [LibraryImport(Library, EntryPoint = "mlxb_seq_truncate")] public static partial int SeqTruncate(nint context, int seq, int keep);
    [LibraryImport(Library, EntryPoint = "mlxb_seq_copy")] public static partial int SeqCopy(nint context, int source, int destination, int count);

    [LibraryImport(Library, EntryPoint = "mlxb_decode")] public static partial int Decode(nint context, MlxbBatch* batch);
    [LibraryImport(Library, EntryPoint = "mlxb_get_logits")] public static partial float* GetLogits(nint context, int row);
    [LibraryImport(Library, EntryPoint = "mlxb_get_logprobs")]
    public static partial int GetLogprobs(nint context, int row, float* logprobs, int capacity);
    [LibraryImport(Library, EntryPoint = "mlxb_get_token_logprob")]
    public static partial int GetTokenLogprob(nint context, int row, int token, float* logprob);
    [LibraryImport(Library, EntryPoint = "mlxb_get_top_logprobs")]
    public static partial int GetTopLogprobs(nint context, int row, int count, int* tokens, float* logprobs);

    [LibraryImport(Library, EntryPoint = "mlxb_sampler_default_params")] public static partial MlxbSamplerParams SamplerDefaultParams();
    [LibraryImport(Library, EntryPoint = "mlxb_sampler_new")]
    public static partial int SamplerNew(nint model, MlxbSamplerParams* parameters, nint* sampler);
    [LibraryImport(Library, EntryPoint = "mlxb_sampler_free")] public static partial void SamplerFree(nint sampler);
    [LibraryImport(Library, EntryPoint = "mlxb_sampler_sample")] public static partial int SamplerSample(nint sampler, nint context, int row);

    /// <summary>The engine's message for the last failure on this thread.</summary>
    public static string LastErrorMessage() => Marshal.PtrToStringUTF8(LastError()) ?? "";
}

/// <summary>A failed engine call, with its status and the engine's own message.</summary>
internal sealed class EngineException(string call, int status, string message)
    : Exception($"{call} failed ({(MlxbStatus)status}): {message}")
{
    public MlxbStatus Status { get; } = (MlxbStatus)status;

    public static void ThrowIfFailed(int status, string call)
    {
        if (status < 0) throw new EngineException(call, status, NativeMethods.LastErrorMessage());
    }
}
