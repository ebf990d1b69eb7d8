#include "mlx_convert.h"

#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>

#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "../common.h"
#include "../kernels/kernels.h"
#include "../kernels/mlx_affine.h"
#include "../model/llama.h"
#include "hf_tokenizer.h"

namespace mlxb {

using nlohmann::json;

namespace {

[[noreturn]] void bad(const std::string & m) { fail(MLXB_ERR_FORMAT, "convert: " + m); }

// GGUF tensor name -> Hugging Face module path (+ ".weight" / ".bias" suffix kept separately).
bool hf_name(const std::string & g, std::string * module, std::string * suffix) {
    static const std::map<std::string, std::string> top = {
        {"token_embd", "model.embed_tokens"}, {"output_norm", "model.norm"}, {"output", "lm_head"}};
    static const std::map<std::string, std::string> blk = {
        {"attn_norm", "input_layernorm"}, {"attn_q", "self_attn.q_proj"}, {"attn_k", "self_attn.k_proj"},
        {"attn_v", "self_attn.v_proj"}, {"attn_output", "self_attn.o_proj"}, {"ffn_norm", "post_attention_layernorm"},
        {"ffn_gate", "mlp.gate_proj"}, {"ffn_up", "mlp.up_proj"}, {"ffn_down", "mlp.down_proj"},
        {"attn_q_norm", "self_attn.q_norm"}, {"attn_k_norm", "self_attn.k_norm"}};
    const size_t dot = g.rfind('.');
    if (dot == std::string::npos) return false;
    *suffix = g.substr(dot);
    const std::string base = g.substr(0, dot);
    if (auto it = top.find(base); it != top.end()) return *module = it->second, true;
    if (base.rfind("blk.", 0) != 0) return false;
    const size_t d2 = base.find('.', 4);
    if (d2 == std::string::npos) return false;
    auto it = blk.find(base.substr(d2 + 1));
    if (it == blk.end()) return false;
    *module = "model.layers." + base.substr(4, d2 - 4) + "." + it->second;
    return true;
}

void put_float_row(const float * row, int64_t n, StDtype dt, const SafetensorsWriter::Sink & sink, std::vector<uint8_t> & buf) {
    if (dt == StDtype::F32) return sink(row, (size_t)n * 4);
    buf.resize((size_t)n * 2);
    uint16_t * h = (uint16_t *)buf.data();
    for (int64_t i = 0; i < n; i++) h[i] = dt == StDtype::BF16 ? fp32_to_bf16(row[i]) : fp32_to_fp16(row[i]);
    sink(buf.data(), buf.size());
}

std::string dtype_config_name(StDtype t) { return t == StDtype::F32 ? "float32" : t == StDtype::BF16 ? "bfloat16" : "float16"; }

}  // namespace

std::vector<SourceTensor> gguf_source_tensors(const GgufFile & f) {
    std::vector<SourceTensor> out;
    for (const GgufTensor & t : f.tensors()) {
        std::vector<int64_t> ne(t.ne, t.ne + t.n_dims);
        const int64_t cols = t.ne[0], rb = row_bytes(t.type, cols);
        const uint8_t * data = t.data;
        const TensorType type = t.type;
        out.push_back({t.name, ne, [=](int64_t r, float * dst) { dequantize_row(type, data + r * rb, dst, cols); }});
    }
    return out;
}

std::vector<SourceTensor> writer_source_tensors(const GgufWriter & w) {
    std::vector<SourceTensor> out;
    w.for_each_tensor([&](const std::string & name, TensorType, const std::vector<int64_t> & ne, const GgufWriter::RowFn & rows) {
        out.push_back({name, ne, rows});
    });
    return out;
}

void convert_to_mlx(const GgufFile & meta, const std::vector<SourceTensor> & tensors, const std::string & out_dir,
                    const MlxConvertOptions & opt) {
    if (opt.bits && !mlx_quant_supported(opt.bits, opt.group))
        fail(MLXB_ERR_ARG, "convert: --q-bits must be 2, 4 or 8 and --q-group-size 32, 64 or 128");
    struct stat st;
    if (::stat(out_dir.c_str(), &st) == 0) fail(MLXB_ERR_ARG, "convert: '" + out_dir + "' already exists");
    const std::string arch = meta.get_str("general.architecture");
    const ArchInfo * info = find_arch(arch);
    if (!info) fail(MLXB_ERR_UNSUPPORTED, "convert: architecture '" + arch + "' not supported (" + supported_archs() + ")");
    const std::string a = arch + ".";
    const int64_t E = meta.get_int(a + "embedding_length", -1), H = meta.get_int(a + "attention.head_count", -1);
    const int64_t HKV = meta.get_int(a + "attention.head_count_kv", H), L = meta.get_int(a + "block_count", -1);
    const int64_t F = meta.get_int(a + "feed_forward_length", -1);
    if (E <= 0 || H <= 0 || HKV <= 0 || L <= 0 || F <= 0) bad("missing hyper-parameters in the GGUF");
    const int64_t HD = meta.get_int(a + "attention.key_length", E / H);
    if (meta.get_int(a + "rope.dimension_count", HD) != HD) fail(MLXB_ERR_UNSUPPORTED, "convert: partial rotary embeddings are not supported");
    const GgufValue * toks = meta.find("tokenizer.ggml.tokens");
    std::map<std::string, const SourceTensor *> by_name;
    for (const SourceTensor & t : tensors) by_name[t.name] = &t;
    auto embd = by_name.find("token_embd.weight");
    if (embd == by_name.end() || embd->second->ne.size() != 2) bad("no 2-D token_embd.weight");
    const int64_t V = embd->second->ne[1];
    if (!toks || (int64_t)toks->arr_count > V) bad("tokenizer vocabulary missing or larger than the embedding");
    const bool tied = !by_name.count("output.weight");
    // GGUF llama files rotate adjacent pairs: their Q/K rows were permuted from the Hugging Face half-split order
    // (llama.cpp convert_hf_to_gguf.py permute()); undo it so the folder means what a transformers/MLX one means.
    const bool unpermute = !info->rope_neox;

    json cfg = {
        {"architectures", {info->hf_class}},
        {"model_type", arch}, {"hidden_size", E}, {"intermediate_size", F}, {"num_hidden_layers", L},
        {"num_attention_heads", H}, {"num_key_value_heads", HKV}, {"head_dim", HD}, {"vocab_size", V},
        {"max_position_embeddings", meta.get_int(a + "context_length", 2048)},
        {"rms_norm_eps", meta.get_float(a + "attention.layer_norm_rms_epsilon", 1e-5)},
        {"rope_theta", meta.get_float(a + "rope.freq_base", 10000.0)}, {"tie_word_embeddings", tied},
        {"attention_bias", by_name.count("blk.0.attn_q.bias") > 0},
        {"hidden_act", "silu"}, {"torch_dtype", dtype_config_name(opt.dtype)},
        {"bos_token_id", meta.get_int("tokenizer.ggml.bos_token_id", 1)}, {"eos_token_id", meta.get_int("tokenizer.ggml.eos_token_id", 2)}};
    if (opt.bits) {
        cfg["quantization"] = {{"group_size", opt.group}, {"bits", opt.bits}, {"mode", "affine"}};
        cfg["quantization_config"] = cfg["quantization"];
    }
    if (!meta.get_str("general.name").empty()) cfg["_name_or_path"] = meta.get_str("general.name");

    SafetensorsWriter w;
    w.metadata("format", "mlx");
    const StDtype sb = opt.dtype == StDtype::BF16 ? StDtype::BF16 : StDtype::F16;
    for (const SourceTensor & t : tensors) {
        std::string module, suffix;
        if (!hf_name(t.name, &module, &suffix)) fail(MLXB_ERR_UNSUPPORTED, "convert: tensor '" + t.name + "' has no Hugging Face name");
        const SourceTensor * src = &t;
        if (t.ne.size() == 1) {
            const int64_t n = t.ne[0];
            w.add(module + suffix, opt.dtype, {n}, [src, n, dt = opt.dtype](const SafetensorsWriter::Sink & s) {
                std::vector<float> row((size_t)n);
                std::vector<uint8_t> buf;
                src->rows(0, row.data());
                put_float_row(row.data(), n, dt, s, buf);
            });
            continue;
        }
        if (t.ne.size() != 2) bad("tensor '" + t.name + "' is not 1-D or 2-D");
        const int64_t cols = t.ne[0], rows = t.ne[1];
        int64_t perm_hd = 0;  // rows per head to un-permute (0: none)
        if (unpermute && (suffix == ".weight") && (t.name.find("attn_q.") != std::string::npos || t.name.find("attn_k.") != std::string::npos))
            perm_hd = HD;
        if (perm_hd && rows % perm_hd) bad("tensor '" + t.name + "' rows are not whole heads");
        // HF row R = h*hd + i*hd/2 + j comes from GGUF row h*hd + 2j + i.
        auto src_row = [perm_hd](int64_t r) {
            if (!perm_hd) return r;
            const int64_t h = r / perm_hd, w2 = r % perm_hd, half = perm_hd / 2, i = w2 / half, j = w2 % half;
            return h * perm_hd + 2 * j + i;
        };
        if (opt.bits && cols % opt.group == 0) {
            const int64_t words = cols * opt.bits / 32, groups = cols / opt.group;
            auto sc = std::make_shared<std::vector<uint16_t>>(), bi = std::make_shared<std::vector<uint16_t>>();
            const int32_t bits = opt.bits, group = opt.group;
            const bool bf16 = sb == StDtype::BF16;
            w.add(module + ".weight", StDtype::U32, {rows, words}, [=](const SafetensorsWriter::Sink & s) {
                std::vector<float> row((size_t)cols);
                std::vector<uint32_t> q((size_t)words);
                sc->assign((size_t)(rows * groups), 0);
                bi->assign((size_t)(rows * groups), 0);
                for (int64_t r = 0; r < rows; r++) {
                    src->rows(src_row(r), row.data());
                    mlx_quantize_row(row.data(), cols, bits, group, bf16, q.data(), sc->data() + r * groups, bi->data() + r * groups);
                    s(q.data(), q.size() * 4);
                }
            });
            // Written right after the weight, which filled them.
            w.add(module + ".scales", sb, {rows, groups}, [=](const SafetensorsWriter::Sink & s) { s(sc->data(), sc->size() * 2); });
            w.add(module + ".biases", sb, {rows, groups}, [=](const SafetensorsWriter::Sink & s) { s(bi->data(), bi->size() * 2); });
        } else {
            w.add(module + suffix, opt.dtype, {rows, cols}, [=, dt = opt.dtype](const SafetensorsWriter::Sink & s) {
                std::vector<float> row((size_t)cols);
                std::vector<uint8_t> buf;
                for (int64_t r = 0; r < rows; r++) {
                    src->rows(src_row(r), row.data());
                    put_float_row(row.data(), cols, dt, s, buf);
                }
            });
        }
    }

    std::string tok_json, tok_cfg;
    gguf_tokenizer_to_hf(meta, &tok_json, &tok_cfg);

    // Everything goes into <out>.partial, renamed at the end: a failed conversion leaves no folder behind.
    const std::string tmp = out_dir + ".partial";
    std::error_code ec;
    std::filesystem::remove_all(tmp, ec);
    if (!std::filesystem::create_directories(tmp, ec)) fail(MLXB_ERR_IO, "convert: cannot create '" + tmp + "'");
    try {
        auto text = [&](const std::string & name, const std::string & s) {
            std::FILE * f = std::fopen((tmp + "/" + name).c_str(), "wb");
            if (!f) fail(MLXB_ERR_IO, "convert: cannot create '" + tmp + "/" + name + "'");
            const bool ok = std::fwrite(s.data(), 1, s.size(), f) == s.size();
            if ((std::fclose(f) != 0) || !ok) fail(MLXB_ERR_IO, "convert: error writing '" + tmp + "/" + name + "'");
        };
        text("config.json", cfg.dump(2) + "\n");
        text("tokenizer.json", tok_json);
        text("tokenizer_config.json", tok_cfg + "\n");
        w.write_file(tmp + "/model.safetensors");
        std::filesystem::rename(tmp, out_dir, ec);
        if (ec) fail(MLXB_ERR_IO, "convert: cannot rename '" + tmp + "' to '" + out_dir + "': " + ec.message());
    } catch (...) {
        std::filesystem::remove_all(tmp, ec);
        throw;
    }
}

}  // namespace mlxb
