// MLX affine group quantization (ml-explore/mlx `quantize`, mode "affine"): each run of `group` weights along a
// row has a scale s and a bias b (float16 or bfloat16), and w = s * q + b with q an unsigned `bits`-bit integer.
// q values are packed LSB first into uint32 words: element k of each word's 32/bits elements occupies bits
// [k*bits, (k+1)*bits). Supported here: bits 2, 4, 8 (whole elements per word) with group sizes 32, 64, 128.
//
// The matrix products are fused (nothing is dequantized to a float copy) and follow MLX's own qmv/qmm arithmetic:
// per group, dot = sum_k q_k x_k and sx = sum_k x_k, and the group adds s * dot + b * sx. The portable product does
// exactly that in float; the SIMD ones take dot in int32 over integer activations with one scale per group (see
// mlx_activation_limbs; over repacked panels: vpdpbusd on AVX-512 VNNI, see mlx_affine_avx512.cpp; vpmaddubsw on
// AVX2, see mlx_affine_avx2.cpp) and keep sx in float. Batch invariance (see kernels.h) holds as for the other types: an
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

// The SIMD products' activations, per token and group: r = round(x * L / max|x|), held as int8 limbs. Weights of up
// to 4 bits meet one limb, L = 127 (llama.cpp's Q8 activations, which its Q4_0 product uses): their own rounding,
// 1/15 of a group's range and coarser, is what moves the results (stories260K 4-bit: mean |logprob - F32| 0.205
// with float activations, 0.217 with one limb), and a second limb cost ~10 % of TinyLlama's 4-bit decode. 8-bit
// weights meet two, x ~ d * (128 hi + lo) with L = 16256: one limb was measured too coarse for them (mean |logprob -
// F32| 0.0085 -> 0.037, greedy agreement 67 -> 31 tokens).
constexpr int mlx_activation_limbs(int32_t bits) { return bits <= 4 ? 1 : 2; }
constexpr float mlx_activation_levels(int limbs) { return limbs == 1 ? 127.0f : 16256.0f; }

// Y[t * ldy + r] = sum_k W[r][k] X[t][k] for rows [r0, r1), tokens [0, n_tok); X is (n_tok, cols) float.
using MlxGemm = void (*)(const MlxQuant & q, int64_t cols, const float * X, float * Y, int64_t n_tok, int64_t r0,
                         int64_t r1, int64_t ldy);
void mlx_gemm_generic(const MlxQuant & q, int64_t cols, const float * X, float * Y, int64_t n_tok, int64_t r0,
                      int64_t r1, int64_t ldy);

// The panels both SIMD products read (portable code: packing runs on any CPU). 16 rows per panel; per group of G
// columns, 2 * G * bits + 64 bytes (a multiple of 64):
//   [G/32 blocks of 32 columns, 64 * bits bytes each][16 scales][16 biases]  (scales/biases fp16 or bf16, unchanged)
//   In a block, vector h < bits holds 4 bytes per row i at h * 64 + 4 * i; field j < 8 / bits of byte e (bits
//   [j * bits, (j + 1) * bits)) is q of column 4 * (j * bits + h) + e of the block. Rows past the matrix are zero.
// So a 64-byte vector is one row per 32-bit lane of a zmm (AVX-512), or two ymm of 8 rows each (AVX2).
constexpr int32_t k_mlx_panel_rows = 16;
inline int64_t mlx_panel_group_bytes(int32_t bits, int32_t group) { return 2 * (int64_t)group * bits + 64; }
size_t mlx_panels16_bytes(const MlxQuant & q, int64_t rows, int64_t cols);
void mlx_pack_panels16(const MlxQuant & q, int64_t rows, int64_t cols, int64_t p0, int64_t p1, void * dst);

#if defined(MLXB_HAVE_AVX2)
void mlx_gemm_avx2(const MlxQuant & q, int64_t cols, const float * X, float * Y, int64_t n_tok, int64_t r0,
                   int64_t r1, int64_t ldy);
#endif
#if defined(MLXB_HAVE_AVX512)
void mlx_gemm_avx512(const MlxQuant & q, int64_t cols, const float * X, float * Y, int64_t n_tok, int64_t r0,
                     int64_t r1, int64_t ldy);
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
