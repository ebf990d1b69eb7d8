// MLX affine product with AVX2 + FMA (the avx2 table).
// Eight consecutive packed words are loaded as one vector; shifting all lanes by k*bits and masking both 16-bit
// halves gives each lane the int16 pair (element k, element k + per/2) of its word. The activations are quantized
// once per call to int16 with one scale per group (mlx_quantize_activations, which also stores them in that pair
// order and takes their float sums per group), so each weight vector meets its activations with one vpmaddwd: no
// gathers, no shuffles, 2 products per 32-bit lane per instruction instead of MLX's one float FMA per weight.
//
// Why int16 and not MLX's float activations: the float product is compute-bound at half of Q4_0's speed (4 uops
// per 8 weights); int16 with a per-group scale rounds each activation by at most 2^-16 of its group's largest
// value, 16x finer than the float16 activations mlx-lm itself computes with, and the bias term stays float.
//
// Per (row, token) the operations are fixed: per chunk, an exact int32 dot over k; acc = FMA(scale * d lanes,
// float(dot), acc); at the end, the lanes are summed in a fixed tree and sum_g b_g * sx_g is added. Tokens are
// processed up to four at a time over the same unpacked weights, which changes nothing in any token's chain:
// batch-invariant.
#include <immintrin.h>

#include <vector>

#include "../common.h"
#include "mlx_affine.h"

namespace mlxb {

namespace {

inline float sb_value(const MlxQuant & q, const uint16_t * p, int64_t i) {
    if (q.bf16) {
        uint32_t b = (uint32_t)p[i] << 16;
        float f;
        std::memcpy(&f, &b, 4);
        return f;
    }
    return _cvtsh_ss(p[i]);
}

inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// Lanes of an 8-word chunk c take the value of their word's group: per_group[(c * 8 + w) / wpg].
inline __m256 group_lanes(const float * per_group, int64_t c, int64_t wpg) {
    if (wpg >= 8) return _mm256_set1_ps(per_group[c * 8 / wpg]);
    alignas(32) float ls[8];
    for (int w = 0; w < 8; w++) ls[w] = per_group[(c * 8 + w) / wpg];
    return _mm256_load_ps(ls);
}

template <int BITS, int NT>
void rows_tile(const MlxQuant & q, int64_t cols, const int16_t * XQ, const float * D, const float * SX, float * Y,
               int64_t ldy, int64_t r0, int64_t r1, int64_t t0, float * sc) {
    constexpr int HALF = 16 / BITS;
    const int64_t words = cols * BITS / 32, groups = cols / q.group, chunks = words / 8;
    const int64_t wpg = (int64_t)q.group * BITS / 32;  // words per group
    const __m256i mask = _mm256_set1_epi32(((1 << BITS) - 1) * 0x00010001);
    for (int64_t r = r0; r < r1; r++) {
        const uint32_t * row = q.q + r * words;
        for (int64_t g = 0; g < groups; g++) sc[g] = sb_value(q, q.scales + r * groups, g);
        __m256 acc[NT];
        for (int t = 0; t < NT; t++) acc[t] = _mm256_setzero_ps();
        for (int64_t c = 0; c < chunks; c++) {
            const __m256i v = _mm256_loadu_si256((const __m256i *)(row + c * 8));
            // The same words 8 rows on, as the AVX-512 kernel does (see there why).
            if ((c & 1) == 0) _mm_prefetch((const char *)(row + 8 * words + c * 8), _MM_HINT_T0);
            __m256i dot[NT];
            for (int t = 0; t < NT; t++) dot[t] = _mm256_setzero_si256();
            for (int k = 0; k < HALF; k++) {
                const __m256i w = _mm256_and_si256(_mm256_srli_epi32(v, k * BITS), mask);
                for (int t = 0; t < NT; t++) {
                    const __m256i x = _mm256_loadu_si256((const __m256i *)(XQ + (t0 + t) * cols + c * 256 / BITS + k * 16));
                    dot[t] = _mm256_add_epi32(dot[t], _mm256_madd_epi16(w, x));
                }
            }
            const __m256 s = group_lanes(sc, c, wpg);
            for (int t = 0; t < NT; t++)
                acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(s, group_lanes(D + (t0 + t) * groups, c, wpg)),
                                         _mm256_cvtepi32_ps(dot[t]), acc[t]);
        }
        const uint16_t * bi = q.biases + r * groups;
        for (int t = 0; t < NT; t++) {
            float bsum = 0;
            const float * sx = SX + (t0 + t) * groups;
            for (int64_t g = 0; g < groups; g++) {
                const float bs = sb_value(q, bi, g) * sx[g];
                bsum += bs;
            }
            Y[(t0 + t) * ldy + r] = hsum(acc[t]) + bsum;
        }
    }
}

template <int BITS>
void gemm_bits(const MlxQuant & q, int64_t cols, const float * X, float * Y, int64_t n_tok, int64_t r0, int64_t r1, int64_t ldy) {
    const int64_t groups = cols / q.group;
    thread_local std::vector<int16_t> xq;
    thread_local std::vector<float> d, sx, sc;
    xq.resize((size_t)(n_tok * cols));
    d.resize((size_t)(n_tok * groups));
    sx.resize((size_t)(n_tok * groups));
    sc.resize((size_t)groups);
    for (int64_t t = 0; t < n_tok; t++)
        mlx_quantize_activations(X + t * cols, cols, q.group, BITS, 8, xq.data() + t * cols, d.data() + t * groups,
                                 sx.data() + t * groups);
    // Token blocks keep the quantized activations of a block in cache while every row streams past once.
    constexpr int64_t TB = 64;
    for (int64_t b0 = 0; b0 < n_tok; b0 += TB) {
        const int64_t b1 = std::min(n_tok, b0 + TB);
        for (int64_t rb = r0; rb < r1; rb += 16) {
            const int64_t re = std::min(r1, rb + 16);
            int64_t t = b0;
            for (; t + 4 <= b1; t += 4) rows_tile<BITS, 4>(q, cols, xq.data(), d.data(), sx.data(), Y, ldy, rb, re, t, sc.data());
            for (; t < b1; t++) rows_tile<BITS, 1>(q, cols, xq.data(), d.data(), sx.data(), Y, ldy, rb, re, t, sc.data());
        }
    }
}

}  // namespace

void mlx_gemm_avx2(const MlxQuant & q, int64_t cols, const float * X, float * Y, int64_t n_tok, int64_t r0, int64_t r1,
                   int64_t ldy) {
    // Rows whose packed words are not whole 8-word vectors take the portable path (always, for that matrix).
    if ((cols * q.bits / 32) % 8 != 0) return mlx_gemm_generic(q, cols, X, Y, n_tok, r0, r1, ldy);
    switch (q.bits) {
    case 2: return gemm_bits<2>(q, cols, X, Y, n_tok, r0, r1, ldy);
    case 4: return gemm_bits<4>(q, cols, X, Y, n_tok, r0, r1, ldy);
    case 8: return gemm_bits<8>(q, cols, X, Y, n_tok, r0, r1, ldy);
    default: fail(MLXB_ERR_UNSUPPORTED, "MLX quantization with " + std::to_string(q.bits) + " bits");
    }
}

}  // namespace mlxb
