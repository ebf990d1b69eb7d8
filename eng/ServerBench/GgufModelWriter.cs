using System.Buffers.Binary;
using System.Text;

namespace MlxBench.ServerBench;

/// <summary>
/// Writes a Llama-architecture GGUF of a given shape with random Q4_0 weights, for throughput measurements only (its
/// text is noise). The tokenizer is copied from a vocab-only GGUF (all its <c>tokenizer.*</c> keys), so the model
/// tokenizes like a real one. Layout per ggml docs/gguf.md: header, key/values, tensor infos, data aligned to 32.
/// </summary>
internal static class GgufModelWriter
{
    public sealed record Shape(int Dim, int Hidden, int Layers, int Heads, int KvHeads, int Context);

    /// <summary>llama2.c's stories110M: dim 768, hidden 2048, 12 layers, 12 heads, 1024 context, shared classifier.</summary>
    public static Shape Stories110M { get; } = new(768, 2048, 12, 12, 12, 1024);

    private const int Alignment = 32;
    private const uint TypeU32 = 4, TypeF32 = 6, TypeString = 8;
    private const uint TensorF32 = 0, TensorQ4_0 = 2;

    private sealed record Tensor(string Name, long[] Dims, uint Type);

    public static void Write(string path, Shape shape, string vocabGguf, int seed = 1234)
    {
        (byte[] tokenizerKvs, int tokenizerKvCount, int vocabSize) = ReadTokenizer(vocabGguf);
        var tensors = new List<Tensor> { new("token_embd.weight", [shape.Dim, vocabSize], TensorQ4_0), new("output_norm.weight", [shape.Dim], TensorF32) };
        int kvDim = shape.Dim / shape.Heads * shape.KvHeads;
        for (int l = 0; l < shape.Layers; l++)
        {
            string p = $"blk.{l}.";
            tensors.Add(new(p + "attn_norm.weight", [shape.Dim], TensorF32));
            tensors.Add(new(p + "attn_q.weight", [shape.Dim, shape.Dim], TensorQ4_0));
            tensors.Add(new(p + "attn_k.weight", [shape.Dim, kvDim], TensorQ4_0));
            tensors.Add(new(p + "attn_v.weight", [shape.Dim, kvDim], TensorQ4_0));
            tensors.Add(new(p + "attn_output.weight", [shape.Dim, shape.Dim], TensorQ4_0));
            tensors.Add(new(p + "ffn_norm.weight", [shape.Dim], TensorF32));
            tensors.Add(new(p + "ffn_gate.weight", [shape.Dim, shape.Hidden], TensorQ4_0));
            tensors.Add(new(p + "ffn_up.weight", [shape.Dim, shape.Hidden], TensorQ4_0));
            tensors.Add(new(p + "ffn_down.weight", [shape.Hidden, shape.Dim], TensorQ4_0));
        }

        string temp = path + ".tmp";
        using (var output = new BinaryWriter(File.Create(temp)))
        {
            var kv = new MemoryStream();
            var w = new BinaryWriter(kv);
            int kvCount = 0;
            void Str(string key, string value) { WriteString(w, key); w.Write(TypeString); WriteString(w, value); kvCount++; }
            void U32(string key, uint value) { WriteString(w, key); w.Write(TypeU32); w.Write(value); kvCount++; }
            void F32(string key, float value) { WriteString(w, key); w.Write(TypeF32); w.Write(value); kvCount++; }
            Str("general.architecture", "llama");
            Str("general.name", $"random-{shape.Dim}x{shape.Layers}-q4_0");
            U32("general.quantization_version", 2);
            U32("general.alignment", Alignment);
            U32("llama.context_length", (uint)shape.Context);
            U32("llama.embedding_length", (uint)shape.Dim);
            U32("llama.block_count", (uint)shape.Layers);
            U32("llama.feed_forward_length", (uint)shape.Hidden);
            U32("llama.rope.dimension_count", (uint)(shape.Dim / shape.Heads));
            U32("llama.attention.head_count", (uint)shape.Heads);
            U32("llama.attention.head_count_kv", (uint)shape.KvHeads);
            F32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
            w.Flush();

            output.Write("GGUF"u8);
            output.Write(3u);
            output.Write((ulong)tensors.Count);
            output.Write((ulong)(kvCount + tokenizerKvCount));
            output.Write(kv.ToArray());
            output.Write(tokenizerKvs);
            ulong offset = 0;
            foreach (Tensor t in tensors)
            {
                WriteString(output, t.Name);
                output.Write((uint)t.Dims.Length);
                foreach (long d in t.Dims) output.Write((ulong)d);
                output.Write(t.Type);
                output.Write(offset);
                offset = Align(offset + (ulong)Bytes(t));
            }
            Pad(output);
            var random = new Random(seed);
            foreach (Tensor t in tensors)
            {
                long start = output.BaseStream.Position;
                WriteData(output, t, random);
                long written = output.BaseStream.Position - start;
                if (written != Bytes(t)) throw new InvalidOperationException($"{t.Name}: wrote {written} bytes, expected {Bytes(t)}");
                Pad(output);
            }
        }
        File.Move(temp, path, overwrite: true);
    }

    private static long Bytes(Tensor t)
    {
        long n = t.Dims.Aggregate(1L, (a, b) => a * b);
        return t.Type == TensorF32 ? n * 4 : n / 32 * 18;
    }

    private static void WriteData(BinaryWriter output, Tensor t, Random random)
    {
        long n = t.Dims.Aggregate(1L, (a, b) => a * b);
        if (t.Type == TensorF32)
        {
            for (long i = 0; i < n; i++) output.Write(1.0f);   // RMS norm weights
            return;
        }
        // Q4_0 blocks: fp16 scale, then 16 bytes of nibbles. Small scales keep activations in range over the layers.
        var block = new byte[18];
        for (long b = 0; b < n / 32; b++)
        {
            BinaryPrimitives.WriteHalfLittleEndian(block, (Half)(0.004f + 0.004f * random.NextSingle()));
            random.NextBytes(block.AsSpan(2));
            output.Write(block);
        }
    }

    private static ulong Align(ulong offset) => (offset + Alignment - 1) / Alignment * Alignment;

    private static void Pad(BinaryWriter output)
    {
        long pad = (long)Align((ulong)output.BaseStream.Position) - output.BaseStream.Position;
        for (long i = 0; i < pad; i++) output.Write((byte)0);
    }

    private static void WriteString(BinaryWriter w, string s)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(s);
        w.Write((ulong)bytes.Length);
        w.Write(bytes);
    }

    /// <summary>The raw bytes of every <c>tokenizer.*</c> key/value of a GGUF, their count, and the vocabulary size.</summary>
    private static (byte[] Raw, int Count, int VocabSize) ReadTokenizer(string path)
    {
        byte[] file = File.ReadAllBytes(path);
        var span = new ReadOnlySpan<byte>(file);
        if (!span[..4].SequenceEqual("GGUF"u8)) throw new InvalidDataException($"{path} is not a GGUF file");
        int pos = 4 + 4 + 8;
        ulong kvCount = BinaryPrimitives.ReadUInt64LittleEndian(span[pos..]);
        pos += 8;
        var raw = new MemoryStream();
        int count = 0, vocab = 0;
        for (ulong i = 0; i < kvCount; i++)
        {
            int start = pos;
            string key = ReadString(file, ref pos);
            uint type = BinaryPrimitives.ReadUInt32LittleEndian(span[pos..]);
            pos += 4;
            if (key == "tokenizer.ggml.tokens") vocab = (int)BinaryPrimitives.ReadUInt64LittleEndian(span[(pos + 4)..]);
            SkipValue(file, ref pos, type);
            if (key.StartsWith("tokenizer.", StringComparison.Ordinal))
            {
                raw.Write(file, start, pos - start);
                count++;
            }
        }
        if (vocab == 0) throw new InvalidDataException($"{path} has no tokenizer.ggml.tokens");
        return (raw.ToArray(), count, vocab);
    }

    private static string ReadString(byte[] file, ref int pos)
    {
        int length = (int)BinaryPrimitives.ReadUInt64LittleEndian(file.AsSpan(pos));
        string s = Encoding.UTF8.GetString(file, pos + 8, length);
        pos += 8 + length;
        return s;
    }

    private static void SkipValue(byte[] file, ref int pos, uint type)
    {
        switch (type)
        {
            case 0 or 1 or 7: pos += 1; break;
            case 2 or 3: pos += 2; break;
            case 4 or 5 or 6: pos += 4; break;
            case 10 or 11 or 12: pos += 8; break;
            case 8: ReadString(file, ref pos); break;
            case 9:
                uint elementType = BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(pos));
                ulong n = BinaryPrimitives.ReadUInt64LittleEndian(file.AsSpan(pos + 4));
                pos += 12;
                for (ulong i = 0; i < n; i++) SkipValue(file, ref pos, elementType);
                break;
            default: throw new InvalidDataException($"unknown GGUF value type {type}");
        }
    }
}
