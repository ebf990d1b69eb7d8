// AVX-512 (F, BW, VL) + VNNI kernels. Compiled with those flags in this file alone; internal linkage throughout, and
// only called after the CPUID check in dispatch.cpp.
//
// Two shapes of work:
//  - one or a few tokens (decode): row-wise dot products, several weight rows per pass over the activations so each
//    activation load feeds several FMAs; memory-bound, so the job is to keep loads in flight.
//  - a prompt batch (>= k_pack_min_f / k_pack_min_q tokens): classic packed GEMM. A panel of 32 weight rows x KC columns is converted
//    once to the layout the micro-kernel wants (float, k-major; or int8 in VNNI groups with scales and sums), then
//    every token tile streams past it. Outputs are 32 consecutive rows of one token: two zmm stores, no horizontal
//    sums. The panel lives on the stack (<= 40 KiB, L1/L2-resident); nothing is allocated.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "kernels.h"

namespace mlxb {

namespace {

// Fewer tokens than this: packing a panel costs more than it saves (measured with tools/bench_kernels.cpp; float
// panels are transposed element by element, int8 ones are cheaper to build per use).
constexpr int64_t k_pack_min_f = 48;
constexpr int64_t k_pack_min_q = 16;

// ---- float weights (F32, F16, BF16) -------------------------------------------------------------------------------

struct LoadF32 {
    using T = float;
    static __m512 load(const float * p) { return _mm512_loadu_ps(p); }
    static __m512 load_n(const float * p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
    static float one(const float * p) { return *p; }
};
struct LoadF16 {
    using T = uint16_t;
    static __m512 load(const uint16_t * p) { return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p)); }
    static __m512 load_n(const uint16_t * p, __mmask16 m) { return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p)); }
    static float one(const uint16_t * p) { return fp16_to_fp32(*p); }
};
struct LoadBF16 {
    using T = uint16_t;
    static __m512 widen(__m256i h) { return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)); }
    static __m512 load(const uint16_t * p) { return widen(_mm256_loadu_si256((const __m256i *)p)); }
    static __m512 load_n(const uint16_t * p, __mmask16 m) { return widen(_mm256_maskz_loadu_epi16(m, p)); }
    static float one(const uint16_t * p) { return bf16_to_fp32(*p); }
};

inline __mmask16 tail_mask(int64_t n) { return (__mmask16)((1u << n) - 1); }

// RM rows x RN tokens, dot products along k in zmm partial sums (two per pair when RM*RN is small, to cover the
// FMA latency), reduced once at the end.
template <class L, int RM, int RN>
void tile_rows(const typename L::T * W, const float * X, float * Y, int64_t cols, int64_t r, int64_t t, int64_t ldy) {
    __m512 acc[RM][RN];
    for (int i = 0; i < RM; i++)
        for (int j = 0; j < RN; j++) acc[i][j] = _mm512_setzero_ps();
    int64_t k = 0;
    for (; k + 16 <= cols; k += 16) {
        __m512 a[RM];
        for (int i = 0; i < RM; i++) a[i] = L::load(W + (r + i) * cols + k);
        for (int j = 0; j < RN; j++) {
            const __m512 b = _mm512_loadu_ps(X + (t + j) * cols + k);
            for (int i = 0; i < RM; i++) acc[i][j] = _mm512_fmadd_ps(a[i], b, acc[i][j]);
        }
    }
    if (k < cols) {
        const __mmask16 m = tail_mask(cols - k);
        __m512 a[RM];
        for (int i = 0; i < RM; i++) a[i] = L::load_n(W + (r + i) * cols + k, m);
        for (int j = 0; j < RN; j++) {
            const __m512 b = _mm512_maskz_loadu_ps(m, X + (t + j) * cols + k);
            for (int i = 0; i < RM; i++) acc[i][j] = _mm512_fmadd_ps(a[i], b, acc[i][j]);
        }
    }
    for (int i = 0; i < RM; i++)
        for (int j = 0; j < RN; j++) Y[(t + j) * ldy + r + i] = _mm512_reduce_add_ps(acc[i][j]);
}

// One token: 8 rows at a time, k unrolled by 2 with separate accumulators, so 16 independent FMA chains cover the
// 4-cycle latency at 2 FMAs per cycle and ~16 loads are in flight.
template <class L>
void gemv_rows8(const typename L::T * W, const float * x, float * y, int64_t cols, int64_t r) {
    __m512 acc0[8], acc1[8];
    for (int i = 0; i < 8; i++) acc0[i] = acc1[i] = _mm512_setzero_ps();
    int64_t k = 0;
    for (; k + 32 <= cols; k += 32) {
        const __m512 b0 = _mm512_loadu_ps(x + k), b1 = _mm512_loadu_ps(x + k + 16);
        for (int i = 0; i < 8; i++) {
            acc0[i] = _mm512_fmadd_ps(L::load(W + (r + i) * cols + k), b0, acc0[i]);
            acc1[i] = _mm512_fmadd_ps(L::load(W + (r + i) * cols + k + 16), b1, acc1[i]);
        }
    }
    for (; k < cols; k += 16) {
        const __mmask16 m = tail_mask(std::min<int64_t>(16, cols - k));
        const __m512 b = _mm512_maskz_loadu_ps(m, x + k);
        for (int i = 0; i < 8; i++) acc0[i] = _mm512_fmadd_ps(L::load_n(W + (r + i) * cols + k, m), b, acc0[i]);
    }
    for (int i = 0; i < 8; i++) y[r + i] = _mm512_reduce_add_ps(_mm512_add_ps(acc0[i], acc1[i]));
}

template <class L, int RM, int RN>
void tile_rows_dispatch(int rm, int rn, const typename L::T * W, const float * X, float * Y, int64_t cols, int64_t r,
                        int64_t t, int64_t ldy) {
    if constexpr (RM > 1) if (rm < RM) return tile_rows_dispatch<L, RM - 1, RN>(rm, rn, W, X, Y, cols, r, t, ldy);
    if constexpr (RN > 1) if (rn < RN) return tile_rows_dispatch<L, RM, RN - 1>(rm, rn, W, X, Y, cols, r, t, ldy);
    tile_rows<L, RM, RN>(W, X, Y, cols, r, t, ldy);
}

// Packed GEMM for float weights.
constexpr int NR = 32;     // rows per panel: two zmm of outputs per token
constexpr int KC = 256;    // columns per panel: 32 x 256 floats = 32 KiB
constexpr int RN_F = 12;   // tokens per micro-tile: 24 accumulators + 2 weights + 1 broadcast of 32 zmm

// panel[kk * 32 + i] = W[r + i][k0 + kk] as float; rows past nr are zero.
template <class L>
void pack_panel_f(const typename L::T * W, int64_t cols, int64_t r, int nr, int64_t k0, int kc, float * panel) {
    for (int i = 0; i < NR; i++) {
        if (i >= nr) {
            for (int kk = 0; kk < kc; kk++) panel[kk * NR + i] = 0.0f;
            continue;
        }
        const typename L::T * w = W + (r + i) * cols + k0;
        int kk = 0;
        alignas(64) float tmp[16];
        for (; kk + 16 <= kc; kk += 16) {
            _mm512_store_ps(tmp, L::load(w + kk));
            for (int q = 0; q < 16; q++) panel[(kk + q) * NR + i] = tmp[q];
        }
        for (; kk < kc; kk++) panel[kk * NR + i] = L::one(w + kk);
    }
}

template <int RN>
void micro_f(const float * panel, int kc, const float * X, int64_t cols, int64_t k0, float * Y, int64_t ldy, int64_t r,
             int64_t t, __mmask16 m0, __mmask16 m1, bool first) {
    __m512 acc0[RN], acc1[RN];
    for (int j = 0; j < RN; j++) {
        float * y = Y + (t + j) * ldy + r;
        acc0[j] = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m0, y);
        acc1[j] = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m1, y + 16);
    }
    const float * x = X + t * cols + k0;
    for (int kk = 0; kk < kc; kk++) {
        const __m512 w0 = _mm512_load_ps(panel + kk * NR), w1 = _mm512_load_ps(panel + kk * NR + 16);
        for (int j = 0; j < RN; j++) {
            const __m512 b = _mm512_set1_ps(x[j * cols + kk]);
            acc0[j] = _mm512_fmadd_ps(w0, b, acc0[j]);
            acc1[j] = _mm512_fmadd_ps(w1, b, acc1[j]);
        }
    }
    for (int j = 0; j < RN; j++) {
        float * y = Y + (t + j) * ldy + r;
        _mm512_mask_storeu_ps(y, m0, acc0[j]);
        _mm512_mask_storeu_ps(y + 16, m1, acc1[j]);
    }
}

template <int RN>
void micro_f_dispatch(int rn, const float * panel, int kc, const float * X, int64_t cols, int64_t k0, float * Y,
                      int64_t ldy, int64_t r, int64_t t, __mmask16 m0, __mmask16 m1, bool first) {
    if constexpr (RN > 1) if (rn < RN) return micro_f_dispatch<RN - 1>(rn, panel, kc, X, cols, k0, Y, ldy, r, t, m0, m1, first);
    micro_f<RN>(panel, kc, X, cols, k0, Y, ldy, r, t, m0, m1, first);
}

inline void row_masks(int nr, __mmask16 * m0, __mmask16 * m1) {
    *m0 = nr >= 16 ? (__mmask16)0xffff : tail_mask(nr);
    *m1 = nr >= 32 ? (__mmask16)0xffff : nr > 16 ? tail_mask(nr - 16) : (__mmask16)0;
}

template <class L>
void gemm_f(const typename L::T * W, const float * X, float * Y, int64_t cols, int64_t n_tok, int64_t r0, int64_t r1,
            int64_t ldy) {
    if (n_tok == 1) {
        int64_t r = r0;
        for (; r + 8 <= r1; r += 8) gemv_rows8<L>(W, X, Y, cols, r);
        for (; r < r1; r += 4) tile_rows_dispatch<L, 4, 1>((int)std::min<int64_t>(4, r1 - r), 1, W, X, Y, cols, r, 0, ldy);
        return;
    }
    if (n_tok < k_pack_min_f) {
        for (int64_t r = r0; r < r1; r += 4)
            for (int64_t t = 0; t < n_tok; t += 3)
                tile_rows_dispatch<L, 4, 3>((int)std::min<int64_t>(4, r1 - r), (int)std::min<int64_t>(3, n_tok - t), W, X,
                                            Y, cols, r, t, ldy);
        return;
    }
    alignas(64) float panel[NR * KC];
    for (int64_t r = r0; r < r1; r += NR) {
        const int nr = (int)std::min<int64_t>(NR, r1 - r);
        __mmask16 m0, m1;
        row_masks(nr, &m0, &m1);
        for (int64_t k0 = 0; k0 < cols; k0 += KC) {
            const int kc = (int)std::min<int64_t>(KC, cols - k0);
            pack_panel_f<L>(W, cols, r, nr, k0, kc, panel);
            for (int64_t t = 0; t < n_tok; t += RN_F)
                micro_f_dispatch<RN_F>((int)std::min<int64_t>(RN_F, n_tok - t), panel, kc, X, cols, k0, Y, ldy, r, t, m0,
                                       m1, k0 == 0);
        }
    }
}

void gemm_f32(const float * W, const float * X, float * Y, int64_t c, int64_t n, int64_t r0, int64_t r1, int64_t ldy) {
    gemm_f<LoadF32>(W, X, Y, c, n, r0, r1, ldy);
}
void gemm_f16(const uint16_t * W, const float * X, float * Y, int64_t c, int64_t n, int64_t r0, int64_t r1, int64_t ldy) {
    gemm_f<LoadF16>(W, X, Y, c, n, r0, r1, ldy);
}
void gemm_bf16(const uint16_t * W, const float * X, float * Y, int64_t c, int64_t n, int64_t r0, int64_t r1, int64_t ldy) {
    gemm_f<LoadBF16>(W, X, Y, c, n, r0, r1, ldy);
}

// ---- int8 dot products for Q8_0 / Q4_0 weights ---------------------------------------------------------------------

// Weights of one block as 32 signed bytes (Q4_0: nibble - 8; low nibbles are elements 0..15, high 16..31).
struct LoadQ8 {
    using B = BlockQ8_0;
    static __m256i load(const BlockQ8_0 & b) { return _mm256_loadu_si256((const __m256i *)b.qs); }
};
struct LoadQ4 {
    using B = BlockQ4_0;
    static __m256i load(const BlockQ4_0 & b) {
        const __m128i tmp = _mm_loadu_si128((const __m128i *)b.qs);
        const __m256i bytes = _mm256_set_m128i(_mm_srli_epi16(tmp, 4), tmp);
        return _mm256_sub_epi8(_mm256_and_si256(bytes, _mm256_set1_epi8(0x0f)), _mm256_set1_epi8(8));
    }
};

// sum of 32 products of signed bytes in 8 int32 lanes: VNNI takes unsigned x signed, so |w| and x * sign(w).
inline __m256i dot_i8(__m256i w, __m256i x) {
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
}

// Prefetch distance in the tiles: ~1 KiB ahead in each weight row. The one-token GEMVs instead prefetch the same
// blocks of the next group of rows: rows are short (a 2048-wide Q4_0 row is 18 cache lines) and consecutive, so
// that address is where the stream goes next, and the hardware prefetcher never ramps up on such short runs.
constexpr int64_t k_prefetch_blocks = 32;
constexpr int64_t k_prefetch_rows = 8;  // GEMV: two 4-row groups ahead

template <class L, int RM, int RN>
void tile_q(const typename L::B * W, const BlockQ8x * X, float * Y, int64_t nb, int64_t r, int64_t t, int64_t ldy) {
    __m256 acc[RM][RN];
    for (int i = 0; i < RM; i++)
        for (int j = 0; j < RN; j++) acc[i][j] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        __m256i w[RM];
        float dw[RM];
        for (int i = 0; i < RM; i++) {
            const typename L::B & blk = W[(r + i) * nb + b];
            // A few short streams, each consumed slowly: the hardware prefetcher alone leaves DRAM latency exposed.
            _mm_prefetch((const char *)(&blk + k_prefetch_blocks), _MM_HINT_T0);
            w[i] = L::load(blk);
            dw[i] = _cvtsh_ss(blk.d);
        }
        for (int j = 0; j < RN; j++) {
            const BlockQ8x & xb = X[(t + j) * nb + b];
            const __m256i x = _mm256_loadu_si256((const __m256i *)xb.qs);
            for (int i = 0; i < RM; i++)
                acc[i][j] = _mm256_fmadd_ps(_mm256_set1_ps(dw[i] * xb.d), _mm256_cvtepi32_ps(dot_i8(w[i], x)), acc[i][j]);
        }
    }
    for (int i = 0; i < RM; i++)
        for (int j = 0; j < RN; j++) {
            __m128 s = _mm_add_ps(_mm256_castps256_ps128(acc[i][j]), _mm256_extractf128_ps(acc[i][j], 1));
            s = _mm_add_ps(s, _mm_movehl_ps(s, s));
            s = _mm_add_ss(s, _mm_movehdup_ps(s));
            Y[(t + j) * ldy + r + i] = _mm_cvtss_f32(s);
        }
}

template <class L, int RM, int RN>
void tile_q_dispatch(int rm, int rn, const typename L::B * W, const BlockQ8x * X, float * Y, int64_t nb, int64_t r,
                     int64_t t, int64_t ldy) {
    if constexpr (RM > 1) if (rm < RM) return tile_q_dispatch<L, RM - 1, RN>(rm, rn, W, X, Y, nb, r, t, ldy);
    if constexpr (RN > 1) if (rn < RN) return tile_q_dispatch<L, RM, RN - 1>(rm, rn, W, X, Y, nb, r, t, ldy);
    tile_q<L, RM, RN>(W, X, Y, nb, r, t, ldy);
}

// Packed int8 panel for one block of 32 rows: VNNI groups g = 0..7 of 4 columns, row i's 4 bytes at g*128 + 4*i
// (two zmm per group: rows 0-15, 16-31), then the 32 row scales (float) and the 32 int32 corrections -128 * sum(w)
// that undo the +128 bias the micro-kernel gives the activations (VNNI multiplies unsigned by signed bytes).
struct PackedBlock {
    alignas(64) int8_t q[8 * NR * 4];
    alignas(64) float d[NR];
    alignas(64) int32_t corr[NR];
};
constexpr int KB = 8;  // blocks per panel: 8 x 1.25 KiB

template <class L>
void pack_panel_q(const typename L::B * W, int64_t nb, int64_t r, int nr, int64_t b0, int kb, PackedBlock * P) {
    for (int bb = 0; bb < kb; bb++) {
        PackedBlock & p = P[bb];
        for (int i = 0; i < NR; i++) {
            alignas(32) int8_t w[32] = {};
            float d = 0.0f;
            if (i < nr) {
                const typename L::B & blk = W[(r + i) * nb + b0 + bb];
                _mm256_store_si256((__m256i *)w, L::load(blk));
                d = _cvtsh_ss(blk.d);
            }
            int32_t sum = 0;
            for (int g = 0; g < 8; g++)
                for (int e = 0; e < 4; e++) {
                    p.q[g * NR * 4 + i * 4 + e] = w[g * 4 + e];
                    sum += w[g * 4 + e];
                }
            p.d[i] = d;
            p.corr[i] = -128 * sum;
        }
    }
}

constexpr int RN_Q = 6;  // 12 float + 12 int32 accumulators, 2 weight groups, 1 broadcast

template <int RN>
void micro_q(const PackedBlock * P, int kb, const BlockQ8x * X, int64_t nb, int64_t b0, float * Y, int64_t ldy,
             int64_t r, int64_t t, __mmask16 m0, __mmask16 m1, bool first) {
    __m512 acc0[RN], acc1[RN];
    for (int j = 0; j < RN; j++) {
        float * y = Y + (t + j) * ldy + r;
        acc0[j] = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m0, y);
        acc1[j] = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m1, y + 16);
    }
    const __m512i bias = _mm512_set1_epi8((char)0x80);
    for (int bb = 0; bb < kb; bb++) {
        const PackedBlock & p = P[bb];
        const __m512i c0 = _mm512_load_si512(p.corr), c1 = _mm512_load_si512(p.corr + 16);
        __m512i s0[RN], s1[RN];
        for (int j = 0; j < RN; j++) s0[j] = c0, s1[j] = c1;
        const BlockQ8x * xb = X + t * nb + b0 + bb;
        for (int g = 0; g < 8; g++) {
            const __m512i w0 = _mm512_load_si512(p.q + g * NR * 4), w1 = _mm512_load_si512(p.q + g * NR * 4 + 64);
            for (int j = 0; j < RN; j++) {
                int32_t four;
                std::memcpy(&four, xb[j * nb].qs + 4 * g, 4);
                const __m512i xv = _mm512_xor_si512(_mm512_set1_epi32(four), bias);  // x + 128 as unsigned bytes
                s0[j] = _mm512_dpbusd_epi32(s0[j], xv, w0);
                s1[j] = _mm512_dpbusd_epi32(s1[j], xv, w1);
            }
        }
        const __m512 d0 = _mm512_load_ps(p.d), d1 = _mm512_load_ps(p.d + 16);
        for (int j = 0; j < RN; j++) {
            const __m512 dx = _mm512_set1_ps(xb[j * nb].d);
            acc0[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s0[j]), _mm512_mul_ps(d0, dx), acc0[j]);
            acc1[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s1[j]), _mm512_mul_ps(d1, dx), acc1[j]);
        }
    }
    for (int j = 0; j < RN; j++) {
        float * y = Y + (t + j) * ldy + r;
        _mm512_mask_storeu_ps(y, m0, acc0[j]);
        _mm512_mask_storeu_ps(y + 16, m1, acc1[j]);
    }
}

template <int RN>
void micro_q_dispatch(int rn, const PackedBlock * P, int kb, const BlockQ8x * X, int64_t nb, int64_t b0, float * Y,
                      int64_t ldy, int64_t r, int64_t t, __mmask16 m0, __mmask16 m1, bool first) {
    if constexpr (RN > 1) if (rn < RN) return micro_q_dispatch<RN - 1>(rn, P, kb, X, nb, b0, Y, ldy, r, t, m0, m1, first);
    micro_q<RN>(P, kb, X, nb, b0, Y, ldy, r, t, m0, m1, first);
}

// Q4_0 against one token, two blocks per zmm. The nibbles are used as unsigned bytes as they are (q in 0..15) and
// the activations are rearranged once per call to match them: [x_b 0..15 | x_b+1 0..15 | x_b 16..31 | x_b+1 16..31]
// (low nibbles hold elements 0..15, high 16..31). Each int32 lane starts from -8 * (sum of its 4 activations), so
// dpbusd leaves exactly sum (q - 8) * x per lane.
constexpr int64_t k_q4_gemv_max_pairs = 256;  // 16384 columns: the per-call activation copy stays <= 48 KiB of stack

struct Q4Pairs {
    alignas(64) int8_t x[k_q4_gemv_max_pairs][64];
    alignas(64) int32_t corr[k_q4_gemv_max_pairs][16];
    alignas(64) float dx[k_q4_gemv_max_pairs][16];
};

void prepare_q4_pairs(const BlockQ8x * X, int64_t n_pairs, Q4Pairs & P) {
    const __m512i eight = _mm512_set1_epi8(8);
    for (int64_t p = 0; p < n_pairs; p++) {
        const BlockQ8x & a = X[2 * p], & b = X[2 * p + 1];
        std::memcpy(P.x[p], a.qs, 16);
        std::memcpy(P.x[p] + 16, b.qs, 16);
        std::memcpy(P.x[p] + 32, a.qs + 16, 16);
        std::memcpy(P.x[p] + 48, b.qs + 16, 16);
        const __m512i xv = _mm512_load_si512(P.x[p]);
        _mm512_store_si512(P.corr[p], _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_dpbusd_epi32(_mm512_setzero_si512(), eight, xv)));
        const __m128 da = _mm_set1_ps(a.d), db = _mm_set1_ps(b.d);
        const __m512 ab = _mm512_castps256_ps512(_mm256_set_m128(db, da));
        _mm512_store_ps(P.dx[p], _mm512_shuffle_f32x4(ab, ab, 0x44));  // [da x4, db x4, da x4, db x4]
    }
}

// RM rows at a time (compile-time, so the rows' loads are independent instructions and overlap in flight):
// y[r + i] = sum over blocks of d_w * d_x * sum((q - 8) * x).
template <int RM>
void q4_pairs_rows(const BlockQ4_0 * W, const BlockQ8x * X, const Q4Pairs & P, float * y, int64_t nb, int64_t r) {
    const int64_t n_pairs = nb / 2;
    const __m256i low = _mm256_set1_epi8(0x0f);
    const __m512i lane_scale = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1);
    __m512 acc[RM];
    for (int i = 0; i < RM; i++) acc[i] = _mm512_setzero_ps();
    for (int64_t p = 0; p < n_pairs; p++) {
        const __m512i xv = _mm512_load_si512(P.x[p]);
        const __m512i cv = _mm512_load_si512(P.corr[p]);
        const __m512 dxv = _mm512_load_ps(P.dx[p]);
        for (int i = 0; i < RM; i++) {
            const BlockQ4_0 * w = W + (r + i) * nb + 2 * p;
            _mm_prefetch((const char *)(w + k_prefetch_rows * nb), _MM_HINT_T0);
            const __m256i bytes = _mm256_loadu2_m128i((const __m128i *)w[1].qs, (const __m128i *)w[0].qs);
            const __m256i lo = _mm256_and_si256(bytes, low), hi = _mm256_and_si256(_mm256_srli_epi16(bytes, 4), low);
            const __m512i q = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
            const __m512i dot = _mm512_dpbusd_epi32(cv, q, xv);
            const __m128 dw2 = _mm_cvtph_ps(_mm_insert_epi16(_mm_cvtsi32_si128(w[0].d), w[1].d, 1));
            const __m512 dwv = _mm512_permutexvar_ps(lane_scale, _mm512_castps128_ps512(dw2));
            acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(dwv, dxv), acc[i]);
        }
    }
    for (int i = 0; i < RM; i++) {
        float s = _mm512_reduce_add_ps(acc[i]);
        if (nb % 2) {  // odd block count: the last block the 256-bit way
            const BlockQ4_0 & w = W[(r + i) * nb + nb - 1];
            const BlockQ8x & x = X[nb - 1];
            const __m256i d = dot_i8(LoadQ4::load(w), _mm256_loadu_si256((const __m256i *)x.qs));
            __m128i t = _mm_add_epi32(_mm256_castsi256_si128(d), _mm256_extracti128_si256(d, 1));
            t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0x4e));
            t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0xb1));
            s += _cvtsh_ss(w.d) * x.d * (float)_mm_cvtsi128_si32(t);
        }
        y[r + i] = s;
    }
}

void gemv_q4_0_pairs(const BlockQ4_0 * W, const BlockQ8x * X, float * y, int64_t nb, int64_t r0, int64_t r1) {
    Q4Pairs P;
    prepare_q4_pairs(X, nb / 2, P);
    int64_t r = r0;
    for (; r + 4 <= r1; r += 4) q4_pairs_rows<4>(W, X, P, y, nb, r);
    for (; r < r1; r++) q4_pairs_rows<1>(W, X, P, y, nb, r);
}

// Q8_0 against one token, two blocks per zmm: lanes 0-7 hold block b, 8-15 block b+1. VNNI multiplies unsigned by
// signed bytes, so the activations go in as x + 128 (prepared once per call) and 128 * sum(w), a second dpbusd
// against a constant, is taken off again.
struct Q8Pairs {
    alignas(64) uint8_t x[k_q4_gemv_max_pairs][64];
    alignas(64) float dx[k_q4_gemv_max_pairs][16];
};

template <int RM>
void q8_pairs_rows(const BlockQ8_0 * W, const BlockQ8x * X, const Q8Pairs & P, float * y, int64_t nb, int64_t r) {
    const int64_t n_pairs = nb / 2;
    const __m512i c128 = _mm512_set1_epi8((char)0x80);
    const __m512i lane_block = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
    __m512 acc[RM];
    for (int i = 0; i < RM; i++) acc[i] = _mm512_setzero_ps();
    for (int64_t p = 0; p < n_pairs; p++) {
        const __m512i xv = _mm512_load_si512(P.x[p]);
        const __m512 dxv = _mm512_load_ps(P.dx[p]);
        for (int i = 0; i < RM; i++) {
            const BlockQ8_0 * w = W + (r + i) * nb + 2 * p;
            _mm_prefetch((const char *)(w + k_prefetch_rows * nb), _MM_HINT_T0);
            const __m512i wv = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)w[0].qs)),
                                                  _mm256_loadu_si256((const __m256i *)w[1].qs), 1);
            const __m512i dot = _mm512_sub_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), xv, wv),
                                                 _mm512_dpbusd_epi32(_mm512_setzero_si512(), c128, wv));
            const __m128 dw2 = _mm_cvtph_ps(_mm_insert_epi16(_mm_cvtsi32_si128(w[0].d), w[1].d, 1));
            const __m512 dwv = _mm512_permutexvar_ps(lane_block, _mm512_castps128_ps512(dw2));
            acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(dwv, dxv), acc[i]);
        }
    }
    for (int i = 0; i < RM; i++) {
        float s = _mm512_reduce_add_ps(acc[i]);
        if (nb % 2) {  // odd block count: the last block the 256-bit way
            const BlockQ8_0 & w = W[(r + i) * nb + nb - 1];
            const BlockQ8x & x = X[nb - 1];
            const __m256i d = dot_i8(LoadQ8::load(w), _mm256_loadu_si256((const __m256i *)x.qs));
            __m128i t = _mm_add_epi32(_mm256_castsi256_si128(d), _mm256_extracti128_si256(d, 1));
            t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0x4e));
            t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0xb1));
            s += _cvtsh_ss(w.d) * x.d * (float)_mm_cvtsi128_si32(t);
        }
        y[r + i] = s;
    }
}

void gemv_q8_0_pairs(const BlockQ8_0 * W, const BlockQ8x * X, float * y, int64_t nb, int64_t r0, int64_t r1) {
    Q8Pairs P;
    const int64_t n_pairs = nb / 2;
    for (int64_t p = 0; p < n_pairs; p++) {
        const __m512i x = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)X[2 * p].qs)),
                                             _mm256_loadu_si256((const __m256i *)X[2 * p + 1].qs), 1);
        _mm512_store_si512(P.x[p], _mm512_xor_si512(x, _mm512_set1_epi8((char)0x80)));
        const __m256d da = _mm256_castps_pd(_mm256_set1_ps(X[2 * p].d)), db = _mm256_castps_pd(_mm256_set1_ps(X[2 * p + 1].d));
        _mm512_store_ps(P.dx[p], _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castpd256_pd512(da), db, 1)));
    }
    int64_t r = r0;
    for (; r + 4 <= r1; r += 4) q8_pairs_rows<4>(W, X, P, y, nb, r);
    for (; r < r1; r++) q8_pairs_rows<1>(W, X, P, y, nb, r);
}

template <class L>
void gemm_q(const typename L::B * W, const BlockQ8x * X, float * Y, int64_t cols, int64_t n_tok, int64_t r0, int64_t r1,
            int64_t ldy) {
    const int64_t nb = cols / QK;
    if (n_tok == 1 && nb >= 2 && nb / 2 <= k_q4_gemv_max_pairs) {  // several tokens: tiles share each weight load
        if constexpr (std::is_same_v<L, LoadQ4>) gemv_q4_0_pairs(W, X, Y, nb, r0, r1);
        else gemv_q8_0_pairs(W, X, Y, nb, r0, r1);
        return;
    }
    if (n_tok < k_pack_min_q) {
        const int RN = n_tok == 1 ? 1 : 3;
        for (int64_t r = r0; r < r1; r += 4)
            for (int64_t t = 0; t < n_tok; t += RN)
                tile_q_dispatch<L, 4, 3>((int)std::min<int64_t>(4, r1 - r), (int)std::min<int64_t>(RN, n_tok - t), W, X,
                                         Y, nb, r, t, ldy);
        return;
    }
    PackedBlock panel[KB];
    for (int64_t r = r0; r < r1; r += NR) {
        const int nr = (int)std::min<int64_t>(NR, r1 - r);
        __mmask16 m0, m1;
        row_masks(nr, &m0, &m1);
        for (int64_t b0 = 0; b0 < nb; b0 += KB) {
            const int kb = (int)std::min<int64_t>(KB, nb - b0);
            pack_panel_q<L>(W, nb, r, nr, b0, kb, panel);
            for (int64_t t = 0; t < n_tok; t += RN_Q)
                micro_q_dispatch<RN_Q>((int)std::min<int64_t>(RN_Q, n_tok - t), panel, kb, X, nb, b0, Y, ldy, r, t, m0,
                                       m1, b0 == 0);
        }
    }
}

void gemm_q8_0(const BlockQ8_0 * W, const BlockQ8x * X, float * Y, int64_t c, int64_t n, int64_t r0, int64_t r1, int64_t ldy) {
    gemm_q<LoadQ8>(W, X, Y, c, n, r0, r1, ldy);
}
void gemm_q4_0(const BlockQ4_0 * W, const BlockQ8x * X, float * Y, int64_t c, int64_t n, int64_t r0, int64_t r1, int64_t ldy) {
    gemm_q<LoadQ4>(W, X, Y, c, n, r0, r1, ldy);
}

// Same arithmetic as the generic version (amax/127, multiply by 1/d, round to nearest even): bit-identical output.
void quantize_q8x(const float * x, BlockQ8x * y, int64_t n) {
    for (int64_t b = 0; b < n / QK; b++) {
        const __m512 v0 = _mm512_loadu_ps(x + b * QK), v1 = _mm512_loadu_ps(x + b * QK + 16);
        const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
        const float d = amax / 127.0f, id = d != 0 ? 1.0f / d : 0.0f;
        y[b].d = d;
        const __m512 vid = _mm512_set1_ps(id);
        const __m512i i0 = _mm512_cvtps_epi32(_mm512_mul_ps(v0, vid)), i1 = _mm512_cvtps_epi32(_mm512_mul_ps(v1, vid));
        _mm_storeu_si128((__m128i *)y[b].qs, _mm512_cvtsepi32_epi8(i0));
        _mm_storeu_si128((__m128i *)(y[b].qs + 16), _mm512_cvtsepi32_epi8(i1));
    }
}

float dot_f32(const float * a, const float * b, int64_t n) {
    __m512 s = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) s = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s);
    if (i < n) {
        const __mmask16 m = tail_mask(n - i);
        s = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), s);
    }
    return _mm512_reduce_add_ps(s);
}

void axpy_f32(float a, const float * x, float * y, int64_t n) {
    const __m512 va = _mm512_set1_ps(a);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, _mm512_fmadd_ps(va, _mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i)));
    if (i < n) {
        const __mmask16 m = tail_mask(n - i);
        _mm512_mask_storeu_ps(y + i, m, _mm512_fmadd_ps(va, _mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i)));
    }
}

// exp(x) = 2^n * e^r, n = round(x / ln 2), r = x - n ln 2 (two-part ln 2); e^r by its degree-6 Taylor polynomial
// (|r| <= 0.347: relative error < 1e-7); scalef applies 2^n and flushes huge negative arguments to 0.
inline __m512 exp512(__m512 x) {
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-104.0f)), _mm512_set1_ps(88.0f));  // e^-104 flushes to 0
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.0f / 720);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

void silu_mul(float * g, const float * u, int64_t n) {
    const __m512 one = _mm512_set1_ps(1.0f);
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = i + 16 <= n ? (__mmask16)0xffff : tail_mask(n - i);
        const __m512 x = _mm512_maskz_loadu_ps(m, g + i);
        const __m512 s = _mm512_div_ps(x, _mm512_add_ps(one, exp512(_mm512_sub_ps(_mm512_setzero_ps(), x))));
        _mm512_mask_storeu_ps(g + i, m, _mm512_mul_ps(s, _mm512_maskz_loadu_ps(m, u + i)));
    }
}

// Scores four keys per pass (four independent FMA chains), one horizontal sum each; exp 16 at a time; values
// accumulated unnormalised and scaled by 1/sum once at the end.
void attend(const float * q, const float * k, const float * v, int64_t stride, int32_t len, int32_t hd, float scale,
            float * out, float * sc) {
    const int32_t nfull = hd / 16;
    const __mmask16 mt = tail_mask(hd % 16);
    __m512 qv[16];  // head dimensions up to 256
    const int32_t nq = std::min<int32_t>((hd + 15) / 16, 16);
    for (int32_t c = 0; c < nq; c++) qv[c] = c < nfull ? _mm512_loadu_ps(q + 16 * c) : _mm512_maskz_loadu_ps(mt, q + 16 * c);
    float mx = -INFINITY;
    if (hd <= 256) {
        int32_t p = 0;
        for (; p + 4 <= len; p += 4) {
            __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
            const float * k0 = k + p * stride;
            for (int32_t c = 0; c < nq; c++) {
                const bool full = c < nfull;
                const int64_t o = 16 * c;
                a0 = _mm512_fmadd_ps(qv[c], full ? _mm512_loadu_ps(k0 + o) : _mm512_maskz_loadu_ps(mt, k0 + o), a0);
                a1 = _mm512_fmadd_ps(qv[c], full ? _mm512_loadu_ps(k0 + stride + o) : _mm512_maskz_loadu_ps(mt, k0 + stride + o), a1);
                a2 = _mm512_fmadd_ps(qv[c], full ? _mm512_loadu_ps(k0 + 2 * stride + o) : _mm512_maskz_loadu_ps(mt, k0 + 2 * stride + o), a2);
                a3 = _mm512_fmadd_ps(qv[c], full ? _mm512_loadu_ps(k0 + 3 * stride + o) : _mm512_maskz_loadu_ps(mt, k0 + 3 * stride + o), a3);
            }
            sc[p] = _mm512_reduce_add_ps(a0) * scale;
            sc[p + 1] = _mm512_reduce_add_ps(a1) * scale;
            sc[p + 2] = _mm512_reduce_add_ps(a2) * scale;
            sc[p + 3] = _mm512_reduce_add_ps(a3) * scale;
        }
        for (; p < len; p++) sc[p] = dot_f32(q, k + p * stride, hd) * scale;
    } else {
        for (int32_t p = 0; p < len; p++) sc[p] = dot_f32(q, k + p * stride, hd) * scale;
    }
    for (int32_t p = 0; p < len; p++) mx = std::max(mx, sc[p]);
    const __m512 vmx = _mm512_set1_ps(mx);
    __m512 vsum = _mm512_setzero_ps();
    for (int32_t p = 0; p < len; p += 16) {
        const __mmask16 m = p + 16 <= len ? (__mmask16)0xffff : tail_mask(len - p);
        const __m512 e = exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, sc + p), vmx));
        _mm512_mask_storeu_ps(sc + p, m, e);
        vsum = _mm512_add_ps(vsum, _mm512_maskz_mov_ps(m, e));
    }
    const float inv = 1.0f / _mm512_reduce_add_ps(vsum);
    if (hd <= 256) {
        __m512 o[16];
        for (int32_t c = 0; c < nq; c++) o[c] = _mm512_setzero_ps();
        for (int32_t p = 0; p < len; p++) {
            const __m512 w = _mm512_set1_ps(sc[p]);
            const float * vp = v + p * stride;
            for (int32_t c = 0; c < nq; c++)
                o[c] = _mm512_fmadd_ps(w, c < nfull ? _mm512_loadu_ps(vp + 16 * c) : _mm512_maskz_loadu_ps(mt, vp + 16 * c), o[c]);
        }
        const __m512 vinv = _mm512_set1_ps(inv);
        for (int32_t c = 0; c < nq; c++) {
            if (c < nfull) _mm512_storeu_ps(out + 16 * c, _mm512_mul_ps(o[c], vinv));
            else _mm512_mask_storeu_ps(out + 16 * c, mt, _mm512_mul_ps(o[c], vinv));
        }
    } else {
        std::fill_n(out, hd, 0.0f);
        for (int32_t p = 0; p < len; p++) axpy_f32(sc[p], v + p * stride, out, hd);
        for (int32_t i = 0; i < hd; i++) out[i] *= inv;
    }
}

// A block of up to 32 queries against their keys, with the queries in the lanes (two zmm): scores come out as
// S^T[key][query], so the softmax max and sum over keys are plain vertical operations, and no dot product ever
// needs a horizontal sum. S^T = K Q^T and O^T = V^T P^T are register-tiled like GEMMs (12 keys or 12 output
// dimensions x 32 queries per tile). The score scratch is the caller's (any alignment); Q^T and O^T live on the stack.
constexpr int RKB = 12;

template <int RK>
void scores_tile(const float * qp, int32_t hd, const float * k, int64_t stride, int32_t p0, float * st) {
    __m512 a0[RK], a1[RK];
    for (int j = 0; j < RK; j++) a0[j] = a1[j] = _mm512_setzero_ps();
    for (int32_t d = 0; d < hd; d++) {
        const __m512 q0 = _mm512_load_ps(qp + d * 32), q1 = _mm512_load_ps(qp + d * 32 + 16);
        for (int j = 0; j < RK; j++) {
            const __m512 kb = _mm512_set1_ps(k[(p0 + j) * stride + d]);
            a0[j] = _mm512_fmadd_ps(q0, kb, a0[j]);
            a1[j] = _mm512_fmadd_ps(q1, kb, a1[j]);
        }
    }
    for (int j = 0; j < RK; j++) {
        _mm512_storeu_ps(st + (p0 + j) * 32, a0[j]);
        _mm512_storeu_ps(st + (p0 + j) * 32 + 16, a1[j]);
    }
}

template <int RK>
void scores_dispatch(int rk, const float * qp, int32_t hd, const float * k, int64_t stride, int32_t p0, float * st) {
    if constexpr (RK > 1) if (rk < RK) return scores_dispatch<RK - 1>(rk, qp, hd, k, stride, p0, st);
    scores_tile<RK>(qp, hd, k, stride, p0, st);
}

template <int RD>
void values_tile(const float * st, int32_t len, const float * v, int64_t stride, int32_t d0, __m512 inv0, __m512 inv1,
                 float * ot) {
    __m512 a0[RD], a1[RD];
    for (int j = 0; j < RD; j++) a0[j] = a1[j] = _mm512_setzero_ps();
    for (int32_t p = 0; p < len; p++) {
        const __m512 p0 = _mm512_loadu_ps(st + p * 32), p1 = _mm512_loadu_ps(st + p * 32 + 16);
        for (int j = 0; j < RD; j++) {
            const __m512 vb = _mm512_set1_ps(v[p * stride + d0 + j]);
            a0[j] = _mm512_fmadd_ps(p0, vb, a0[j]);
            a1[j] = _mm512_fmadd_ps(p1, vb, a1[j]);
        }
    }
    for (int j = 0; j < RD; j++) {
        _mm512_store_ps(ot + (d0 + j) * 32, _mm512_mul_ps(a0[j], inv0));
        _mm512_store_ps(ot + (d0 + j) * 32 + 16, _mm512_mul_ps(a1[j], inv1));
    }
}

template <int RD>
void values_dispatch(int rd, const float * st, int32_t len, const float * v, int64_t stride, int32_t d0, __m512 inv0,
                     __m512 inv1, float * ot) {
    if constexpr (RD > 1) if (rd < RD) return values_dispatch<RD - 1>(rd, st, len, v, stride, d0, inv0, inv1, ot);
    values_tile<RD>(st, len, v, stride, d0, inv0, inv1, ot);
}

void attend_block(const float * Q, int64_t ldq, int32_t nq, int32_t pos0, const float * k, const float * v,
                  int64_t stride, int32_t hd, float scale, float * O, int64_t ldo, float * st) {
    if (hd > 256 || nq > 32) {
        for (int32_t i = 0; i < nq; i++) attend(Q + i * ldq, k, v, stride, pos0 + i + 1, hd, scale, O + i * ldo, st);
        return;
    }
    alignas(64) float qp[256 * 32];  // Q^T, scaled; also O^T afterwards (hd x 32)
    for (int32_t d = 0; d < hd; d++)
        for (int32_t i = 0; i < 32; i++) qp[d * 32 + i] = i < nq ? Q[i * ldq + d] * scale : 0.0f;
    const int32_t len = pos0 + nq;
    for (int32_t p = 0; p < len; p += RKB) scores_dispatch<RKB>(std::min(RKB, len - p), qp, hd, k, stride, p, st);
    // Causal mask: key p is visible to query i iff p <= pos0 + i (and padding lanes i >= nq see nothing new).
    const __m512i lane0 = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i lane1 = _mm512_add_epi32(lane0, _mm512_set1_epi32(16));
    const __m512 hidden = _mm512_set1_ps(-1e30f);
    for (int32_t p = pos0 + 1; p < len; p++) {
        const __m512i first = _mm512_set1_epi32(p - pos0);  // lanes below this cannot see key p
        _mm512_storeu_ps(st + p * 32, _mm512_mask_mov_ps(_mm512_loadu_ps(st + p * 32), _mm512_cmplt_epi32_mask(lane0, first), hidden));
        _mm512_storeu_ps(st + p * 32 + 16, _mm512_mask_mov_ps(_mm512_loadu_ps(st + p * 32 + 16), _mm512_cmplt_epi32_mask(lane1, first), hidden));
    }
    __m512 m0 = _mm512_set1_ps(-INFINITY), m1 = m0;
    for (int32_t p = 0; p < len; p++) {
        m0 = _mm512_max_ps(m0, _mm512_loadu_ps(st + p * 32));
        m1 = _mm512_max_ps(m1, _mm512_loadu_ps(st + p * 32 + 16));
    }
    __m512 s0 = _mm512_setzero_ps(), s1 = s0;
    for (int32_t p = 0; p < len; p++) {
        const __m512 e0 = exp512(_mm512_sub_ps(_mm512_loadu_ps(st + p * 32), m0));
        const __m512 e1 = exp512(_mm512_sub_ps(_mm512_loadu_ps(st + p * 32 + 16), m1));
        _mm512_storeu_ps(st + p * 32, e0);
        _mm512_storeu_ps(st + p * 32 + 16, e1);
        s0 = _mm512_add_ps(s0, e0);
        s1 = _mm512_add_ps(s1, e1);
    }
    const __m512 inv0 = _mm512_div_ps(_mm512_set1_ps(1.0f), s0), inv1 = _mm512_div_ps(_mm512_set1_ps(1.0f), s1);
    for (int32_t d = 0; d < hd; d += RKB) values_dispatch<RKB>(std::min(RKB, hd - d), st, len, v, stride, d, inv0, inv1, qp);
    for (int32_t i = 0; i < nq; i++)
        for (int32_t d = 0; d < hd; d++) O[i * ldo + d] = qp[d * 32 + i];
}

}  // namespace

const Kernels * kernels_avx512() {
    static const Kernels k = {"avx512", gemm_f32, gemm_f16, gemm_bf16, gemm_q8_0, gemm_q4_0, quantize_q8x, dot_f32, axpy_f32,
                              silu_mul, attend, attend_block};
    return &k;
}

}  // namespace mlxb
