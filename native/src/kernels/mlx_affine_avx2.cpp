// MLX affine product with AVX2 + FMA (the avx2 table; the avx512 one for rows that are not whole 16-word vectors). Eight consecutive packed words are
// loaded as one vector; shifting all lanes by k*bits and masking gives element k of each word, i.e. elements
// w*per + k of the 8*per-element chunk. So the activations are permuted once per call into that order (and their
// per-group sums taken) and each weight vector meets its activations with one FMA: no gathers, no shuffles.
//
// Per (row, token) the float operations are fixed: per chunk, dot = FMA chain over k; acc = FMA(scale lanes, dot,
// acc); at the end, the lanes are summed in a fixed tree and sum_g b_g * sx_g is added. Tokens are processed up to
// four at a time over the same unpacked weights, which changes nothing in any token's chain: batch-invariant.
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

template <int BITS, int NT>
void rows_tile(const MlxQuant & q, int64_t cols, const float * XP, const float * SX, float * Y, int64_t ldy, int64_t r0,
               int64_t r1, int64_t t0) {
    constexpr int PER = 32 / BITS;
    const int64_t words = cols * BITS / 32, groups = cols / q.group, chunks = words / 8;
    const int64_t wpg = (int64_t)q.group * BITS / 32;  // words per group
    const __m256i mask = _mm256_set1_epi32((1 << BITS) - 1);
    for (int64_t r = r0; r < r1; r++) {
        const uint32_t * row = q.q + r * words;
        const uint16_t * sc = q.scales + r * groups;
        __m256 acc[NT];
        for (int t = 0; t < NT; t++) acc[t] = _mm256_setzero_ps();
        for (int64_t c = 0; c < chunks; c++) {
            const __m256i v = _mm256_loadu_si256((const __m256i *)(row + c * 8));
            __m256 dot[NT];
            for (int t = 0; t < NT; t++) dot[t] = _mm256_setzero_ps();
            for (int k = 0; k < PER; k++) {
                const __m256 w = _mm256_cvtepi32_ps(_mm256_and_si256(_mm256_srli_epi32(v, k * BITS), mask));
                for (int t = 0; t < NT; t++)
                    dot[t] = _mm256_fmadd_ps(w, _mm256_loadu_ps(XP + (t0 + t) * cols + c * 8 * PER + k * 8), dot[t]);
            }
            __m256 s;
            if (wpg >= 8) s = _mm256_set1_ps(sb_value(q, sc, c * 8 / wpg));
            else {
                alignas(32) float ls[8];
                for (int w = 0; w < 8; w++) ls[w] = sb_value(q, sc, (c * 8 + w) / wpg);
                s = _mm256_load_ps(ls);
            }
            for (int t = 0; t < NT; t++) acc[t] = _mm256_fmadd_ps(s, dot[t], acc[t]);
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
    constexpr int PER = 32 / BITS;
    const int64_t groups = cols / q.group, chunk = 8 * PER;
    thread_local std::vector<float> xp, sx;
    xp.resize((size_t)(n_tok * cols));
    sx.resize((size_t)(n_tok * groups));
    for (int64_t t = 0; t < n_tok; t++) {
        const float * x = X + t * cols;
        float * p = xp.data() + t * cols;
        for (int64_t c0 = 0; c0 < cols; c0 += chunk)
            for (int k = 0; k < PER; k++)
                for (int w = 0; w < 8; w++) p[c0 + k * 8 + w] = x[c0 + w * PER + k];
        for (int64_t g = 0; g < groups; g++) {
            float s = 0;
            for (int64_t k = g * q.group; k < (g + 1) * q.group; k++) s += x[k];
            sx[t * groups + g] = s;
        }
    }
    // Token blocks keep the permuted activations of a block in cache while every row streams past once.
    constexpr int64_t TB = 64;
    for (int64_t b0 = 0; b0 < n_tok; b0 += TB) {
        const int64_t b1 = std::min(n_tok, b0 + TB);
        for (int64_t rb = r0; rb < r1; rb += 16) {
            const int64_t re = std::min(r1, rb + 16);
            int64_t t = b0;
            for (; t + 4 <= b1; t += 4) rows_tile<BITS, 4>(q, cols, xp.data(), sx.data(), Y, ldy, rb, re, t);
            for (; t < b1; t++) rows_tile<BITS, 1>(q, cols, xp.data(), sx.data(), Y, ldy, rb, re, t);
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
