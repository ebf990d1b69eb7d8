// The boundary between the API layer (sequences, batches, outputs; api.cpp) and a compute backend. The CPU backend
// lives in cpu/; a Metal backend would be another implementation of this interface in native/metal/ that owns its
// own KV cache and buffers, without touching cpu/.
#pragma once

#include <cstdint>
#include <memory>

#include "model/llama.h"

namespace mlxb {

struct DecodeInput {
    int32_t n_tokens = 0;
    const int32_t * tokens = nullptr;  // (n_tokens)
    const int32_t * seq = nullptr;     // (n_tokens) sequence of each token
    const int32_t * pos = nullptr;     // (n_tokens) position of each token in its sequence
    const int32_t * out_row = nullptr; // (n_tokens) row of `logits` to fill for this token, or -1
    int32_t n_out = 0;
    float * logits = nullptr;          // (n_out, n_vocab)
};

class Backend {
public:
    virtual ~Backend() = default;
    // Caller guarantees: ids and positions valid, positions of one sequence consecutive and in order, the cache of
    // every sequence already holds positions [0, first position in this batch).
    virtual void decode(const DecodeInput & in) = 0;
    // Copies cached positions [0, n) of sequence src to dst.
    virtual void seq_copy(int32_t src, int32_t dst, int32_t n) = 0;
    virtual void set_threads(int32_t n) = 0;
    virtual int32_t n_threads() const = 0;
};

struct BackendParams {
    int32_t n_ctx, n_seq, n_batch, n_threads;
};

std::unique_ptr<Backend> make_cpu_backend(const Model & model, const BackendParams & p);  // throws Error

// The backend for this build and machine: the CPU one until a GPU backend (native/metal/, MLXB_HAVE_METAL) is
// compiled in and accepts the model; api.cpp only ever calls this.
std::unique_ptr<Backend> make_backend(const Model & model, const BackendParams & p);  // throws Error

}  // namespace mlxb
