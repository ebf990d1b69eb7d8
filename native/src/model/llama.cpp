#include "llama.h"

#include <sys/stat.h>

#include "../common.h"
#include "../mlx/safetensors.h"

namespace mlxb {

namespace {

[[noreturn]] void bad(const std::string & m) { fail(MLXB_ERR_FORMAT, "model: " + m); }

Weight weight(const GgufFile & f, const std::string & name, int64_t cols, int64_t rows, bool required = true) {
    const GgufTensor * t = f.tensor(name);
    if (!t) {
        if (required) bad("missing tensor '" + name + "'");
        return {};
    }
    if (t->n_dims != 2 || t->ne[0] != cols || t->ne[1] != rows)
        bad("tensor '" + name + "' has shape [" + std::to_string(t->ne[0]) + ", " + std::to_string(t->ne[1]) +
            "], expected [" + std::to_string(cols) + ", " + std::to_string(rows) + "]");
    Weight w;
    w.type = t->type;
    w.data = t->data;
    w.rows = rows;
    w.cols = cols;
    w.row_bytes = row_bytes(t->type, cols);
    return w;
}

const float * vec_f32(const GgufFile & f, const std::string & name, int64_t n, bool required = true) {
    const GgufTensor * t = f.tensor(name);
    if (!t) {
        if (required) bad("missing tensor '" + name + "'");
        return nullptr;
    }
    if (t->n_elements != n) bad("tensor '" + name + "' has " + std::to_string(t->n_elements) + " elements, expected " + std::to_string(n));
    if (t->type != TensorType::F32)
        fail(MLXB_ERR_UNSUPPORTED, "model: tensor '" + name + "' must be F32 (is " + tensor_type_name(t->type) + ")");
    if ((uintptr_t)t->data % alignof(float)) bad("tensor '" + name + "' is misaligned");
    return (const float *)t->data;
}

int32_t hp_int(const GgufFile & f, const std::string & key, int64_t def, int64_t lo, int64_t hi) {
    int64_t v = f.get_int(key, def);
    if (v == INT64_MIN) bad("missing key '" + key + "'");
    if (v < lo || v > hi) bad("key '" + key + "' = " + std::to_string(v) + " out of range");
    return (int32_t)v;
}

constexpr ArchInfo k_archs[] = {
    {"llama", "LlamaForCausalLM", false, false, false},
    {"mistral", "MistralForCausalLM", false, false, false},
    {"qwen2", "Qwen2ForCausalLM", true, true, false},
    {"qwen3", "Qwen3ForCausalLM", true, false, true},
};

}  // namespace

const ArchInfo * find_arch(const std::string & name) {
    for (const ArchInfo & a : k_archs)
        if (name == a.name) return &a;
    return nullptr;
}

const char * supported_archs() {
    static const std::string names = [] {
        std::string s;
        for (const ArchInfo & a : k_archs) s += (s.empty() ? "" : ", ") + std::string(a.name);
        return s;
    }();
    return names.c_str();
}

void Model::release(const void * p, size_t n) const {
    if (file) file->release(p, n);
    if (weights) weights->release(p, n);
}

std::unique_ptr<Model> Model::load(const std::string & path, bool vocab_only) {
    struct stat st;
    if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return from_mlx_folder(path, vocab_only);
    return from_gguf(std::make_unique<GgufFile>(path), vocab_only);
}

std::unique_ptr<Model> Model::from_gguf(std::unique_ptr<GgufFile> file, bool vocab_only) {
    auto m = std::make_unique<Model>();
    m->file = std::move(file);
    const GgufFile & f = *m->file;
    m->tok = std::make_unique<Tokenizer>(f);
    HParams & hp = m->hp;
    hp.arch = f.get_str("general.architecture");
    hp.n_vocab = m->tok->n_vocab();
    if (vocab_only) {
        hp.n_ctx_train = (int32_t)std::max<int64_t>(0, std::min<int64_t>(INT32_MAX, f.get_int(hp.arch + ".context_length", 0)));
        return m;
    }
    if (hp.arch.empty()) bad("general.architecture missing");
    const ArchInfo * arch = find_arch(hp.arch);
    if (!arch) fail(MLXB_ERR_UNSUPPORTED, "model: architecture '" + hp.arch + "' not supported (" + supported_archs() + ")");
    const std::string a = hp.arch + ".";
    constexpr int64_t MAX = 1 << 20;
    hp.n_ctx_train = hp_int(f, a + "context_length", 2048, 1, INT32_MAX);
    hp.n_embd = hp_int(f, a + "embedding_length", INT64_MIN, 1, MAX);
    hp.n_layer = hp_int(f, a + "block_count", INT64_MIN, 1, 4096);
    hp.n_ff = hp_int(f, a + "feed_forward_length", INT64_MIN, 1, MAX);
    hp.n_head = hp_int(f, a + "attention.head_count", INT64_MIN, 1, MAX);
    hp.n_head_kv = hp_int(f, a + "attention.head_count_kv", hp.n_head, 1, hp.n_head);
    if (hp.n_head % hp.n_head_kv) bad("head_count not a multiple of head_count_kv");
    hp.head_dim = hp_int(f, a + "attention.key_length", hp.n_embd / hp.n_head, 1, MAX);
    if (hp.head_dim % 2) bad("odd head dimension");
    hp.n_rot = hp_int(f, a + "rope.dimension_count", hp.head_dim, 2, hp.head_dim);
    if (hp.n_rot % 2) bad("odd rope.dimension_count");
    hp.rope_base = (float)f.get_float(a + "rope.freq_base", 10000.0);
    hp.norm_eps = (float)f.get_float(a + "attention.layer_norm_rms_epsilon", 1e-5);
    if (!(hp.rope_base > 0) || !(hp.norm_eps >= 0)) bad("bad rope.freq_base or rms epsilon");
    hp.rope_neox = arch->rope_neox;

    const int64_t E = hp.n_embd, Q = hp.q_dim(), KV = hp.kv_dim(), F = hp.n_ff;
    m->tok_embd = weight(f, "token_embd.weight", E, hp.n_vocab);
    m->out_norm = vec_f32(f, "output_norm.weight", E);
    m->output = weight(f, "output.weight", E, hp.n_vocab, false);
    if (!m->output.data) m->output = m->tok_embd;  // tied embeddings
    m->layers.resize(hp.n_layer);
    for (int32_t il = 0; il < hp.n_layer; il++) {
        Layer & L = m->layers[il];
        const std::string p = "blk." + std::to_string(il) + ".";
        L.attn_norm = vec_f32(f, p + "attn_norm.weight", E);
        L.wq = weight(f, p + "attn_q.weight", E, Q);
        L.wk = weight(f, p + "attn_k.weight", E, KV);
        L.wv = weight(f, p + "attn_v.weight", E, KV);
        L.wo = weight(f, p + "attn_output.weight", Q, E);
        L.bq = vec_f32(f, p + "attn_q.bias", Q, arch->qkv_bias);
        L.bk = vec_f32(f, p + "attn_k.bias", KV, arch->qkv_bias);
        L.bv = vec_f32(f, p + "attn_v.bias", KV, arch->qkv_bias);
        if (arch->qk_norm) {
            L.q_norm = vec_f32(f, p + "attn_q_norm.weight", hp.head_dim);
            L.k_norm = vec_f32(f, p + "attn_k_norm.weight", hp.head_dim);
        }
        L.ffn_norm = vec_f32(f, p + "ffn_norm.weight", E);
        L.w_gate = weight(f, p + "ffn_gate.weight", E, F);
        L.w_up = weight(f, p + "ffn_up.weight", E, F);
        L.w_down = weight(f, p + "ffn_down.weight", F, E);
    }
    for (const GgufTensor & t : f.tensors()) {
        m->n_params += t.n_elements;
        m->n_bytes += t.n_bytes;
    }
    return m;
}

}  // namespace mlxb
