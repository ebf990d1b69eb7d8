// Compute kernels behind one table of function pointers. kernels_generic.cpp is the portable reference; ISA
// variants (kernels_avx2.cpp, kernels_avx512.cpp, later NEON) are compiled with their own target flags and chosen at
// run time by kernels_select() from what the CPU reports, so the shipped binary needs no -march.
//
// Batch invariance (every table): an output element is computed by one fixed sequence of float operations that
// depends only on the operands, never on how many tokens share the call, where a token sits in the batch, which
// rows a thread was given (row ranges start at multiples of panel_rows), or whether a prompt is split into several
// calls. So a token's logits are bit-identical whatever batch it was decoded in. The tests in
// tests/test_invariance.cpp hold every table to this.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "../common.h"
#include "../tensor_types.h"

namespace mlxb {

// Activations quantized for the int8 dot products against Q8_0/Q4_0 weights (llama.cpp quantizes to Q8_0 too;
// a float scale instead of fp16 costs nothing and loses less). `sum` = sum of qs: the VNNI kernels multiply
// unsigned weight bytes by signed activations and take the offset of the weights off with it.
struct BlockQ8x { float d; int32_t sum; int8_t qs[QK]; };

// Attention caches, per (sequence, kv head). K in tiles of k_kv_tile positions: element d of position p at
// k[(p / k_kv_tile) * hd * k_kv_tile + d * k_kv_tile + p % k_kv_tile], so the scores of 16 keys are one vector
// whatever the number of queries. V row-major: position p's hd values at v + p * vstride.
constexpr int32_t k_kv_tile = 16;
constexpr int32_t k_attn_block = 32;  // queries per attend_block call

// Floats of attention scratch one thread needs for contexts of n_ctx positions and heads of hd dimensions.
inline size_t attn_scratch_floats(int32_t n_ctx, int32_t hd) {
    const size_t tiles = ((size_t)n_ctx + k_kv_tile - 1) / k_kv_tile;
    return tiles * k_kv_tile * k_attn_block + (size_t)hd * k_attn_block + 64;
}

struct Kernels {
    const char * name;
    // Weight layout. panel_rows == 1: matrices are used as mapped (row-major, file type). > 1: every matrix is
    // repacked once, at context creation, into panels of panel_rows rows (pack), and gemm reads that form.
    int32_t panel_rows;
    // Bytes of the packed form of a (rows, cols) matrix of type t; 0 = used as mapped.
    size_t (*packed_bytes)(TensorType t, int64_t rows, int64_t cols);
    // Packs panels [p0, p1) of W (rows, cols) into dst (packed_bytes long; panels are independent, so threads may
    // pack disjoint ranges).
    void (*pack)(TensorType t, const void * W, int64_t rows, int64_t cols, int64_t p0, int64_t p1, void * dst);
    // Y[t * ldy + r] = sum_k W[r][k] * X[t][k]  for rows r in [r0, r1) and tokens t in [0, n_tok). W is the matrix
    // as mapped or packed (see above); X is (n_tok, cols) float for float weights, XQ (n_tok, cols/32) blocks for
    // Q8_0/Q4_0. r0 < r1; r0 is a multiple of panel_rows; r1 a multiple of it or the row count.
    void (*gemm)(TensorType t, const void * W, const float * X, const BlockQ8x * XQ, float * Y, int64_t rows,
                 int64_t cols, int64_t n_tok, int64_t r0, int64_t r1, int64_t ldy);
    void (*quantize_q8x)(const float * x, BlockQ8x * y, int64_t n);  // n multiple of 32
    float (*dot_f32)(const float * a, const float * b, int64_t n);
    void (*axpy_f32)(float a, const float * x, float * y, int64_t n);  // y += a * x
    // g[i] = silu(g[i]) * u[i] = g / (1 + exp(-g)) * u  (the SwiGLU gate); each element independent of n.
    void (*silu_mul)(float * g, const float * u, int64_t n);
    // One query against `len` cached positions (layouts above): out[hd] = sum_p softmax_p(scale * q . k_p) v_p.
    // scratch holds attn_scratch_floats(len, hd).
    void (*attend)(const float * q, const float * k, const float * v, int64_t vstride, int32_t len, int32_t hd,
                   float scale, float * out, float * scratch);
    // Causal attention of nq <= k_attn_block consecutive queries of one sequence: query i, at Q + i * ldq, has
    // position pos0 + i and attends keys 0..pos0 + i; its output goes to O + i * ldo. Each query's output is
    // bit-identical to attend() of that query alone. scratch holds attn_scratch_floats(pos0 + nq, hd).
    void (*attend_block)(const float * Q, int64_t ldq, int32_t nq, int32_t pos0, const float * k, const float * v,
                         int64_t vstride, int32_t hd, float scale, float * O, int64_t ldo, float * scratch);
};

const Kernels & kernels_generic();
const Kernels * kernels_avx2();    // nullptr when not compiled in
const Kernels * kernels_avx512();  // nullptr when not compiled in
// Best table for this CPU; MLXB_KERNELS=generic|avx2|avx512 in the environment forces one (for tests/benchmarks).
const Kernels & kernels_select();
// Every table this CPU can run, generic first (tests compare each against the generic one).
std::vector<const Kernels *> kernels_available();
// The table of that name if this CPU can run it, else nullptr.
const Kernels * kernels_find(const char * name);
// Tests only: the table later contexts use instead of kernels_select() (nullptr: back to kernels_select()).
void kernels_override(const Kernels * k);
const Kernels & kernels_for_new_context();
const char * cpu_features_string();

// Scalar helpers shared by all variants (not hot).
void dequantize_row(TensorType t, const void * src, float * dst, int64_t n);
void quantize_row(TensorType t, const float * src, void * dst, int64_t n);  // ggml's reference rounding
// K cache addressing (see k_kv_tile).
inline size_t k_tile_index(int32_t p, int32_t d, int32_t hd) {
    return (size_t)(p / k_kv_tile) * hd * k_kv_tile + (size_t)d * k_kv_tile + p % k_kv_tile;
}

}  // namespace mlxb
