// MLX affine product with AVX-512 VNNI (the avx512 table). Matrices are repacked once per context (mlx_pack_panels16)
// into panels of 16 rows in the scheme of the table's Q4_0/Q8_0 panels (kernels_avx512.cpp): one row per 32-bit
// lane and 4 columns per lane, so one vpdpbusd multiplies MLX's unsigned q of 16 rows x 4 columns by 4 broadcast
// int8 activations, and a panel is one sequential stream. Row-major MLX rows gave the decode tile 4 interleaved
// 1 KiB streams and half of Q4_0's speed (BENCHMARKS.md).
//
// Panel layout: mlx_pack_panels16 (mlx_affine.h), shared with the AVX2 product, which reads each 64-byte vector as
// two halves of 8 rows.
//
// Activations are quantized per group to integers with d = max|x| / L (round to nearest even): L = 127, one int8
// limb, for weights of up to 4 bits; L = 16256 held as two limbs x ~ d * (128 * hi + lo) for 8 bits, so each weight
// vector meets them in two vpdpbusd (64 products each), as fine as int16 activations in vpdpwssd pairs without
// unpacking weights to int16. Why the split: mlx_activation_limbs (mlx_affine.h). The rounding moves s * q_k * x_k by
// at most |s q_k| * d / 2; for 8 bits that is 2^-15 of the group's largest |x|, 8x finer than the float16
// activations mlx-lm computes with. The float sum of x per group feeds the bias term, which stays float as in MLX.
// Per (row, token), in group order: dot = the exact int32 sum of the group's products; acc = fma(float(dot), s * d,
// acc); acc = fma(b, sx, acc). Neither the tile shape, nor the batch, nor the row range changes an operation:
// batch-invariant.
#include <immintrin.h>

#include <algorithm>
#include <vector>

#include "../common.h"
#include "avx512_panels.h"
#include "mlx_affine.h"

namespace mlxb {

namespace {

using avx512::P;
using avx512::bcast4;
using avx512::tail_mask;
using avx512::tile_size;

int64_t group_bytes(int32_t bits, int32_t group) { return mlx_panel_group_bytes(bits, group); }
int64_t panel_bytes(const MlxQuant & q, int64_t cols) { return cols / q.group * group_bytes(q.bits, q.group); }

inline __m512 widen16(const uint16_t * p, bool bf16) {
    const __m256i h = _mm256_load_si256((const __m256i *)p);
    return bf16 ? _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)) : _mm512_cvtph_ps(h);
}

// One token's activations as LIMBS int8 limbs of cols each (the first at xq, hi for two limbs, lo at xq + cols), and d
// and the float sum of x per group: x ~ d * r, d = max|x| / L; r in [-127, 127] for one limb, for two r = 128 * hi +
// lo with hi in [-127, 127], lo in [-64, 63].
template <int LIMBS>
void quantize_token(const float * x, int64_t cols, int32_t group, int8_t * xq, float * d, float * sx) {
    constexpr float levels = mlx_activation_levels(LIMBS);
    for (int64_t g = 0; g < cols / group; g++) {
        const float * xg = x + g * group;
        __m512 amax = _mm512_setzero_ps(), sum = _mm512_setzero_ps();
        for (int32_t k = 0; k < group; k += 16) {
            const __m512 v = _mm512_loadu_ps(xg + k);
            amax = _mm512_max_ps(amax, _mm512_abs_ps(v));
            sum = _mm512_add_ps(sum, v);
        }
        const float m = _mm512_reduce_max_ps(amax);
        d[g] = m / levels;
        sx[g] = _mm512_reduce_add_ps(sum);
        const __m512 inv = _mm512_set1_ps(m > 0 ? levels / m : 0.0f);
        for (int32_t k = 0; k < group; k += 16) {
            const __m512i r = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(xg + k), inv));  // nearest even
            if constexpr (LIMBS == 1) {
                _mm_storeu_si128((__m128i *)(xq + g * group + k), _mm512_cvtepi32_epi8(r));
            } else {
                const __m512i hi = _mm512_srai_epi32(_mm512_add_epi32(r, _mm512_set1_epi32(64)), 7);
                const __m512i lo = _mm512_sub_epi32(r, _mm512_slli_epi32(hi, 7));
                _mm_storeu_si128((__m128i *)(xq + g * group + k), _mm512_cvtepi32_epi8(hi));
                _mm_storeu_si128((__m128i *)(xq + cols + g * group + k), _mm512_cvtepi32_epi8(lo));
            }
        }
    }
}

// NP panels x NT tokens over all groups; token t's limb l at XQ + (LIMBS * t + l) * cols. Per output, int32 chains:
// for two limbs one per limb, dot = 128 * hi chain + lo chain; for one limb one chain, or for a lone token two (the
// even and the odd bit fields of a byte) to hide vpdpbusd's latency, dot = their sum (integer: exact in any order).
template <int BITS, int NP, int NT>
void tile(const MlxQuant & q, const uint8_t * W, int64_t pstride, int64_t cols, const int8_t * XQ, const float * D,
          const float * SX, float * Y, int64_t ldy, const __mmask16 * m) {
    constexpr int NF = 8 / BITS, LIMBS = mlx_activation_limbs(BITS);
    const int64_t groups = cols / q.group, nb = q.group / 32, gb = group_bytes(BITS, q.group);
    const __m512i mask = _mm512_set1_epi8((char)((1 << BITS) - 1));
    __m512 acc[NP][NT];
    for (int p = 0; p < NP; p++)
        for (int t = 0; t < NT; t++) acc[p][t] = _mm512_setzero_ps();
    for (int64_t g = 0; g < groups; g++) {
        __m512i dot[NP][NT][2];
        for (int p = 0; p < NP; p++)
            for (int t = 0; t < NT; t++) dot[p][t][0] = dot[p][t][1] = _mm512_setzero_si512();
        for (int p = 0; p < NP; p++) {
            // About 2 KiB ahead in this panel's stream, every line once: panels are too short for the hardware
            // prefetcher to ramp up on (as for Q4_0's).
            const char * ahead = (const char *)(W + p * pstride + g * gb) + 2048;
            for (int64_t o = 0; o < gb; o += 64) _mm_prefetch(ahead + o, _MM_HINT_T0);
        }
        for (int64_t b = 0; b < nb; b++) {
            const int64_t col0 = g * q.group + b * 32;
            for (int h = 0; h < BITS; h++)
                for (int p = 0; p < NP; p++) {
                    const __m512i v = _mm512_load_si512(W + p * pstride + g * gb + b * 64 * BITS + 64 * h);
                    for (int j = 0; j < NF; j++) {
                        const __m512i w = BITS == 8 ? v : _mm512_and_si512(j ? _mm512_srli_epi16(v, j * BITS) : v, mask);
                        const int64_t col = col0 + 4 * (j * BITS + h);
                        for (int t = 0; t < NT; t++) {
                            if constexpr (LIMBS == 1) {
                                const int c = NT == 1 ? j & 1 : 0;
                                dot[p][t][c] = _mm512_dpbusd_epi32(dot[p][t][c], w, bcast4(XQ + t * cols + col));
                            } else {
                                for (int l = 0; l < 2; l++)
                                    dot[p][t][l] = _mm512_dpbusd_epi32(dot[p][t][l], w, bcast4(XQ + (2 * t + l) * cols + col));
                            }
                        }
                    }
                }
        }
        for (int p = 0; p < NP; p++) {
            const uint16_t * sb = (const uint16_t *)(W + p * pstride + g * gb + nb * 64 * BITS);
            const __m512 s = widen16(sb, q.bf16), bias = widen16(sb + P, q.bf16);
            for (int t = 0; t < NT; t++) {
                const __m512i sum = _mm512_add_epi32(LIMBS == 1 ? dot[p][t][0] : _mm512_slli_epi32(dot[p][t][0], 7), dot[p][t][1]);
                acc[p][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), _mm512_mul_ps(s, _mm512_set1_ps(D[t * groups + g])), acc[p][t]);
                acc[p][t] = _mm512_fmadd_ps(bias, _mm512_set1_ps(SX[t * groups + g]), acc[p][t]);
            }
        }
    }
    for (int p = 0; p < NP; p++)
        for (int t = 0; t < NT; t++) _mm512_mask_storeu_ps(Y + t * ldy + p * P, m[p], acc[p][t]);
}

template <int BITS, int NP, int NT>
void tile_dispatch(int nt, const MlxQuant & q, const uint8_t * W, int64_t pstride, int64_t cols, const int8_t * XQ,
                   const float * D, const float * SX, float * Y, int64_t ldy, const __mmask16 * m) {
    if constexpr (NT > 1) if (nt < NT) return tile_dispatch<BITS, NP, NT - 1>(nt, q, W, pstride, cols, XQ, D, SX, Y, ldy, m);
    tile<BITS, NP, NT>(q, W, pstride, cols, XQ, D, SX, Y, ldy, m);
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
    // Tokens per tile: the int32 chains and float sums of 2 panels x NT tokens stay within the 32 zmm registers
    // (two chains per output for two limbs: 6 tokens would spill).
    constexpr int NT = LIMBS == 1 ? 6 : 4;
    const int64_t p0 = r0 / P, p1 = (r1 + P - 1) / P, tn = tile_size(n_tok, NT);
    for (int64_t p = p0; p < p1; p += 2) {
        const int np = p + 1 < p1 ? 2 : 1;
        const __mmask16 m[2] = {tail_mask(r1 - p * P), tail_mask(r1 - (p + 1) * P)};
        for (int64_t t = 0; t < n_tok; t += tn) {
            const int nt = (int)std::min(tn, n_tok - t);
            const int8_t * x = xq.data() + t * LIMBS * cols;
            const float * dt = d.data() + t * groups, * st = sx.data() + t * groups;
            float * y = Y + t * ldy + p * P;
            if (np == 2) tile_dispatch<BITS, 2, NT>(nt, q, W + p * pstride, pstride, cols, x, dt, st, y, ldy, m);
            else tile_dispatch<BITS, 1, NT>(nt, q, W + p * pstride, pstride, cols, x, dt, st, y, ldy, m);
        }
    }
}

}  // namespace

void mlx_gemm_avx512(const MlxQuant & q, int64_t cols, const float * X, float * Y, int64_t n_tok, int64_t r0, int64_t r1,
                     int64_t ldy) {
    if (!q.panels) fail(MLXB_ERR_INTERNAL, "the avx512 MLX product reads packed panels (mlx_pack_panels16)");
    switch (q.bits) {
    case 2: return gemm_bits<2>(q, cols, X, Y, n_tok, r0, r1, ldy);
    case 4: return gemm_bits<4>(q, cols, X, Y, n_tok, r0, r1, ldy);
    case 8: return gemm_bits<8>(q, cols, X, Y, n_tok, r0, r1, ldy);
    default: fail(MLXB_ERR_UNSUPPORTED, "MLX quantization with " + std::to_string(q.bits) + " bits");
    }
}

}  // namespace mlxb
