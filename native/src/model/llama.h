// Llama-family model description: hyper-parameters and weights, read from GGUF metadata and tensor views into the
// mapping (nothing is copied). Covers Llama 2/3, Mistral, SmolLM ("llama"), Qwen2/2.5 ("qwen2": QKV biases, NeoX
// rotary layout) and Qwen3 ("qwen3": per-head RMSNorm of q and k). Backend-independent: a backend only reads these
// views.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "../gguf.h"
#include "../kernels/mlx_affine.h"
#include "../tokenizer.h"

namespace mlxb {

class SafetensorsSet;

// What sets the supported architectures apart in the forward pass; one row per GGUF general.architecture.
struct ArchInfo {
    const char * name;      // GGUF general.architecture, Hugging Face model_type
    const char * hf_class;  // config.json architectures[0]
    bool rope_neox;         // GGUF files rotate half-split pairs (llama.cpp permutes llama's Q/K rows to adjacent ones)
    bool qkv_bias;          // q/k/v projections always carry biases (Qwen2)
    bool qk_norm;           // q and k pass a per-head RMSNorm before the rotation (Qwen3)
};
const ArchInfo * find_arch(const std::string & name);  // nullptr: not supported
const char * supported_archs();                        // the table's names, "llama, mistral, ...", for messages

struct HParams {
    std::string arch;
    int32_t n_vocab = 0;
    int32_t n_ctx_train = 0;
    int32_t n_embd = 0;      // model width (dim)
    int32_t n_layer = 0;
    int32_t n_head = 0;
    int32_t n_head_kv = 0;   // < n_head: grouped-query attention
    int32_t head_dim = 0;    // n_embd / n_head unless the file says otherwise
    int32_t n_ff = 0;        // feed-forward hidden width
    int32_t n_rot = 0;       // rotated dimensions per head (<= head_dim)
    bool rope_neox = false;  // false: rotate pairs (2j, 2j+1); true: pairs (j, j + n_rot/2)
    float rope_base = 10000.0f;
    float norm_eps = 1e-5f;
    // Per rotated pair j, the inverse frequency when rope scaling changes it (config.json rope_scaling "linear" or
    // "llama3"); empty: rope_base^(-2j/n_rot).
    std::vector<double> rope_inv_freq;
    int32_t kv_dim() const { return n_head_kv * head_dim; }
    int32_t q_dim() const { return n_head * head_dim; }
};

// A 2-D weight: `rows` rows of `cols` elements, row-major, in its file type.
struct Weight {
    TensorType type = TensorType::F32;
    const void * data = nullptr;
    int64_t rows = 0, cols = 0;
    int64_t row_bytes = 0;
    MlxQuant mlx;  // type == MLX_AFFINE: the packed values, scales and biases (data == mlx.q)
};

struct Layer {
    const float * attn_norm = nullptr;               // (n_embd)
    Weight wq, wk, wv, wo;                           // (q_dim, n_embd) (kv_dim, n_embd) x2 (n_embd, q_dim)
    const float * bq = nullptr, * bk = nullptr, * bv = nullptr;  // qwen2 (and HF configs with attention_bias)
    const float * q_norm = nullptr, * k_norm = nullptr;           // (head_dim), qwen3 only
    const float * ffn_norm = nullptr;                // (n_embd)
    Weight w_gate, w_up, w_down;                     // (n_ff, n_embd) x2, (n_embd, n_ff)
};

struct Model {
    std::unique_ptr<GgufFile> file;
    HParams hp;
    std::unique_ptr<Tokenizer> tok;
    Weight tok_embd;              // (n_vocab, n_embd)
    const float * out_norm = nullptr;
    Weight output;                // (n_vocab, n_embd); tok_embd when tied
    std::vector<Layer> layers;
    int64_t n_params = 0, n_bytes = 0;

    // Data a backend derives from the weights once and every context of this model shares (the weights repacked
    // for one kernel table), by key; make() runs once per key, under a lock.
    std::shared_ptr<void> derived(const std::string & key, const std::function<std::shared_ptr<void>()> & make) const {
        std::lock_guard<std::mutex> lk(derived_mu_);
        std::shared_ptr<void> & slot = derived_[key];
        if (!slot) slot = make();
        return slot;
    }

    // vocab_only: tokenizer and metadata, no tensors needed.
    static std::unique_ptr<Model> load(const std::string & path, bool vocab_only);  // throws Error
    static std::unique_ptr<Model> from_gguf(std::unique_ptr<GgufFile> f, bool vocab_only);
    // An MLX / Hugging Face model folder (config.json, safetensors, tokenizer.json); src/mlx/mlx_model.cpp.
    static std::unique_ptr<Model> from_mlx_folder(const std::string & dir, bool vocab_only);

    // Tells the OS that the mapped bytes [p, p + n) of a weight are not read again (a backend repacked them), so
    // their pages leave the process; reading them anyway faults them back in from the file.
    void release(const void * p, size_t n) const;

    // MLX folders: the mapped safetensors, the GGUF-form metadata `file` parses (tokenizer and config keys), and
    // float copies of the 1-D tensors (norms, biases) that were stored in half precision.
    std::shared_ptr<SafetensorsSet> weights;
    std::vector<uint8_t> meta_bytes;
    std::vector<std::vector<float>> owned_vectors;

private:
    mutable std::mutex derived_mu_;
    mutable std::map<std::string, std::shared_ptr<void>> derived_;
};

}  // namespace mlxb
