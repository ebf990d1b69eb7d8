// MLX affine product with AVX2 + FMA (the avx2 table; no AVX-VNNI assumed). Matrices are repacked once per context
// into the 16-row panels the AVX-512 product reads (mlx_pack_panels16, layout in mlx_affine.h): each 64-byte vector
// of a block is two ymm of 8 rows, one row per 32-bit lane and 4 columns per lane (per bit field), so a panel is one
// sequential stream and a decode step reads each matrix once, front to back, like the Q4_0 panels of the AVX-512
// table. Read as mapped (MLX's row-major rows, one row at a time, a float FMA per 8-word chunk and a scalar bias sum
// per row) the product ran at about half of the avx2 Q4_0 speed (BENCHMARKS.md).
//
// Activations are those of the AVX-512 product (mlx_activation_limbs, mlx_affine.h): per group, integers r with
// d = max|x| / L (round to nearest even); for weights of up to 4 bits L = 127, one int8 limb; for 8 bits L = 16256,
// two int8 limbs r = 128 * hi + lo, hi in [-127, 127], lo in [-64, 63]; the float sum of x per group feeds the bias
// term. vpmaddubsw multiplies MLX's unsigned q (a masked bit field) by 4 broadcast bytes of a limb and adds pairs into
// int16:
//   - bits <= 4: q <= 15, so a pair is at most 2 * 15 * 127 = 3810 and the 8 vpmaddubsw of a 32-column block (16
//     products per int16 lane) stay within 30480 < 32767: no saturation; each block's int16 sums are widened once
//     with vpmaddwd into the group's int32 dot.
//   - 8 bits: q up to 255 would saturate (2 * 255 * 127 > 32767), so each byte is split into its nibbles,
//     q = 16 * qh + ql, both <= 15: four int16 sums per block (ql and qh times hi and lo), widened with the factors
//     128, 1, 2048 and 16. Still exact.
// So dot is the exact int32 sum_k q_k * r_k of the group, the same integer as the AVX-512 product's.
// Per (row, token), in group order: acc = fma(float(dot), s * d, acc); acc = fma(b, sx, acc). Neither the tile
// shape, nor the batch, nor the row range changes an operation: batch-invariant.
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "../common.h"
#include "mlx_affine.h"

namespace mlxb {

namespace {

constexpr int P = k_mlx_panel_rows;  // rows per panel: two halves of 8 lanes

int64_t panel_bytes(const MlxQuant & q, int64_t cols) { return cols / q.group * mlx_panel_group_bytes(q.bits, q.group); }

// 8 fp16/bf16 values as floats.
inline __m256 widen8(const uint16_t * p, bool bf16) {
    const __m128i h = _mm_loadu_si128((const __m128i *)p);
    return bf16 ? _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16)) : _mm256_cvtph_ps(h);
}

inline __m256i bcast4(const int8_t * p) {
    int32_t v;
    std::memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

inline float hmax(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// 32 int32 (four vectors, each within int8) as 32 int8 in element order.
inline __m256i pack_bytes(__m256i a, __m256i b, __m256i c, __m256i d) {
    const __m256i ab = _mm256_packs_epi32(a, b), cd = _mm256_packs_epi32(c, d);
    return _mm256_permutevar8x32_epi32(_mm256_packs_epi16(ab, cd), _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

// One token's activations as LIMBS int8 limbs of cols each (the first at xq, hi for two limbs, lo at xq + cols), and d
// and the float sum of x per group, as the AVX-512 product quantizes them (groups are multiples of 32).
template <int LIMBS>
void quantize_token(const float * x, int64_t cols, int32_t group, int8_t * xq, float * d, float * sx) {
    constexpr float levels = mlx_activation_levels(LIMBS);
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t g = 0; g < cols / group; g++) {
        const float * xg = x + g * group;
        __m256 amax = _mm256_setzero_ps(), sum = _mm256_setzero_ps();
        for (int32_t k = 0; k < group; k += 8) {
            const __m256 v = _mm256_loadu_ps(xg + k);
            amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign, v));
            sum = _mm256_add_ps(sum, v);
        }
        const float m = hmax(amax);
        d[g] = m / levels;
        sx[g] = hsum(sum);
        const __m256 inv = _mm256_set1_ps(m > 0 ? levels / m : 0.0f);
        for (int32_t k = 0; k < group; k += 32) {
            __m256i hi[4], lo[4];
            for (int i = 0; i < 4; i++) {
                const __m256i r = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xg + k + 8 * i), inv));  // nearest even
                if constexpr (LIMBS == 1) {
                    hi[i] = r;
                } else {
                    hi[i] = _mm256_srai_epi32(_mm256_add_epi32(r, _mm256_set1_epi32(64)), 7);
                    lo[i] = _mm256_sub_epi32(r, _mm256_slli_epi32(hi[i], 7));
                }
            }
            _mm256_storeu_si256((__m256i *)(xq + g * group + k), pack_bytes(hi[0], hi[1], hi[2], hi[3]));
            if constexpr (LIMBS == 2)
                _mm256_storeu_si256((__m256i *)(xq + cols + g * group + k), pack_bytes(lo[0], lo[1], lo[2], lo[3]));
        }
    }
}

// Lanes of the first n rows of a half (n in 0..8).
inline __m256i lanes_below(int64_t n) {
    alignas(32) static const int32_t table[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    return _mm256_loadu_si256((const __m256i *)(table + 8 - std::clamp<int64_t>(n, 0, 8)));
}

// One panel's NH halves (from half h0) x NT tokens over all groups; token t's limb l at XQ + (LIMBS * t + l) * cols.
// NA int16 sums per (half, token): (q, x) for one limb; for 8 bits (ql, hi), (ql, lo), (qh, hi), (qh, lo).
template <int BITS, int NH, int NT>
void tile(const MlxQuant & q, const uint8_t * W, int h0, int64_t cols, const int8_t * XQ, const float * D,
          const float * SX, float * Y, int64_t ldy, int64_t nrows) {
    constexpr int LIMBS = mlx_activation_limbs(BITS);
    static_assert(LIMBS == (BITS == 8 ? 2 : 1), "the int16 sums below are laid out for these limbs");
    constexpr int NF = BITS == 8 ? 1 : 8 / BITS, NA = BITS == 8 ? 4 : 1;
    const int64_t groups = cols / q.group, nb = q.group / 32, gb = mlx_panel_group_bytes(BITS, q.group);
    const __m256i mask = _mm256_set1_epi8((char)(BITS == 8 ? 0x0f : (1 << BITS) - 1));
    const __m256i factor[4] = {_mm256_set1_epi16(NA == 1 ? 1 : 128), _mm256_set1_epi16(1), _mm256_set1_epi16(2048), _mm256_set1_epi16(16)};
    __m256 acc[NH][NT];
    for (int h = 0; h < NH; h++)
        for (int t = 0; t < NT; t++) acc[h][t] = _mm256_setzero_ps();
    for (int64_t g = 0; g < groups; g++) {
        const uint8_t * wg = W + g * gb;
        // About 2 KiB ahead in the panel's stream, every line once (as the AVX-512 product does).
        if (NT == 1)
            for (int64_t o = 0; o < gb; o += 64) _mm_prefetch((const char *)wg + 2048 + o, _MM_HINT_T0);
        __m256i dot[NH][NT];
        for (int h = 0; h < NH; h++)
            for (int t = 0; t < NT; t++) dot[h][t] = _mm256_setzero_si256();
        for (int64_t b = 0; b < nb; b++) {
            const int64_t col0 = g * q.group + b * 32;
            __m256i a[NH][NT][NA];
            for (int h = 0; h < NH; h++)
                for (int t = 0; t < NT; t++)
                    for (int i = 0; i < NA; i++) a[h][t][i] = _mm256_setzero_si256();
            for (int v = 0; v < BITS; v++) {
                __m256i wv[NH];
                for (int h = 0; h < NH; h++) wv[h] = _mm256_load_si256((const __m256i *)(wg + b * 64 * BITS + 64 * v + 32 * (h0 + h)));
                for (int j = 0; j < NF; j++) {
                    const int64_t col = col0 + 4 * (j * BITS + v);
                    __m256i xh[NT], xl[NT];
                    for (int t = 0; t < NT; t++) {
                        xh[t] = bcast4(XQ + LIMBS * t * cols + col);
                        if constexpr (LIMBS == 2) xl[t] = bcast4(XQ + (2 * t + 1) * cols + col);
                    }
                    for (int h = 0; h < NH; h++) {
                        const __m256i w = _mm256_and_si256(j ? _mm256_srli_epi16(wv[h], j * BITS) : wv[h], mask);
                        const __m256i wh = BITS == 8 ? _mm256_and_si256(_mm256_srli_epi16(wv[h], 4), mask) : w;  // 8 bits: the high nibbles
                        for (int t = 0; t < NT; t++) {
                            a[h][t][0] = _mm256_add_epi16(a[h][t][0], _mm256_maddubs_epi16(w, xh[t]));
                            if constexpr (NA == 4) {
                                a[h][t][1] = _mm256_add_epi16(a[h][t][1], _mm256_maddubs_epi16(w, xl[t]));
                                a[h][t][2] = _mm256_add_epi16(a[h][t][2], _mm256_maddubs_epi16(wh, xh[t]));
                                a[h][t][3] = _mm256_add_epi16(a[h][t][3], _mm256_maddubs_epi16(wh, xl[t]));
                            }
                        }
                    }
                }
            }
            for (int h = 0; h < NH; h++)
                for (int t = 0; t < NT; t++)
                    for (int i = 0; i < NA; i++) dot[h][t] = _mm256_add_epi32(dot[h][t], _mm256_madd_epi16(a[h][t][i], factor[i]));
        }
        const uint16_t * sb = (const uint16_t *)(wg + nb * 64 * BITS);
        for (int h = 0; h < NH; h++) {
            const __m256 s = widen8(sb + 8 * (h0 + h), q.bf16), bias = widen8(sb + P + 8 * (h0 + h), q.bf16);
            for (int t = 0; t < NT; t++) {
                acc[h][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot[h][t]), _mm256_mul_ps(s, _mm256_set1_ps(D[t * groups + g])), acc[h][t]);
                acc[h][t] = _mm256_fmadd_ps(bias, _mm256_set1_ps(SX[t * groups + g]), acc[h][t]);
            }
        }
    }
    for (int h = 0; h < NH; h++) {
        const int64_t n = nrows - 8 * (h0 + h);
        for (int t = 0; t < NT; t++) {
            float * y = Y + t * ldy + 8 * (h0 + h);
            if (n >= 8) _mm256_storeu_ps(y, acc[h][t]);
            else if (n > 0) _mm256_maskstore_ps(y, lanes_below(n), acc[h][t]);
        }
    }
}

template <int BITS, int NH, int NT>
void tile_dispatch(int nt, const MlxQuant & q, const uint8_t * W, int h0, int64_t cols, const int8_t * XQ, const float * D,
                   const float * SX, float * Y, int64_t ldy, int64_t nrows) {
    if constexpr (NT > 1) if (nt < NT) return tile_dispatch<BITS, NH, NT - 1>(nt, q, W, h0, cols, XQ, D, SX, Y, ldy, nrows);
    tile<BITS, NH, NT>(q, W, h0, cols, XQ, D, SX, Y, ldy, nrows);
}

template <int BITS>
void gemm_bits(const MlxQuant & q, int64_t cols, const float * X, float * Y, int64_t n_tok, int64_t r0, int64_t r1, int64_t ldy) {
    constexpr int LIMBS = mlx_activation_limbs(BITS);
    const int64_t groups = cols / q.group, pstride = panel_bytes(q, cols);
    thread_local std::vector<int8_t> xq;
    thread_local std::vector<float> d, sx;
    xq.resize((size_t)(n_tok * LIMBS * cols));
    d.resize((size_t)(n_tok * groups));
    sx.resize((size_t)(n_tok * groups));
    for (int64_t t = 0; t < n_tok; t++)
        quantize_token<LIMBS>(X + t * cols, cols, q.group, xq.data() + t * LIMBS * cols, d.data() + t * groups, sx.data() + t * groups);
    const uint8_t * W = (const uint8_t *)q.panels;
    const int64_t p0 = r0 / P, p1 = (r1 + P - 1) / P;
    // One token: both halves of a panel at once (one stream). Several: one half at a time against NT tokens, so
    // the int16 and int32 sums stay in the 16 ymm registers; the panel is re-read from cache for the other half.
    constexpr int NT = BITS == 8 ? 2 : 3;
    for (int64_t p = p0; p < p1; p++) {
        const uint8_t * wp = W + p * pstride;
        const int64_t nrows = std::min<int64_t>(P, r1 - p * P);
        if (n_tok == 1) {
            tile<BITS, 2, 1>(q, wp, 0, cols, xq.data(), d.data(), sx.data(), Y + p * P, ldy, nrows);
            continue;
        }
        for (int h = 0; h < 2 && 8 * h < nrows; h++)
            for (int64_t t = 0; t < n_tok; t += NT)
                tile_dispatch<BITS, 1, NT>((int)std::min<int64_t>(NT, n_tok - t), q, wp, h, cols, xq.data() + t * LIMBS * cols,
                                           d.data() + t * groups, sx.data() + t * groups, Y + t * ldy + p * P, ldy, nrows);
    }
}

}  // namespace

void mlx_gemm_avx2(const MlxQuant & q, int64_t cols, const float * X, float * Y, int64_t n_tok, int64_t r0, int64_t r1,
                   int64_t ldy) {
    if (!q.panels) fail(MLXB_ERR_INTERNAL, "the avx2 MLX product reads packed panels (mlx_pack_panels16)");
    switch (q.bits) {
    case 2: return gemm_bits<2>(q, cols, X, Y, n_tok, r0, r1, ldy);
    case 4: return gemm_bits<4>(q, cols, X, Y, n_tok, r0, r1, ldy);
    case 8: return gemm_bits<8>(q, cols, X, Y, n_tok, r0, r1, ldy);
    default: fail(MLXB_ERR_UNSUPPORTED, "MLX quantization with " + std::to_string(q.bits) + " bits");
    }
}

}  // namespace mlxb
