// Model::from_mlx_folder: an MLX-community / Hugging Face folder. config.json gives the hyper-parameters (Llama,
// Mistral, Qwen2, Qwen3 families) and the quantization; the safetensors hold the weights in PyTorch layout (out, in) with
// Hugging Face names, used in place: float matrices as mapped, MLX affine ones through Weight::mlx. Rotary
// embeddings use the half-split ("NeoX") pairing, which is what Hugging Face layouts mean (GGUF's llama files are
// permuted to adjacent pairs instead). The tokenizer and the metadata are turned into the GGUF keys our Tokenizer
// and mlxb_model_meta_str read, held in a small in-memory GGUF.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <set>
#include <fstream>
#include <sstream>

#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "../common.h"
#include "../gguf_writer.h"
#include "../model/llama.h"
#include "hf_tokenizer.h"
#include "safetensors.h"

namespace mlxb {

using nlohmann::json;

namespace {

std::string slurp(const std::string & path, bool required) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
        if (required) fail(MLXB_ERR_IO, "MLX model: '" + path + "' not found");
        return "";
    }
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    if (!f && !f.eof()) fail(MLXB_ERR_IO, "MLX model: cannot read '" + path + "'");
    return ss.str();
}

[[noreturn]] void bad(const std::string & m) { fail(MLXB_ERR_FORMAT, "MLX model: " + m); }

int64_t cfg_int(const json & c, const char * key, int64_t def, int64_t lo, int64_t hi) {
    auto it = c.find(key);
    if (it == c.end() || it->is_null()) {
        if (def == INT64_MIN) bad(std::string("config.json has no '") + key + "'");
        return def;
    }
    if (!it->is_number_integer()) bad(std::string("config.json '") + key + "' is not an integer");
    const int64_t v = it->get<int64_t>();
    if (v < lo || v > hi) bad(std::string("config.json '") + key + "' = " + std::to_string(v) + " out of range");
    return v;
}

double cfg_num(const json & c, const char * key, double def) {
    auto it = c.find(key);
    if (it == c.end() || it->is_null()) return def;
    if (!it->is_number()) bad(std::string("config.json '") + key + "' is not a number");
    return it->get<double>();
}

// rope_scaling -> per-pair inverse frequencies (transformers' _compute_linear_scaling_rope_parameters and
// _compute_llama3_parameters).
void rope_scaling(const json & c, HParams & hp) {
    auto it = c.find("rope_scaling");
    if (it == c.end() || it->is_null()) return;
    if (!it->is_object()) bad("config.json rope_scaling is not an object");
    const json & rs = *it;
    std::string type = rs.value("rope_type", rs.value("type", std::string("default")));
    const int half = hp.n_rot / 2;
    std::vector<double> inv(half);
    for (int j = 0; j < half; j++) inv[j] = std::pow((double)hp.rope_base, -2.0 * j / hp.n_rot);
    if (type == "default") return;
    const double factor = rs.value("factor", 1.0);
    if (!(factor > 0)) bad("config.json rope_scaling.factor must be > 0");
    if (type == "linear") {
        for (double & f : inv) f /= factor;
    } else if (type == "llama3") {
        const double lo = rs.value("low_freq_factor", 1.0), hi = rs.value("high_freq_factor", 4.0);
        const double old = rs.value("original_max_position_embeddings", 8192.0);
        if (!(hi > lo)) bad("config.json rope_scaling: high_freq_factor must exceed low_freq_factor");
        const double lo_wl = old / lo, hi_wl = old / hi;
        for (double & f : inv) {
            const double wl = 2 * M_PI / f;
            if (wl > lo_wl) f /= factor;
            else if (wl >= hi_wl) {
                const double smooth = (old / wl - lo) / (hi - lo);
                f = (1 - smooth) * f / factor + smooth * f;
            }
        }
    } else fail(MLXB_ERR_UNSUPPORTED, "MLX model: rope_scaling type '" + type + "' not supported (linear, llama3)");
    hp.rope_inv_freq = inv;
}

struct QuantSpec { int32_t bits = 0, group = 0; };

class Loader {
public:
    Loader(Model & m, const SafetensorsSet & st, const json & cfg) : m_(m), st_(st) {
        auto q = cfg.find("quantization");
        if (q == cfg.end()) q = cfg.find("quantization_config");
        if (q != cfg.end() && q->is_object()) {
            quant_ = *q;
            const std::string mode = quant_.value("mode", std::string("affine"));
            if (mode != "affine") fail(MLXB_ERR_UNSUPPORTED, "MLX model: quantization mode '" + mode + "' not supported (affine)");
            def_ = spec(quant_, "quantization");
        }
    }

    // The matrix of module `path` as (rows, cols).
    Weight matrix(const std::string & path, int64_t rows, int64_t cols, bool required = true) {
        const StTensor * w = st_.find(path + ".weight");
        if (!w) {
            if (required) bad("missing tensor '" + path + ".weight'");
            return {};
        }
        const StTensor * sc = st_.find(path + ".scales");
        Weight out;
        out.rows = rows;
        out.cols = cols;
        if (!sc) {
            if (w->shape != std::vector<int64_t>{rows, cols}) bad(shape_msg(*w, {rows, cols}));
            switch (w->dtype) {
            case StDtype::F32: out.type = TensorType::F32; break;
            case StDtype::F16: out.type = TensorType::F16; break;
            case StDtype::BF16: out.type = TensorType::BF16; break;
            default: fail(MLXB_ERR_UNSUPPORTED, "MLX model: tensor '" + w->name + "' has dtype " + st_dtype_name(w->dtype) + " without .scales");
            }
            aligned(*w);
            out.data = w->data;
            out.row_bytes = row_bytes(out.type, cols);
            count(*w, rows * cols);
            return out;
        }
        QuantSpec qs = def_;
        if (quant_.contains(path)) {
            const json & o = quant_[path];
            if (o.is_object()) qs = spec(o, "quantization." + path);
            else if (o.is_boolean() && !o.get<bool>()) bad("'" + path + "' is marked unquantized but has .scales");
        }
        if (!qs.bits) bad("'" + path + "' has .scales but config.json has no quantization");
        if (!mlx_quant_supported(qs.bits, qs.group))
            fail(MLXB_ERR_UNSUPPORTED, "MLX model: '" + path + "' uses " + std::to_string(qs.bits) + "-bit groups of " +
                                           std::to_string(qs.group) + " (supported: bits 2, 4, 8; groups 32, 64, 128)");
        if (cols % qs.group) bad("'" + path + "': " + std::to_string(cols) + " inputs are not whole groups of " + std::to_string(qs.group));
        const StTensor * bi = st_.find(path + ".biases");
        if (!bi) bad("missing tensor '" + path + ".biases' (affine quantization)");
        if (w->dtype != StDtype::U32) bad("'" + w->name + "' is quantized but not U32");
        if (w->shape != std::vector<int64_t>{rows, cols * qs.bits / 32}) bad(shape_msg(*w, {rows, cols * qs.bits / 32}));
        for (const StTensor * t : {sc, bi}) {
            if (t->dtype != StDtype::F16 && t->dtype != StDtype::BF16) fail(MLXB_ERR_UNSUPPORTED, "MLX model: '" + t->name + "' must be F16 or BF16");
            if (t->shape != std::vector<int64_t>{rows, cols / qs.group}) bad(shape_msg(*t, {rows, cols / qs.group}));
            aligned(*t);
        }
        if (sc->dtype != bi->dtype) bad("'" + path + "': scales and biases differ in dtype");
        aligned(*w);
        out.type = k_mlx_affine;
        out.data = w->data;
        out.mlx.q = (const uint32_t *)w->data;
        out.mlx.scales = (const uint16_t *)sc->data;
        out.mlx.biases = (const uint16_t *)bi->data;
        out.mlx.bf16 = sc->dtype == StDtype::BF16;
        out.mlx.bits = qs.bits;
        out.mlx.group = qs.group;
        count(*w, rows * cols);
        count(*sc, 0);
        count(*bi, 0);
        return out;
    }

    // A 1-D float vector of n (norm weights, biases), as float.
    const float * vec(const std::string & name, int64_t n, bool required = true) {
        const StTensor * t = st_.find(name);
        if (!t) {
            if (required) bad("missing tensor '" + name + "'");
            return nullptr;
        }
        if (t->n_elements != n || t->shape.size() != 1) bad(shape_msg(*t, {n}));
        std::vector<float> v((size_t)n);
        for (int64_t i = 0; i < n; i++) {
            uint32_t u32 = 0;
            uint16_t u16 = 0;
            switch (t->dtype) {
            case StDtype::F32: std::memcpy(&v[i], t->data + 4 * i, 4); break;
            case StDtype::F16: std::memcpy(&u16, t->data + 2 * i, 2); v[i] = fp16_to_fp32(u16); break;
            case StDtype::BF16: std::memcpy(&u16, t->data + 2 * i, 2); u32 = (uint32_t)u16 << 16; std::memcpy(&v[i], &u32, 4); break;
            default: fail(MLXB_ERR_UNSUPPORTED, "MLX model: '" + name + "' has dtype " + st_dtype_name(t->dtype));
            }
        }
        count(*t, n);
        m_.owned_vectors.push_back(std::move(v));
        return m_.owned_vectors.back().data();
    }

    void check_all_used() const {
        for (const auto & kv : st_.all())
            if (!used_.count(kv.first)) {
                // Rotary tables some exporters keep are derived data, not weights.
                if (kv.first.find("rotary_emb.inv_freq") != std::string::npos) continue;
                fail(MLXB_ERR_UNSUPPORTED, "MLX model: tensor '" + kv.first + "' is not used by this architecture");
            }
    }

private:
    static QuantSpec spec(const json & o, const std::string & where) {
        QuantSpec q;
        if (!o.contains("bits") || !o["bits"].is_number_integer() || !o.contains("group_size") || !o["group_size"].is_number_integer())
            bad("config.json " + where + " needs integer bits and group_size");
        q.bits = o["bits"].get<int32_t>();
        q.group = o["group_size"].get<int32_t>();
        return q;
    }
    static std::string shape_msg(const StTensor & t, const std::vector<int64_t> & want) {
        auto fmt = [](const std::vector<int64_t> & s) {
            std::string r = "[";
            for (size_t i = 0; i < s.size(); i++) r += (i ? ", " : "") + std::to_string(s[i]);
            return r + "]";
        };
        return "tensor '" + t.name + "' has shape " + fmt(t.shape) + ", expected " + fmt(want);
    }
    static void aligned(const StTensor & t) {
        if ((uintptr_t)t.data % st_dtype_size(t.dtype)) bad("tensor '" + t.name + "' is not aligned to its element size");
    }
    void count(const StTensor & t, int64_t params) {
        used_.insert(t.name);
        m_.n_params += params;
        m_.n_bytes += (int64_t)t.n_bytes;
    }

    Model & m_;
    const SafetensorsSet & st_;
    json quant_ = json::object();
    QuantSpec def_;
    std::set<std::string> used_;
};

}  // namespace

namespace {
std::unique_ptr<Model> load_folder(const std::string & dir, bool vocab_only);
}

std::unique_ptr<Model> Model::from_mlx_folder(const std::string & dir, bool vocab_only) {
    try {
        return load_folder(dir, vocab_only);
    } catch (const json::exception & e) {  // a JSON value of the wrong type where the files' schema wants another
        fail(MLXB_ERR_FORMAT, "MLX model '" + dir + "': unexpected JSON in config.json or the tokenizer files: " + e.what());
    }
}

namespace {

std::unique_ptr<Model> load_folder(const std::string & dir, bool vocab_only) {
    json cfg = json::parse(slurp(dir + "/config.json", true), nullptr, false);
    if (cfg.is_discarded() || !cfg.is_object()) bad("'" + dir + "/config.json' is not a JSON object");
    const std::string type = cfg.value("model_type", std::string());
    if (type.empty()) bad("config.json has no model_type");
    const ArchInfo * info = find_arch(type);
    if (!info) fail(MLXB_ERR_UNSUPPORTED, "MLX model: model_type '" + type + "' not supported (" + supported_archs() + ")");
    const std::string arch = info->name;

    auto m = std::make_unique<Model>();
    HParams & hp = m->hp;
    hp.arch = arch;
    constexpr int64_t MAX = 1 << 20;
    hp.n_ctx_train = (int32_t)cfg_int(cfg, "max_position_embeddings", 2048, 1, INT32_MAX);

    // The GGUF-form metadata: tokenizer keys and what mlxb_model_meta_str callers look up.
    GgufWriter meta;
    meta.kv_str("general.architecture", arch);
    meta.kv_str("general.name", cfg.value("_name_or_path", std::string()));
    meta.kv_str("general.file_format", "mlx");
    auto q = cfg.find("quantization");
    if (q != cfg.end() && q->is_object() && q->contains("bits") && (*q)["bits"].is_number_integer())
        meta.kv_str("general.quantization", "mlx-" + std::to_string((*q)["bits"].get<int>()) + "bit");
    else meta.kv_str("general.quantization", "mlx-" + cfg.value("torch_dtype", std::string("float")));
    meta.kv_u32(arch + ".context_length", (uint32_t)hp.n_ctx_train);
    hf_tokenizer_to_gguf(slurp(dir + "/tokenizer.json", true), slurp(dir + "/tokenizer_config.json", false), meta, dir);
    m->meta_bytes = meta.to_bytes();
    m->file = std::make_unique<GgufFile>(m->meta_bytes.data(), m->meta_bytes.size());
    m->tok = std::make_unique<Tokenizer>(*m->file);
    hp.n_vocab = m->tok->n_vocab();
    if (vocab_only) return m;

    const int64_t vocab = cfg_int(cfg, "vocab_size", INT64_MIN, 1, 1 << 24);
    if (vocab < hp.n_vocab) bad("config.json vocab_size " + std::to_string(vocab) + " is smaller than the tokenizer's " + std::to_string(hp.n_vocab) + " tokens");
    hp.n_vocab = (int32_t)vocab;  // the embedding's rows; ids past the tokenizer's are never produced by it
    hp.n_embd = (int32_t)cfg_int(cfg, "hidden_size", INT64_MIN, 1, MAX);
    hp.n_layer = (int32_t)cfg_int(cfg, "num_hidden_layers", INT64_MIN, 1, 4096);
    hp.n_ff = (int32_t)cfg_int(cfg, "intermediate_size", INT64_MIN, 1, MAX);
    hp.n_head = (int32_t)cfg_int(cfg, "num_attention_heads", INT64_MIN, 1, MAX);
    hp.n_head_kv = (int32_t)cfg_int(cfg, "num_key_value_heads", hp.n_head, 1, hp.n_head);
    if (hp.n_head % hp.n_head_kv) bad("num_attention_heads is not a multiple of num_key_value_heads");
    hp.head_dim = (int32_t)cfg_int(cfg, "head_dim", hp.n_embd / hp.n_head, 2, MAX);
    if (hp.head_dim % 2) bad("odd head dimension");
    if (cfg_num(cfg, "partial_rotary_factor", 1.0) != 1.0) fail(MLXB_ERR_UNSUPPORTED, "MLX model: partial_rotary_factor is not supported");
    hp.n_rot = hp.head_dim;
    hp.rope_neox = true;
    hp.rope_base = (float)cfg_num(cfg, "rope_theta", 10000.0);
    hp.norm_eps = (float)cfg_num(cfg, "rms_norm_eps", 1e-6);
    if (!(hp.rope_base > 0) || !(hp.norm_eps >= 0)) bad("bad rope_theta or rms_norm_eps");
    rope_scaling(cfg, hp);
    const bool tied = cfg.value("tie_word_embeddings", false);  // transformers' default for both families

    auto st = std::make_shared<SafetensorsSet>(dir);
    m->weights = st;
    Loader L(*m, *st, cfg);
    const int64_t E = hp.n_embd, Q = hp.q_dim(), KV = hp.kv_dim(), F = hp.n_ff, V = hp.n_vocab;
    m->tok_embd = L.matrix("model.embed_tokens", V, E);
    m->out_norm = L.vec("model.norm.weight", E);
    m->output = L.matrix("lm_head", V, E, !tied);
    if (!m->output.data) m->output = m->tok_embd;
    // transformers' Llama and Qwen3 configs say attention_bias (default false); Qwen2 always has the biases.
    const bool qkv_bias = info->qkv_bias || cfg.value("attention_bias", false);
    m->layers.resize(hp.n_layer);
    for (int32_t il = 0; il < hp.n_layer; il++) {
        Layer & ly = m->layers[il];
        const std::string p = "model.layers." + std::to_string(il) + ".";
        ly.attn_norm = L.vec(p + "input_layernorm.weight", E);
        ly.wq = L.matrix(p + "self_attn.q_proj", Q, E);
        ly.wk = L.matrix(p + "self_attn.k_proj", KV, E);
        ly.wv = L.matrix(p + "self_attn.v_proj", KV, E);
        ly.wo = L.matrix(p + "self_attn.o_proj", E, Q);
        ly.bq = L.vec(p + "self_attn.q_proj.bias", Q, qkv_bias);
        ly.bk = L.vec(p + "self_attn.k_proj.bias", KV, qkv_bias);
        ly.bv = L.vec(p + "self_attn.v_proj.bias", KV, qkv_bias);
        if (info->qk_norm) {  // elsewhere, norms a config does not ask for are "not used", not silently applied
            ly.q_norm = L.vec(p + "self_attn.q_norm.weight", hp.head_dim);
            ly.k_norm = L.vec(p + "self_attn.k_norm.weight", hp.head_dim);
        }
        ly.ffn_norm = L.vec(p + "post_attention_layernorm.weight", E);
        ly.w_gate = L.matrix(p + "mlp.gate_proj", F, E);
        ly.w_up = L.matrix(p + "mlp.up_proj", F, E);
        ly.w_down = L.matrix(p + "mlp.down_proj", E, F);
    }
    L.check_all_used();
    return m;
}

}  // namespace

}  // namespace mlxb
