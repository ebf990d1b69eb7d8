// Compute kernels behind one table of function pointers. kernels_generic.cpp is the portable reference; ISA
// variants (kernels_avx2.cpp, kernels_avx512.cpp, later NEON) are compiled with their own target flags and chosen at
// run time by kernels_select() from what the CPU reports, so the shipped binary needs no -march.
#pragma once

#include <cstdint>
#include <vector>

#include "../common.h"
#include "../tensor_types.h"

namespace mlxb {

// Activations quantized for the int8 dot products against Q8_0/Q4_0 weights (llama.cpp quantizes to Q8_0 too;
// a float scale instead of fp16 costs nothing and loses less).
struct BlockQ8x { float d; int8_t qs[QK]; };

// Y[t * ldy + r] = sum_k W[r][k] * X[t][k]  for rows r in [r0, r1) and tokens t in [0, n_tok).
// W: row-major (rows, cols) in the weight type; X: (n_tok, cols) float, or (n_tok, cols/32) BlockQ8x for the
// quantized weight types. Rows are contiguous so a thread owns a row range.
struct Kernels {
    const char * name;
    void (*gemm_f32)(const float * W, const float * X, float * Y, int64_t cols, int64_t n_tok, int64_t r0, int64_t r1, int64_t ldy);
    void (*gemm_f16)(const uint16_t * W, const float * X, float * Y, int64_t cols, int64_t n_tok, int64_t r0, int64_t r1, int64_t ldy);
    void (*gemm_bf16)(const uint16_t * W, const float * X, float * Y, int64_t cols, int64_t n_tok, int64_t r0, int64_t r1, int64_t ldy);
    void (*gemm_q8_0)(const BlockQ8_0 * W, const BlockQ8x * X, float * Y, int64_t cols, int64_t n_tok, int64_t r0, int64_t r1, int64_t ldy);
    void (*gemm_q4_0)(const BlockQ4_0 * W, const BlockQ8x * X, float * Y, int64_t cols, int64_t n_tok, int64_t r0, int64_t r1, int64_t ldy);
    void (*quantize_q8x)(const float * x, BlockQ8x * y, int64_t n);  // n multiple of 32
    float (*dot_f32)(const float * a, const float * b, int64_t n);
    void (*axpy_f32)(float a, const float * x, float * y, int64_t n);  // y += a * x
    // g[i] = silu(g[i]) * u[i] = g / (1 + exp(-g)) * u  (the SwiGLU gate)
    void (*silu_mul)(float * g, const float * u, int64_t n);
    // One query against `len` cached positions: out[hd] = sum_p softmax_p(scale * q . k_p) v_p, where k_p and v_p
    // start at k + p * stride and v + p * stride. scratch holds >= len floats.
    void (*attend)(const float * q, const float * k, const float * v, int64_t stride, int32_t len, int32_t hd,
                   float scale, float * out, float * scratch);
    // Causal attention of nq <= k_attn_block consecutive queries of one sequence (prompt processing): query i, at
    // Q + i * ldq, has position pos0 + i and attends keys 0..pos0 + i; its output goes to O + i * ldo.
    // scratch holds >= (pos0 + nq) * k_attn_block floats.
    void (*attend_block)(const float * Q, int64_t ldq, int32_t nq, int32_t pos0, const float * k, const float * v,
                         int64_t stride, int32_t hd, float scale, float * O, int64_t ldo, float * scratch);
};

constexpr int32_t k_attn_block = 32;

const Kernels & kernels_generic();
const Kernels * kernels_avx2();    // nullptr when not compiled in
const Kernels * kernels_avx512();  // nullptr when not compiled in
// Best table for this CPU; MLXB_KERNELS=generic|avx2|avx512 in the environment forces one (for tests/benchmarks).
const Kernels & kernels_select();
// Every table this CPU can run, generic first (tests compare each against the generic one).
std::vector<const Kernels *> kernels_available();
const char * cpu_features_string();

// Scalar helpers shared by all variants (not hot).
void dequantize_row(TensorType t, const void * src, float * dst, int64_t n);
void quantize_row(TensorType t, const float * src, void * dst, int64_t n);  // ggml's reference rounding

}  // namespace mlxb
