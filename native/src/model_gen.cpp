#include "model_gen.h"

#include <cmath>
#include <cctype>
#include <cstdio>

namespace mlxb {

namespace {

// splitmix64 keyed by (tensor, row): rows can be produced in any order, and the file is the same on every run.
uint64_t mix(uint64_t z) {
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

// Uniform in [-a, a] (variance a^2/3) plus an offset.
GgufWriter::RowFn uniform_rows(uint64_t key, int64_t cols, float a, float offset) {
    return [=](int64_t row, float * dst) {
        uint64_t s = mix(key ^ mix((uint64_t)row));
        for (int64_t i = 0; i < cols; i++) {
            s = mix(s);
            dst[i] = offset + a * (float)((double)(s >> 11) * (2.0 / 9007199254740992.0) - 1.0);
        }
    };
}

// llama.cpp's llama_ftype numbering ("mostly <type>").
uint32_t file_type(TensorType t) {
    switch (t) {
    case TensorType::F32: return 0;
    case TensorType::F16: return 1;
    case TensorType::Q4_0: return 2;
    case TensorType::Q8_0: return 7;
    case TensorType::BF16: return 32;
    }
    return 0;
}

}  // namespace

const std::vector<ModelShape> & named_shapes() {
    static const std::vector<ModelShape> shapes = {
        // name, arch, vocab, embd, layers, heads, kv heads, ff, ctx
        {"stories15M", "llama", 32000, 288, 6, 6, 6, 768, 2048},
        {"stories110M", "llama", 32000, 768, 12, 12, 12, 2048, 2048},
        {"tinyllama-1.1B", "llama", 32000, 2048, 22, 32, 4, 5632, 2048},
        // Qwen3-0.6B's config.json: 151936 tokens, tied, rope_theta 1e6, 16 heads of 128 over a width of 1024.
        {"qwen3-0.6B", "qwen3", 151936, 1024, 28, 16, 8, 3072, 40960, 1000000.0f, true, 128},
    };
    return shapes;
}

const ModelShape * find_shape(const std::string & name) {
    for (const ModelShape & s : named_shapes())
        if (s.name == name) return &s;
    return nullptr;
}

bool parse_tensor_type(const std::string & s, TensorType * out) {
    std::string u;
    for (char c : s) u += (char)std::toupper((unsigned char)c);
    if (u == "F32") *out = TensorType::F32;
    else if (u == "F16") *out = TensorType::F16;
    else if (u == "BF16") *out = TensorType::BF16;
    else if (u == "Q8_0") *out = TensorType::Q8_0;
    else if (u == "Q4_0") *out = TensorType::Q4_0;
    else return false;
    return true;
}

GgufWriter random_model(const ModelShape & sh, TensorType type, uint64_t seed) {
    GgufWriter w;
    const std::string a = sh.arch + ".";
    const int32_t head_dim = sh.head_dim ? sh.head_dim : sh.n_embd / sh.n_head;
    w.kv_str("general.architecture", sh.arch);
    w.kv_str("general.name", sh.name + " (random weights)");
    w.kv_u32("general.file_type", file_type(type));
    if (type == TensorType::Q8_0 || type == TensorType::Q4_0) w.kv_u32("general.quantization_version", 2);
    w.kv_u32(a + "context_length", (uint32_t)sh.n_ctx);
    w.kv_u32(a + "embedding_length", (uint32_t)sh.n_embd);
    w.kv_u32(a + "block_count", (uint32_t)sh.n_layer);
    w.kv_u32(a + "feed_forward_length", (uint32_t)sh.n_ff);
    w.kv_u32(a + "rope.dimension_count", (uint32_t)head_dim);
    if (sh.head_dim) {
        w.kv_u32(a + "attention.key_length", (uint32_t)head_dim);
        w.kv_u32(a + "attention.value_length", (uint32_t)head_dim);
    }
    w.kv_u32(a + "attention.head_count", (uint32_t)sh.n_head);
    w.kv_u32(a + "attention.head_count_kv", (uint32_t)sh.n_head_kv);
    w.kv_f32(a + "attention.layer_norm_rms_epsilon", 1e-5f);
    w.kv_f32(a + "rope.freq_base", sh.rope_base);

    // Synthetic SentencePiece vocabulary: <unk> <s> </s>, 256 byte tokens, then "▁" + letters pieces.
    std::vector<std::string> toks = {"<unk>", "<s>", "</s>"};
    std::vector<int32_t> types = {2, 3, 3};
    for (int b = 0; b < 256 && (int32_t)toks.size() < sh.n_vocab; b++) {
        char name[8];
        std::snprintf(name, sizeof name, "<0x%02X>", b);
        toks.push_back(name);
        types.push_back(6);
    }
    for (int32_t i = 0; (int32_t)toks.size() < sh.n_vocab; i++) {
        std::string p = "\xe2\x96\x81";  // ▁
        for (int32_t v = i;; v = v / 26 - 1) {
            p += (char)('a' + v % 26);
            if (v < 26) break;
        }
        toks.push_back(p);
        types.push_back(1);
    }
    toks.resize(sh.n_vocab);
    types.resize(sh.n_vocab);
    std::vector<float> scores(sh.n_vocab);
    for (int32_t i = 0; i < sh.n_vocab; i++) scores[i] = -(float)i;
    w.kv_str("tokenizer.ggml.model", "llama");
    w.kv_arr_str("tokenizer.ggml.tokens", toks);
    w.kv_arr_f32("tokenizer.ggml.scores", scores);
    w.kv_arr_i32("tokenizer.ggml.token_type", types);
    w.kv_u32("tokenizer.ggml.bos_token_id", 1);
    w.kv_u32("tokenizer.ggml.eos_token_id", 2);
    w.kv_u32("tokenizer.ggml.unknown_token_id", 0);

    const int64_t E = sh.n_embd, Q = (int64_t)sh.n_head * head_dim, KV = (int64_t)sh.n_head_kv * head_dim, F = sh.n_ff;
    uint64_t key = mix(seed);
    auto next_key = [&] { return key = mix(key); };
    // Matrices: uniform with variance 1/cols, so y = W x keeps unit scale for unit-scale x.
    auto mat = [&](const std::string & name, int64_t cols, int64_t rows, TensorType t) {
        w.tensor(name, t, {cols, rows}, uniform_rows(next_key(), cols, std::sqrt(3.0f / (float)cols), 0.0f));
    };
    auto vec = [&](const std::string & name, int64_t n, float spread, float offset) {
        w.tensor(name, TensorType::F32, {n}, uniform_rows(next_key(), n, spread, offset));
    };
    w.tensor("token_embd.weight", type, {E, sh.n_vocab}, uniform_rows(next_key(), E, 1.0f, 0.0f));
    vec("output_norm.weight", E, 0.1f, 1.0f);
    if (!sh.tied) mat("output.weight", E, sh.n_vocab, type);
    for (int32_t il = 0; il < sh.n_layer; il++) {
        const std::string p = "blk." + std::to_string(il) + ".";
        vec(p + "attn_norm.weight", E, 0.1f, 1.0f);
        mat(p + "attn_q.weight", E, Q, type);
        mat(p + "attn_k.weight", E, KV, type);
        mat(p + "attn_v.weight", E, KV, type);
        if (sh.arch == "qwen2") {
            vec(p + "attn_q.bias", Q, 0.2f, 0.0f);
            vec(p + "attn_k.bias", KV, 0.2f, 0.0f);
            vec(p + "attn_v.bias", KV, 0.2f, 0.0f);
        }
        if (sh.arch == "qwen3") {  // per-head norms of q and k, weights around 1 like the other norms
            vec(p + "attn_q_norm.weight", head_dim, 0.1f, 1.0f);
            vec(p + "attn_k_norm.weight", head_dim, 0.1f, 1.0f);
        }
        mat(p + "attn_output.weight", Q, E, type);
        vec(p + "ffn_norm.weight", E, 0.1f, 1.0f);
        mat(p + "ffn_gate.weight", E, F, type);
        mat(p + "ffn_up.weight", E, F, type);
        mat(p + "ffn_down.weight", F, E, type);
    }
    return w;
}

}  // namespace mlxb
