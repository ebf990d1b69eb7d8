// MLX affine product with AVX-512 (the avx512 table): the AVX2 kernel's scheme (mlx_affine_avx2.cpp: int16
// activations with a per-group scale, one int16 pair per 32-bit lane) on 16-word vectors, with vpdpwssd adding
// both products of a lane in one instruction. Scales and biases of a row are widened to float 16 at a time; the bias
// term sum_g b_g * sx_g is one vector dot. Rows whose packed words are not whole 16-word vectors use the AVX2 kernel
// (always, for that matrix). Per (row, token) the operations are fixed: batch-invariant.
#include <immintrin.h>

#include <vector>

#include "../common.h"
#include "mlx_affine.h"

namespace mlxb {

namespace {

// n values (n <= 256 per call site chunk) of fp16/bf16 at p -> float dst.
inline void widen(const MlxQuant & q, const uint16_t * p, int64_t n, float * dst) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m256i h = _mm256_loadu_si256((const __m256i *)(p + i));
        const __m512 f = q.bf16 ? _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)) : _mm512_cvtph_ps(h);
        _mm512_storeu_ps(dst + i, f);
    }
    for (; i < n; i++) dst[i] = q.bf16 ? bf16_to_fp32(p[i]) : fp16_to_fp32(p[i]);
}

// Lanes of a 16-word chunk c take the value of their word's group: per_group[(c * 16 + w) / wpg].
inline __m512 group_lanes(const float * per_group, int64_t c, int64_t wpg) {
    if (wpg >= 16) return _mm512_set1_ps(per_group[c * 16 / wpg]);
    if (wpg == 8)
        return _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castps_pd(_mm512_set1_ps(per_group[c * 2])),
                                                   _mm256_castps_pd(_mm256_set1_ps(per_group[c * 2 + 1])), 1));
    alignas(64) float ls[16];
    for (int w = 0; w < 16; w++) ls[w] = per_group[(c * 16 + w) / wpg];
    return _mm512_load_ps(ls);
}

// NR rows x NT tokens at a time: NR * NT independent chains hide the latency (decode has NT = 1). Each (row, token)
// chain is the same whatever NR and NT are. Per chunk and k, one shift and one mask give every 32-bit lane the
// int16 pair (element k, element k + per/2) of its word, and one vpdpwssd adds both products into the lane.
template <int BITS, int NT, int NR>
void rows_tile(const MlxQuant & q, int64_t cols, const int16_t * XQ, const float * D, const float * SX, float * Y,
               int64_t ldy, int64_t r0, int64_t t0, float * sc, float * bi) {
    constexpr int HALF = 16 / BITS;
    const int64_t words = cols * BITS / 32, groups = cols / q.group, chunks = words / 16;
    const int64_t wpg = (int64_t)q.group * BITS / 32;
    const __m512i mask = _mm512_set1_epi32(((1 << BITS) - 1) * 0x00010001);
    const uint32_t * row[NR];
    float * scr[NR], * bir[NR];
    for (int i = 0; i < NR; i++) {
        row[i] = q.q + (r0 + i) * words;
        scr[i] = sc + i * groups;
        bir[i] = bi + i * groups;
        widen(q, q.scales + (r0 + i) * groups, groups, scr[i]);
        widen(q, q.biases + (r0 + i) * groups, groups, bir[i]);
    }
    __m512 acc[NR][NT];
    for (int i = 0; i < NR; i++)
        for (int t = 0; t < NT; t++) acc[i][t] = _mm512_setzero_ps();
    for (int64_t c = 0; c < chunks; c++) {
        __m512i v[NR], dot[NR][NT];
        for (int i = 0; i < NR; i++) {
            v[i] = _mm512_loadu_si512((const void *)(row[i] + c * 16));
            // The same chunk 2 * NR rows on: rows are only a few lines long, too short for the hardware prefetcher
            // to follow NR interleaved streams (decode stalled on these loads at 2x the time of Q4_0's panels).
            _mm_prefetch((const char *)(row[i] + 2 * NR * words + c * 16), _MM_HINT_T0);
            for (int t = 0; t < NT; t++) dot[i][t] = _mm512_setzero_si512();
        }
        for (int k = 0; k < HALF; k++) {
            __m512i xk[NT];
            for (int t = 0; t < NT; t++) xk[t] = _mm512_loadu_si512((const void *)(XQ + (t0 + t) * cols + c * 512 / BITS + k * 32));
            for (int i = 0; i < NR; i++) {
                const __m512i w = _mm512_and_si512(_mm512_srli_epi32(v[i], k * BITS), mask);
                for (int t = 0; t < NT; t++) dot[i][t] = _mm512_dpwssd_epi32(dot[i][t], w, xk[t]);
            }
        }
        __m512 d[NT];
        for (int t = 0; t < NT; t++) d[t] = group_lanes(D + (t0 + t) * groups, c, wpg);
        for (int i = 0; i < NR; i++) {
            const __m512 s = group_lanes(scr[i], c, wpg);
            for (int t = 0; t < NT; t++)
                acc[i][t] = _mm512_fmadd_ps(_mm512_mul_ps(s, d[t]), _mm512_cvtepi32_ps(dot[i][t]), acc[i][t]);
        }
    }
    for (int i = 0; i < NR; i++)
        for (int t = 0; t < NT; t++) {
            const float * sx = SX + (t0 + t) * groups;
            __m512 bacc = _mm512_setzero_ps();
            int64_t g = 0;
            for (; g + 16 <= groups; g += 16) bacc = _mm512_fmadd_ps(_mm512_loadu_ps(bir[i] + g), _mm512_loadu_ps(sx + g), bacc);
            float bsum = _mm512_reduce_add_ps(bacc);
            for (; g < groups; g++) {
                const float bs = bir[i][g] * sx[g];
                bsum += bs;
            }
            Y[(t0 + t) * ldy + r0 + i] = _mm512_reduce_add_ps(acc[i][t]) + bsum;
        }
}

template <int BITS>
void gemm_bits(const MlxQuant & q, int64_t cols, const float * X, float * Y, int64_t n_tok, int64_t r0, int64_t r1, int64_t ldy) {
    const int64_t groups = cols / q.group;
    thread_local std::vector<int16_t> xq;
    thread_local std::vector<float> d, sx, sc, bi;
    xq.resize((size_t)(n_tok * cols));
    d.resize((size_t)(n_tok * groups));
    sx.resize((size_t)(n_tok * groups));
    sc.resize((size_t)groups * 4);
    bi.resize((size_t)groups * 4);
    for (int64_t t = 0; t < n_tok; t++)
        mlx_quantize_activations(X + t * cols, cols, q.group, BITS, 16, xq.data() + t * cols, d.data() + t * groups,
                                 sx.data() + t * groups);
    constexpr int64_t TB = 64;
    for (int64_t b0 = 0; b0 < n_tok; b0 += TB) {
        const int64_t b1 = std::min(n_tok, b0 + TB);
        for (int64_t rb = r0; rb < r1; rb += 16) {
            const int64_t re = std::min(r1, rb + 16);
            int64_t t = b0;
            for (; t + 4 <= b1; t += 4)
                for (int64_t r = rb; r < re; r++)
                    rows_tile<BITS, 4, 1>(q, cols, xq.data(), d.data(), sx.data(), Y, ldy, r, t, sc.data(), bi.data());
            for (; t < b1; t++) {
                int64_t r = rb;
                for (; r + 4 <= re; r += 4)
                    rows_tile<BITS, 1, 4>(q, cols, xq.data(), d.data(), sx.data(), Y, ldy, r, t, sc.data(), bi.data());
                for (; r < re; r++)
                    rows_tile<BITS, 1, 1>(q, cols, xq.data(), d.data(), sx.data(), Y, ldy, r, t, sc.data(), bi.data());
            }
        }
    }
}

}  // namespace

void mlx_gemm_avx512(const MlxQuant & q, int64_t cols, const float * X, float * Y, int64_t n_tok, int64_t r0, int64_t r1,
                     int64_t ldy) {
    if ((cols * q.bits / 32) % 16 != 0) return mlx_gemm_avx2(q, cols, X, Y, n_tok, r0, r1, ldy);
    switch (q.bits) {
    case 2: return gemm_bits<2>(q, cols, X, Y, n_tok, r0, r1, ldy);
    case 4: return gemm_bits<4>(q, cols, X, Y, n_tok, r0, r1, ldy);
    case 8: return gemm_bits<8>(q, cols, X, Y, n_tok, r0, r1, ldy);
    default: fail(MLXB_ERR_UNSUPPORTED, "MLX quantization with " + std::to_string(q.bits) + " bits");
    }
}

}  // namespace mlxb
