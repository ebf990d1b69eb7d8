#:property TargetFramework=net10.0
#:property AllowUnsafeBlocks=true
#:property TreatWarningsAsErrors=false
// Checks an eval run's per-choice log-likelihoods against the native engine directly: for every loglikelihood request
// in a samples_<task>_*.jsonl written by Harness="eval", tokenizes context and context+continuation with the engine
// (no BOS, as the evaluator's requests), runs the tokens through mlxb_decode, sums mlxb_get_token_logprob over the
// continuation (in float -> double, in order, as the evaluator sums the server's values), and compares.
//
//   dotnet run eng/bench/eval-engine-parity.cs -- <libmlxbench.so> <model.gguf> <samples.jsonl> [more samples files]
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json.Nodes;

if (args.Length < 3) { Console.Error.WriteLine("usage: eval-engine-parity.cs <libmlxbench.so> <model.gguf> <samples.jsonl>..."); return 2; }
nint lib = NativeLibrary.Load(args[0]);
T Fn<T>(string name) where T : Delegate => Marshal.GetDelegateForFunctionPointer<T>(NativeLibrary.GetExport(lib, name));
var load = Fn<ModelLoad>("mlxb_model_load");
var ctxNew = Fn<ContextNew>("mlxb_context_new");
var ctxDefaults = Fn<ContextDefaults>("mlxb_context_default_params");
var tokenize = Fn<Tokenize>("mlxb_tokenize");
var decode = Fn<Decode>("mlxb_decode");
var tokenLogprob = Fn<TokenLogprob>("mlxb_get_token_logprob");
var truncate = Fn<SeqTruncate>("mlxb_seq_truncate");

if (load(args[1], 0, out nint model) != 0) { Console.Error.WriteLine("model load failed"); return 1; }
ContextParams cp = ctxDefaults();
cp.n_ctx = 2048; cp.n_batch = 2048;
if (ctxNew(model, ref cp, out nint ctx) != 0) { Console.Error.WriteLine("context failed"); return 1; }

int[] Tok(string text)
{
    byte[] bytes = Encoding.UTF8.GetBytes(text);
    var buffer = new int[bytes.Length + 8];
    int n = tokenize(model, bytes, bytes.Length, buffer, buffer.Length, 0);
    if (n < 0) { buffer = new int[-n]; n = tokenize(model, bytes, bytes.Length, buffer, buffer.Length, 0); }
    return buffer[..n];
}

// MLXB_PARITY_CHUNK: tokens per mlxb_decode call (default: the whole sequence in one call).
int chunk = int.TryParse(Environment.GetEnvironmentVariable("MLXB_PARITY_CHUNK"), out int c) && c > 0 ? c : int.MaxValue;

bool viaJson = Environment.GetEnvironmentVariable("MLXB_PARITY_EXACT_FLOAT") != "1";

unsafe double EngineLl(int[] context, int[] continuation)
{
    int[] all = [.. context, .. continuation];
    truncate(ctx, 0, 0);
    double sum = 0;
    for (int start = 0; start < all.Length - 1; start += chunk)
    {
        int n = Math.Min(chunk, all.Length - 1 - start);
        var want = new sbyte[n];
        for (int i = 0; i < n; i++) want[i] = (sbyte)(start + i >= context.Length - 1 ? 1 : 0);
        fixed (int* t = &all[start]) fixed (sbyte* w = want)
        {
            var batch = new Batch { n_tokens = n, tokens = (nint)t, seq_ids = 0, pos = 0, want_logits = (nint)w };
            int status = decode(ctx, ref batch);
            if (status != 0) throw new InvalidOperationException("mlxb_decode: " + status);
        }
        for (int i = 0; i < n; i++)
            if (want[i] == 1)
            {
                tokenLogprob(ctx, i, all[start + i + 1], out float lp);
                // The server writes each float32 as its shortest round-trip text; the client reads that as a double.
                sum += viaJson ? double.Parse(lp.ToString("R", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture) : lp;
            }
    }
    return sum;
}

int compared = 0, equal = 0;
double maxDiff = 0;
foreach (string file in args[2..])
    foreach (string line in File.ReadLines(file))
    {
        if (line.Length == 0) continue;
        JsonObject sample = JsonNode.Parse(line)!.AsObject();
        JsonObject arguments = sample["arguments"]!.AsObject();
        for (int i = 0; i < arguments.Count; i++)
        {
            JsonNode a = arguments[$"gen_args_{i}"]!;
            if (a["arg_1"] is not JsonValue v || !v.TryGetValue(out string? continuation)) break;   // not a loglikelihood request
            string context = (string)a["arg_0"]!;
            int spaces = context.Length - context.TrimEnd().Length;
            if (spaces > 0) { continuation = context[^spaces..] + continuation; context = context[..^spaces]; }
            int[] ctxTokens = Tok(context), whole = Tok(context + continuation);
            double engine = EngineLl(ctxTokens, whole[ctxTokens.Length..]);
            double recorded = double.Parse((string)sample["resps"]![i]![0]![0]!, CultureInfo.InvariantCulture);
            compared++;
            if (engine == recorded) equal++;
            maxDiff = Math.Max(maxDiff, Math.Abs(engine - recorded));
        }
    }
Console.WriteLine($"{compared} per-choice log-likelihoods compared with the engine: {equal} bit-identical, max |difference| {maxDiff:E3}");
return compared > 0 && equal == compared ? 0 : 1;

[StructLayout(LayoutKind.Sequential)] struct ContextParams { public int n_ctx, n_seq_max, n_batch, n_threads; }
[StructLayout(LayoutKind.Sequential)] struct Batch { public int n_tokens; public nint tokens, seq_ids, pos, want_logits; }
[UnmanagedFunctionPointer(CallingConvention.Cdecl)] delegate int ModelLoad([MarshalAs(UnmanagedType.LPUTF8Str)] string path, nint p, out nint model);
[UnmanagedFunctionPointer(CallingConvention.Cdecl)] delegate ContextParams ContextDefaults();
[UnmanagedFunctionPointer(CallingConvention.Cdecl)] delegate int ContextNew(nint model, ref ContextParams p, out nint ctx);
[UnmanagedFunctionPointer(CallingConvention.Cdecl)] delegate int Tokenize(nint model, byte[] text, int len, int[] output, int cap, int flags);
[UnmanagedFunctionPointer(CallingConvention.Cdecl)] delegate int Decode(nint ctx, ref Batch batch);
[UnmanagedFunctionPointer(CallingConvention.Cdecl)] delegate int TokenLogprob(nint ctx, int i, int token, out float logprob);
[UnmanagedFunctionPointer(CallingConvention.Cdecl)] delegate int SeqTruncate(nint ctx, int seq, int keep);
