// MLX affine group quantization (ml-explore/mlx `quantize`, mode "affine"): each run of `group` weights along a
// row has a scale s and a bias b (float16 or bfloat16), and w = s * q + b with q an unsigned `bits`-bit integer.
// q values are packed LSB first into uint32 words: element k of each word's 32/bits elements occupies bits
// [k*bits, (k+1)*bits). Supported here: bits 2, 4, 8 (whole elements per word) with group sizes 32, 64, 128.
//
// The matrix products are fused (nothing is dequantized to a float copy) and follow MLX's own qmv/qmm arithmetic:
// per group, dot = sum_k q_k x_k and sx = sum_k x_k, and the group adds s * dot + b * sx. The portable product does
// exactly that in float; the SIMD ones take dot in int32 over integer activations with one scale per group (int16
// on AVX2, see mlx_affine_avx2.cpp; 15 bits as two int8 limbs on AVX-512 VNNI over repacked panels, see
// mlx_affine_avx512.cpp) and keep sx in float. Batch invariance (see kernels.h) holds as for the other types: an
// output's float operations depend only on its row and its token's activations, never on the batch, the token's
// place in it or the row range of the calling thread.
#pragma once

#include <cstdint>

#include "kernels.h"

namespace mlxb {

struct Weight;

// Quantization parameters of one matrix; data of (rows, cols) as MLX stores it: q (rows, cols*bits/32) uint32,
// scales and biases (rows, cols/group) of sb_type.
struct MlxQuant {
    const uint32_t * q = nullptr;
    const uint16_t * scales = nullptr;
    const uint16_t * biases = nullptr;
    bool bf16 = false;  // scales/biases are bfloat16 (else float16)
    int32_t bits = 0, group = 0;
    const void * panels = nullptr;  // the product's repacked form (MlxProduct::pack), for products that read one
};

bool mlx_quant_supported(int32_t bits, int32_t group);
// The bits-bit value of element k of a packed row (LSB first).
inline uint32_t mlx_unpack(const uint32_t * row, int32_t bits, int64_t k) {
    const int64_t per = 32 / bits;
    return (row[k / per] >> ((k % per) * bits)) & ((1u << bits) - 1);
}
float mlx_scale_value(const MlxQuant & q, const uint16_t * p, int64_t i);  // fp16/bf16 -> float
// dst[k] = s * q + b (float multiply, then add) for row r of a (rows, cols) matrix.
void mlx_dequantize_row(const MlxQuant & q, int64_t cols, int64_t r, float * dst);
// Quantizes one row as mlx.core.quantize does (float32 arithmetic; scales/biases rounded to sb type at the end):
// q_out (cols*bits/32 words), s_out/b_out (cols/group).
void mlx_quantize_row(const float * w, int64_t cols, int32_t bits, int32_t group, bool bf16, uint32_t * q_out,
                      uint16_t * s_out, uint16_t * b_out);

// The SIMD products' activations: per group, d = max|x| / 32767 and x ~ d * xq with xq int16 (round to nearest),
// plus the float sum of x (for the bias term). xq is stored in the order the products read it: per chunk of `lanes`
// packed words, for k < per/2, lane w holds the pair (element w*per + k, element w*per + k + per/2), which is what
// shifting a word right by k*bits and masking both 16-bit halves gives.
void mlx_quantize_activations(const float * x, int64_t cols, int32_t group, int32_t bits, int32_t lanes, int16_t * xq,
                              float * d, float * sx);
// Y[t * ldy + r] = sum_k W[r][k] X[t][k] for rows [r0, r1), tokens [0, n_tok); X is (n_tok, cols) float.
using MlxGemm = void (*)(const MlxQuant & q, int64_t cols, const float * X, float * Y, int64_t n_tok, int64_t r0,
                         int64_t r1, int64_t ldy);
void mlx_gemm_generic(const MlxQuant & q, int64_t cols, const float * X, float * Y, int64_t n_tok, int64_t r0,
                      int64_t r1, int64_t ldy);
#if defined(MLXB_HAVE_AVX2)
void mlx_gemm_avx2(const MlxQuant & q, int64_t cols, const float * X, float * Y, int64_t n_tok, int64_t r0,
                   int64_t r1, int64_t ldy);
#endif
#if defined(MLXB_HAVE_AVX512)
void mlx_gemm_avx512(const MlxQuant & q, int64_t cols, const float * X, float * Y, int64_t n_tok, int64_t r0,
                     int64_t r1, int64_t ldy);
size_t mlx_packed_bytes_avx512(const MlxQuant & q, int64_t rows, int64_t cols);
void mlx_pack_avx512(const MlxQuant & q, int64_t rows, int64_t cols, int64_t p0, int64_t p1, void * dst);
#endif

// The MLX product that goes with a kernel table (generic -> scalar; avx2 -> AVX2 FMA; avx512 -> AVX-512 VNNI).
// pack == nullptr: gemm reads MLX's layout as mapped. Otherwise gemm reads only the packed form, made once (like
// Kernels::pack) into packed_bytes of 64-byte aligned memory, panels [p0, p1) of panel_rows rows per call (panels
// are independent, so threads may pack disjoint ranges), and handed to gemm as MlxQuant::panels; gemm's row ranges
// then start at multiples of panel_rows.
struct MlxProduct {
    int32_t panel_rows;
    size_t (*packed_bytes)(const MlxQuant & q, int64_t rows, int64_t cols);
    void (*pack)(const MlxQuant & q, int64_t rows, int64_t cols, int64_t p0, int64_t p1, void * dst);
    MlxGemm gemm;
};
const MlxProduct & mlx_product_for(const Kernels & K);

}  // namespace mlxb
