// Random-weight Llama-family GGUF models of named shapes, so benchmarks and tests are reproducible without
// downloads (`mlxbench-engine gen-model`, tests/test_reference.cpp). Speed never depends on weight values; the
// magnitudes are still chosen so activations stay O(1) through the layers and log-probabilities are meaningful.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gguf_writer.h"
#include "tensor_types.h"

namespace mlxb {

struct ModelShape {
    std::string name;
    std::string arch = "llama";  // "llama", "qwen2" (QKV biases, NeoX rotary layout) or "qwen3" (q/k norms, NeoX)
    int32_t n_vocab, n_embd, n_layer, n_head, n_head_kv, n_ff, n_ctx;
    float rope_base = 10000.0f;
    bool tied = false;  // no output.weight: the classifier reuses token_embd
    int32_t head_dim = 0;  // 0: n_embd / n_head; Qwen3 sets its own (q width n_head * head_dim != n_embd)
};

// stories15M, stories110M, tinyllama-1.1B (llama2.c / TinyLlama hyper-parameters, 32000-token vocabulary) and
// qwen3-0.6B (Qwen3-0.6B's, 151936 tokens); the vocabularies are synthetic.
const std::vector<ModelShape> & named_shapes();
const ModelShape * find_shape(const std::string & name);
bool parse_tensor_type(const std::string & s, TensorType * out);  // "F32", "f16", "Q8_0", ...

// Builds the GGUF (metadata, a synthetic SentencePiece vocabulary of n_vocab tokens, random tensors). The big
// matrices use `type`; norms (and qwen2 biases) stay F32 as in real files. Deterministic in `seed`.
GgufWriter random_model(const ModelShape & shape, TensorType type, uint64_t seed);

}  // namespace mlxb
