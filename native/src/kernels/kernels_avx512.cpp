// AVX-512 (F, BW, VL) + VNNI kernels. Compiled with those flags in this file alone; internal linkage throughout, and
// only called after the CPUID check in dispatch.cpp.
//
// Weights are repacked once (pack) into panels of 16 rows, one row per zmm lane, so that one token (decode) and
// many tokens (prompts) run the same arithmetic per output: a single fused multiply-add chain along k (float
// weights) or along the 32-column blocks (int8 weights: exact int32 block sums, then one FMA per block). The GEMV
// streams panels with no horizontal sums; the GEMM register-tiles 1-4 panels x up to 12 tokens over the same data.
// Neither the number of tokens, nor a token's place in the batch, nor the row range a thread gets (always whole
// panels) changes a single bit of an output.
//
// Attention reads K from 16-position tiles (kernels.h) and reduces every query the same way whether it comes alone
// (attend) or in a block of up to 32 (attend_block): scores = FMA chain along d; max; exp; the softmax sum as 16
// position-interleaved partial sums combined by one fixed tree; values = FMA chain along positions, then 1/sum.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "avx512_panels.h"
#include "kernels.h"

namespace mlxb {

namespace {

using avx512::P;
using avx512::bcast4;
using avx512::tail_mask;
using avx512::tile_size;
inline int64_t round64(int64_t n) { return (n + 63) & ~(int64_t)63; }

// ---- packed layouts ----------------------------------------------------------------------------------------------
// Float types: a panel is cols x 16 elements of the weight's own type (F32, F16, BF16 stay exact): element k of
// row i at [k * 16 + i].
// Q8_0 / Q4_0: a panel is its blocks in superblocks of SB, each [the q bytes of its blocks][their 16 fp16 scales
// per block], so one panel is one sequential stream and every zmm load is 64-byte aligned:
//   Q8_0 block (512 bytes): 8 groups g of 4 columns; row i's 4 bytes at g * 64 + 4 * i, stored as w + 128 (unsigned)
//   Q4_0 block (256 bytes): 4 groups h; row i's 4 bytes at h * 64 + 4 * i are the Q4_0 bytes 4h..4h+3 as they are:
//     low nibbles = columns 4h..4h+3, high nibbles = columns 16+4h..16+4h+3 (q in 0..15, unsigned)
// VNNI multiplies those unsigned bytes by the signed activations; -128 * sum(x) (Q8_0) or -8 * sum(x) (Q4_0) per
// block, from BlockQ8x::sum, takes the offset off again, exactly. Panels are padded to 64 bytes; rows past the
// matrix have zero weights and zero scales.
constexpr int64_t SB = 8;
constexpr int64_t qblock_bytes(bool q4) { return q4 ? 256 : 512; }

int64_t panel_bytes(TensorType t, int64_t cols) {
    switch (t) {
    case TensorType::F32: return round64(cols * P * 4);
    case TensorType::F16: case TensorType::BF16: return round64(cols * P * 2);
    case TensorType::Q8_0: return round64(cols / QK * (512 + 2 * P));
    case TensorType::Q4_0: return round64(cols / QK * (256 + 2 * P));
    }
    return 0;
}

size_t packed_bytes(TensorType t, int64_t rows, int64_t cols) { return (size_t)((rows + P - 1) / P) * panel_bytes(t, cols); }

template <class T>
void pack_float_panel(const T * W, int64_t rows, int64_t cols, int64_t p, T * out) {
    const int64_t nr = std::min<int64_t>(P, rows - p * P);
    // 64 columns at a time: the 16 source rows are read in runs, the panel written once, both cache friendly.
    for (int64_t k0 = 0; k0 < cols; k0 += 64) {
        const int64_t k1 = std::min(cols, k0 + 64);
        for (int64_t i = 0; i < nr; i++) {
            const T * src = W + (p * P + i) * cols;
            for (int64_t k = k0; k < k1; k++) out[k * P + i] = src[k];
        }
    }
}

template <bool Q4>
void pack_q_panel(const void * W, int64_t rows, int64_t cols, int64_t p, uint8_t * out) {
    using B = std::conditional_t<Q4, BlockQ4_0, BlockQ8_0>;
    constexpr int64_t QB = qblock_bytes(Q4);
    const int64_t nb = cols / QK, nr = std::min<int64_t>(P, rows - p * P);
    for (int64_t b = 0; b < nb; b++) {
        const int64_t s = b / SB, j = b % SB, nbs = std::min(SB, nb - s * SB);
        uint8_t * base = out + s * SB * (QB + 2 * P);
        uint8_t * q = base + j * QB;
        uint16_t * d = (uint16_t *)(base + nbs * QB) + j * P;
        for (int64_t i = 0; i < nr; i++) {
            const B & blk = ((const B *)W)[(p * P + i) * nb + b];
            d[i] = blk.d;
            for (int g = 0; g < (Q4 ? 4 : 8); g++)
                for (int e = 0; e < 4; e++) q[g * 64 + 4 * i + e] = Q4 ? (uint8_t)blk.qs[4 * g + e] : (uint8_t)(blk.qs[4 * g + e] ^ 0x80);
        }
    }
}

void pack(TensorType t, const void * W, int64_t rows, int64_t cols, int64_t p0, int64_t p1, void * dst) {
    const int64_t pb = panel_bytes(t, cols);
    for (int64_t p = p0; p < p1; p++) {
        uint8_t * out = (uint8_t *)dst + p * pb;
        std::memset(out, 0, (size_t)pb);
        switch (t) {
        case TensorType::F32: pack_float_panel((const uint32_t *)W, rows, cols, p, (uint32_t *)out); break;
        case TensorType::F16: case TensorType::BF16: pack_float_panel((const uint16_t *)W, rows, cols, p, (uint16_t *)out); break;
        case TensorType::Q8_0: pack_q_panel<false>(W, rows, cols, p, out); break;
        case TensorType::Q4_0: pack_q_panel<true>(W, rows, cols, p, out); break;
        }
    }
}

// ---- float weights (F32, F16, BF16) -------------------------------------------------------------------------------

struct LoadF32 {
    using T = float;
    static __m512 load(const float * p) { return _mm512_load_ps(p); }
};
struct LoadF16 {
    using T = uint16_t;
    static __m512 load(const uint16_t * p) { return _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)p)); }
};
struct LoadBF16 {
    using T = uint16_t;
    static __m512 load(const uint16_t * p) {
        return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_load_si256((const __m256i *)p)), 16));
    }
};

// Prefetch distance along a panel stream, in k steps (F32: 64 bytes per step).
constexpr int64_t k_pf_f = 16;

// One token, NP panels at once (NP independent FMA chains). y points at the first panel's outputs; the last
// panel's stores are masked with mlast.
template <class L, int NP>
void gemv_f(const typename L::T * W, int64_t pstride, const float * x, int64_t cols, float * y, __mmask16 mlast) {
    __m512 acc[NP];
    for (int p = 0; p < NP; p++) acc[p] = _mm512_setzero_ps();
    for (int64_t k = 0; k < cols; k++) {
        const __m512 xb = _mm512_set1_ps(x[k]);
        for (int p = 0; p < NP; p++) {
            const typename L::T * w = W + p * pstride + k * P;
            if (sizeof(typename L::T) == 4 || (k & 1) == 0) _mm_prefetch((const char *)(w + k_pf_f * P), _MM_HINT_T0);
            acc[p] = _mm512_fmadd_ps(L::load(w), xb, acc[p]);
        }
    }
    for (int p = 0; p < NP - 1; p++) _mm512_storeu_ps(y + p * P, acc[p]);
    _mm512_mask_storeu_ps(y + (NP - 1) * P, mlast, acc[NP - 1]);
}

// NPAN panels x RN tokens over columns [k0, k1); partial sums continue from Y unless `first` (exact: the chain
// along k is the same one, stored and reloaded as float).
template <class L, int NPAN, int RN>
void micro_f(const typename L::T * W, int64_t pstride, const float * X, int64_t cols, int64_t k0, int64_t k1, float * Y,
             int64_t ldy, const __mmask16 * m, bool first) {
    __m512 acc[NPAN][RN];
    for (int p = 0; p < NPAN; p++)
        for (int j = 0; j < RN; j++) acc[p][j] = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m[p], Y + j * ldy + p * P);
    for (int64_t k = k0; k < k1; k++) {
        __m512 w[NPAN];
        for (int p = 0; p < NPAN; p++) w[p] = L::load(W + p * pstride + k * P);
        for (int j = 0; j < RN; j++) {
            const __m512 b = _mm512_set1_ps(X[j * cols + k]);
            for (int p = 0; p < NPAN; p++) acc[p][j] = _mm512_fmadd_ps(w[p], b, acc[p][j]);
        }
    }
    for (int p = 0; p < NPAN; p++)
        for (int j = 0; j < RN; j++) _mm512_mask_storeu_ps(Y + j * ldy + p * P, m[p], acc[p][j]);
}

template <class L, int NPAN, int RN>
void micro_f_dispatch(int rn, const typename L::T * W, int64_t pstride, const float * X, int64_t cols, int64_t k0,
                      int64_t k1, float * Y, int64_t ldy, const __mmask16 * m, bool first) {
    if constexpr (RN > 1) if (rn < RN) return micro_f_dispatch<L, NPAN, RN - 1>(rn, W, pstride, X, cols, k0, k1, Y, ldy, m, first);
    micro_f<L, NPAN, RN>(W, pstride, X, cols, k0, k1, Y, ldy, m, first);
}

constexpr int64_t KC = 256;  // columns per pass: 2 F32 panels x 256 = 32 KiB, L1-resident across the token tiles

template <class L>
void gemm_f(const typename L::T * W, const float * X, float * Y, int64_t rows, int64_t cols, int64_t n, int64_t r0,
            int64_t r1, int64_t ldy) {
    using T = typename L::T;
    const int64_t pstride = panel_bytes(sizeof(T) == 4 ? TensorType::F32 : TensorType::F16, cols) / (int64_t)sizeof(T);
    const int64_t p0 = r0 / P, p1 = (r1 + P - 1) / P;
    auto mask = [&](int64_t p) { return tail_mask(r1 - p * P); };
    if (n == 1) {
        // Two panels at a time: consecutive panels are adjacent in memory, so a thread's range is read as two
        // streams, which the hardware prefetcher follows far better than eight (one per panel of an 8-panel
        // group): 2 threads on Zen 5 streamed 46 GB/s with two, 31 GB/s with eight (BENCHMARKS.md). Two FMA
        // chains still outpace memory.
        int64_t p = p0;
        for (; p + 2 <= p1; p += 2) gemv_f<L, 2>(W + p * pstride, pstride, X, cols, Y + p * P, mask(p + 1));
        for (; p < p1; p++) gemv_f<L, 1>(W + p * pstride, pstride, X, cols, Y + p * P, mask(p));
        return;
    }
    // Few tokens: four panels per tile, so there are still >= 8 independent chains.
    const int npan_max = n <= 6 ? 4 : 2;
    const int64_t tn = tile_size(n, npan_max == 4 ? 6 : 12);
    for (int64_t p = p0; p < p1;) {
        const int npan = (int)std::min<int64_t>(npan_max, p1 - p);
        const int use = npan >= 4 ? 4 : npan >= 2 ? 2 : 1;
        __mmask16 m[4];
        for (int i = 0; i < use; i++) m[i] = mask(p + i);
        const T * Wp = W + p * pstride;
        for (int64_t k0 = 0; k0 < cols; k0 += KC) {
            const int64_t k1 = std::min(cols, k0 + KC);
            for (int64_t t = 0; t < n; t += tn) {
                const int rn = (int)std::min(tn, n - t);
                float * y = Y + t * ldy + p * P;
                const float * x = X + t * cols;
                if (use == 4) micro_f_dispatch<L, 4, 6>(rn, Wp, pstride, x, cols, k0, k1, y, ldy, m, k0 == 0);
                else if (use == 2) micro_f_dispatch<L, 2, 12>(rn, Wp, pstride, x, cols, k0, k1, y, ldy, m, k0 == 0);
                else micro_f_dispatch<L, 1, 12>(rn, Wp, pstride, x, cols, k0, k1, y, ldy, m, k0 == 0);
            }
        }
        p += use;
    }
}

// ---- int8 weights (Q8_0, Q4_0) ---------------------------------------------------------------------------------------

// Group g (columns 4g..4g+3) of a packed block for 16 rows, as unsigned bytes.
template <bool Q4>
inline __m512i qgroup(const uint8_t * q, int g) {
    if constexpr (Q4) {
        const __m512i low = _mm512_set1_epi8(0x0f);
        return g < 4 ? _mm512_and_si512(_mm512_load_si512(q + 64 * g), low)
                     : _mm512_and_si512(_mm512_srli_epi16(_mm512_load_si512(q + 64 * (g - 4)), 4), low);
    } else {
        return _mm512_load_si512(q + 64 * g);
    }
}


template <bool Q4, int NP>
void gemv_q(const uint8_t * W, int64_t pstride, const BlockQ8x * x, int64_t nb, float * y, __mmask16 mlast) {
    constexpr int64_t QB = qblock_bytes(Q4);
    __m512 acc[NP];
    for (int p = 0; p < NP; p++) acc[p] = _mm512_setzero_ps();
    for (int64_t s = 0; s * SB < nb; s++) {
        const int64_t nbs = std::min(SB, nb - s * SB);
        const uint8_t * base = W + s * SB * (QB + 2 * P);
        for (int64_t j = 0; j < nbs; j++) {
            const BlockQ8x & xb = x[s * SB + j];
            const __m512i corr = _mm512_set1_epi32((Q4 ? -8 : -128) * xb.sum);
            const __m512 dx = _mm512_set1_ps(xb.d);
            __m512i xg[8];
            for (int g = 0; g < 8; g++) xg[g] = bcast4(xb.qs + 4 * g);
            for (int p = 0; p < NP; p++) {
                const uint8_t * q = base + p * pstride + j * QB;
                const uint16_t * d = (const uint16_t *)(base + p * pstride + nbs * QB) + j * P;
                // One superblock ahead in this panel's stream (4.3 KiB Q8_0, 2.3 KiB Q4_0), one block's share of
                // its lines per block, so every line is asked for once (two lines per block, 1 KiB ahead, left
                // most of the Q8_0 stream to the hardware prefetcher, which ramps up too slowly on short panels).
                const char * ahead = (const char *)(base + p * pstride + (SB + j) * (QB + 2 * P));
                for (int64_t o = 0; o < QB + 2 * P; o += 64) _mm_prefetch(ahead + o, _MM_HINT_T0);
                __m512i s0 = corr, s1 = _mm512_setzero_si512();
                if constexpr (Q4) {
                    const __m512i low = _mm512_set1_epi8(0x0f);
                    for (int h = 0; h < 4; h++) {
                        const __m512i v = _mm512_load_si512(q + 64 * h);
                        s0 = _mm512_dpbusd_epi32(s0, _mm512_and_si512(v, low), xg[h]);
                        s1 = _mm512_dpbusd_epi32(s1, _mm512_and_si512(_mm512_srli_epi16(v, 4), low), xg[h + 4]);
                    }
                } else {
                    for (int g = 0; g < 8; g += 2) {
                        s0 = _mm512_dpbusd_epi32(s0, _mm512_load_si512(q + 64 * g), xg[g]);
                        s1 = _mm512_dpbusd_epi32(s1, _mm512_load_si512(q + 64 * (g + 1)), xg[g + 1]);
                    }
                }
                const __m512 scale = _mm512_mul_ps(_mm512_cvtph_ps(_mm256_load_si256((const __m256i *)d)), dx);
                acc[p] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(s0, s1)), scale, acc[p]);
            }
        }
    }
    for (int p = 0; p < NP - 1; p++) _mm512_storeu_ps(y + p * P, acc[p]);
    _mm512_mask_storeu_ps(y + (NP - 1) * P, mlast, acc[NP - 1]);
}

// NPAN panels x RN tokens over the blocks of superblock s; same per-output arithmetic as gemv_q.
template <bool Q4, int NPAN, int RN>
void micro_q(const uint8_t * W, int64_t pstride, const BlockQ8x * X, int64_t nb, int64_t s, float * Y, int64_t ldy,
             const __mmask16 * m, bool first) {
    constexpr int64_t QB = qblock_bytes(Q4);
    __m512 acc[NPAN][RN];
    for (int p = 0; p < NPAN; p++)
        for (int j = 0; j < RN; j++) acc[p][j] = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m[p], Y + j * ldy + p * P);
    const int64_t nbs = std::min(SB, nb - s * SB);
    const uint8_t * base = W + s * SB * (QB + 2 * P);
    for (int64_t jb = 0; jb < nbs; jb++) {
        const int64_t b = s * SB + jb;
        __m512i si[NPAN][RN];
        for (int j = 0; j < RN; j++) {
            const __m512i c = _mm512_set1_epi32((Q4 ? -8 : -128) * X[j * nb + b].sum);
            for (int p = 0; p < NPAN; p++) si[p][j] = c;
        }
        for (int g = 0; g < 8; g++) {
            __m512i w[NPAN];
            for (int p = 0; p < NPAN; p++) w[p] = qgroup<Q4>(base + p * pstride + jb * QB, g);
            for (int j = 0; j < RN; j++) {
                const __m512i xb = bcast4(X[j * nb + b].qs + 4 * g);
                for (int p = 0; p < NPAN; p++) si[p][j] = _mm512_dpbusd_epi32(si[p][j], w[p], xb);
            }
        }
        __m512 dw[NPAN];
        for (int p = 0; p < NPAN; p++)
            dw[p] = _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)((const uint16_t *)(base + p * pstride + nbs * QB) + jb * P)));
        for (int j = 0; j < RN; j++) {
            const __m512 dx = _mm512_set1_ps(X[j * nb + b].d);
            for (int p = 0; p < NPAN; p++) acc[p][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(si[p][j]), _mm512_mul_ps(dw[p], dx), acc[p][j]);
        }
    }
    for (int p = 0; p < NPAN; p++)
        for (int j = 0; j < RN; j++) _mm512_mask_storeu_ps(Y + j * ldy + p * P, m[p], acc[p][j]);
}

template <bool Q4, int NPAN, int RN>
void micro_q_dispatch(int rn, const uint8_t * W, int64_t pstride, const BlockQ8x * X, int64_t nb, int64_t s, float * Y,
                      int64_t ldy, const __mmask16 * m, bool first) {
    if constexpr (RN > 1) if (rn < RN) return micro_q_dispatch<Q4, NPAN, RN - 1>(rn, W, pstride, X, nb, s, Y, ldy, m, first);
    micro_q<Q4, NPAN, RN>(W, pstride, X, nb, s, Y, ldy, m, first);
}

// Few tokens (a decode step of 2..k_few_max sequences): one panel x RN tokens over all of its blocks. Each block is
// loaded and (Q4_0) unpacked into eight registers once and then serves every token of the tile, so a weight byte is
// read and unpacked once per call instead of once per tile of tokens; the panel is one sequential stream and the
// accumulators stay in registers from the first block to the last. Same per-output arithmetic as gemv_q: an exact
// int32 block sum, then acc = fma(float(sum), d_w * d_x, acc) in block order.
constexpr int k_few_max = 16;
// Prefetch distance of micro_q_few, in blocks along its one stream (the panel, then the next one): measured on Zen 5,
// ~30 blocks (8.6 KB Q4_0, 16 KB Q8_0) keep a decode step of 8 tokens compute-bound on a DRAM-resident matrix,
// 1 KB ahead left it waiting on memory more than half the time.
constexpr int64_t k_pf_few_blocks = 30;

template <bool Q4, int RN>
void micro_q_few(const uint8_t * W, const BlockQ8x * X, int64_t nb, float * Y, int64_t ldy, __mmask16 m) {
    constexpr int64_t QB = qblock_bytes(Q4);
    __m512 acc[RN];
    for (int j = 0; j < RN; j++) acc[j] = _mm512_setzero_ps();
    for (int64_t s = 0; s * SB < nb; s++) {
        const int64_t nbs = std::min(SB, nb - s * SB);
        const uint8_t * base = W + s * SB * (QB + 2 * P);
        for (int64_t jb = 0; jb < nbs; jb++) {
            const int64_t b = s * SB + jb;
            const uint8_t * q = base + jb * QB;
            // Every line of a block's share of the stream (q bytes and scales), k_pf_few_blocks ahead.
            const char * pf = (const char *)W + (b + k_pf_few_blocks) * (QB + 2 * P);
            for (int64_t o = 0; o < QB + 2 * P; o += 64) _mm_prefetch(pf + o, _MM_HINT_T0);
            __m512i w[8];
            if constexpr (Q4) {
                const __m512i low = _mm512_set1_epi8(0x0f);
                for (int h = 0; h < 4; h++) {
                    const __m512i v = _mm512_load_si512(q + 64 * h);
                    w[h] = _mm512_and_si512(v, low);
                    w[h + 4] = _mm512_and_si512(_mm512_srli_epi16(v, 4), low);
                }
            } else {
                for (int g = 0; g < 8; g++) w[g] = _mm512_load_si512(q + 64 * g);
            }
            const __m512 dw = _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)((const uint16_t *)(base + nbs * QB) + jb * P)));
#pragma GCC unroll 16
            for (int j = 0; j < RN; j++) {
                const BlockQ8x & xb = X[j * nb + b];
                __m512i s0 = _mm512_set1_epi32((Q4 ? -8 : -128) * xb.sum), s1 = _mm512_setzero_si512();
                for (int g = 0; g < 8; g += 2) {
                    s0 = _mm512_dpbusd_epi32(s0, w[g], bcast4(xb.qs + 4 * g));
                    s1 = _mm512_dpbusd_epi32(s1, w[g + 1], bcast4(xb.qs + 4 * g + 4));
                }
                acc[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(s0, s1)), _mm512_mul_ps(dw, _mm512_set1_ps(xb.d)), acc[j]);
            }
        }
    }
    for (int j = 0; j < RN; j++) _mm512_mask_storeu_ps(Y + j * ldy, m, acc[j]);
}

template <bool Q4, int RN>
void micro_q_few_dispatch(int rn, const uint8_t * W, const BlockQ8x * X, int64_t nb, float * Y, int64_t ldy, __mmask16 m) {
    if constexpr (RN > 1) if (rn < RN) return micro_q_few_dispatch<Q4, RN - 1>(rn, W, X, nb, Y, ldy, m);
    micro_q_few<Q4, RN>(W, X, nb, Y, ldy, m);
}

template <bool Q4>
void gemm_q(const uint8_t * W, const BlockQ8x * X, float * Y, int64_t rows, int64_t cols, int64_t n, int64_t r0, int64_t r1,
            int64_t ldy) {
    const int64_t nb = cols / QK;
    const int64_t pstride = panel_bytes(Q4 ? TensorType::Q4_0 : TensorType::Q8_0, cols);
    const int64_t p0 = r0 / P, p1 = (r1 + P - 1) / P;
    auto mask = [&](int64_t p) { return tail_mask(r1 - p * P); };
    if (n == 1) {  // two panels at a time: fewer concurrent streams, as for float weights
        int64_t p = p0;
        for (; p + 2 <= p1; p += 2) gemv_q<Q4, 2>(W + p * pstride, pstride, X, nb, Y + p * P, mask(p + 1));
        for (; p < p1; p++) gemv_q<Q4, 1>(W + p * pstride, pstride, X, nb, Y + p * P, mask(p));
        return;
    }
    if (n <= 2 * k_few_max) {
        const int64_t tn = tile_size(n, k_few_max);
        for (int64_t p = p0; p < p1; p++)
            for (int64_t t = 0; t < n; t += tn)
                micro_q_few_dispatch<Q4, k_few_max>((int)std::min(tn, n - t), W + p * pstride, X + t * nb, nb,
                                                    Y + t * ldy + p * P, ldy, mask(p));
        return;
    }
    const int npan_max = n <= 3 ? 4 : 2;
    const int64_t tn = tile_size(n, npan_max == 4 ? 3 : 6);
    for (int64_t p = p0; p < p1;) {
        const int npan = (int)std::min<int64_t>(npan_max, p1 - p);
        const int use = npan >= 4 ? 4 : npan >= 2 ? 2 : 1;
        __mmask16 m[4];
        for (int i = 0; i < use; i++) m[i] = mask(p + i);
        const uint8_t * Wp = W + p * pstride;
        for (int64_t s = 0; s * SB < nb; s++) {
            for (int64_t t = 0; t < n; t += tn) {
                const int rn = (int)std::min(tn, n - t);
                float * y = Y + t * ldy + p * P;
                const BlockQ8x * x = X + t * nb;
                if (use == 4) micro_q_dispatch<Q4, 4, 3>(rn, Wp, pstride, x, nb, s, y, ldy, m, s == 0);
                else if (use == 2) micro_q_dispatch<Q4, 2, 6>(rn, Wp, pstride, x, nb, s, y, ldy, m, s == 0);
                else micro_q_dispatch<Q4, 1, 6>(rn, Wp, pstride, x, nb, s, y, ldy, m, s == 0);
            }
        }
        p += use;
    }
}

void gemm(TensorType type, const void * W, const float * X, const BlockQ8x * XQ, float * Y, int64_t rows, int64_t cols,
          int64_t n, int64_t r0, int64_t r1, int64_t ldy) {
    switch (type) {
    case TensorType::F32: gemm_f<LoadF32>((const float *)W, X, Y, rows, cols, n, r0, r1, ldy); return;
    case TensorType::F16: gemm_f<LoadF16>((const uint16_t *)W, X, Y, rows, cols, n, r0, r1, ldy); return;
    case TensorType::BF16: gemm_f<LoadBF16>((const uint16_t *)W, X, Y, rows, cols, n, r0, r1, ldy); return;
    case TensorType::Q8_0: gemm_q<false>((const uint8_t *)W, XQ, Y, rows, cols, n, r0, r1, ldy); return;
    case TensorType::Q4_0: gemm_q<true>((const uint8_t *)W, XQ, Y, rows, cols, n, r0, r1, ldy); return;
    }
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
        const __m128i q0 = _mm512_cvtsepi32_epi8(i0), q1 = _mm512_cvtsepi32_epi8(i1);
        _mm_storeu_si128((__m128i *)y[b].qs, q0);
        _mm_storeu_si128((__m128i *)(y[b].qs + 16), q1);
        // The sum of the stored (saturated) bytes: NaN or huge inputs must not overflow it.
        y[b].sum = _mm512_reduce_add_epi32(_mm512_add_epi32(_mm512_cvtepi8_epi32(q0), _mm512_cvtepi8_epi32(q1)));
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

// Masked tail lanes go through the same formula: an element's value never depends on where n ends.
void silu_mul(float * g, const float * u, int64_t n) {
    const __m512 one = _mm512_set1_ps(1.0f);
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = tail_mask(n - i);
        const __m512 x = _mm512_maskz_loadu_ps(m, g + i);
        const __m512 s = _mm512_div_ps(x, _mm512_add_ps(one, exp512(_mm512_sub_ps(_mm512_setzero_ps(), x))));
        _mm512_mask_storeu_ps(g + i, m, _mm512_mul_ps(s, _mm512_maskz_loadu_ps(m, u + i)));
    }
}

// ---- attention ------------------------------------------------------------------------------------------------------

// Sum of 16 partial sums in one fixed order: (l, l+8), then (l, l+4), (l, l+2), (l, l+1).
inline float tree16(__m512 v) {
    const __m256 a = _mm256_add_ps(_mm512_castps512_ps256(v), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
    const __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    const __m128 c = _mm_add_ps(b, _mm_movehl_ps(b, b));
    return _mm_cvtss_f32(_mm_add_ss(c, _mm_shuffle_ps(c, c, 1)));
}

// The scratch: scores first (whole tiles; 32 query lanes per key in the block version), then the scaled queries.
inline float * q_scratch(float * sc, int32_t len) { return sc + (size_t)((len + k_kv_tile - 1) / k_kv_tile) * k_kv_tile * k_attn_block; }

constexpr int DC = 8;  // value dimensions per pass (zmm accumulators)
constexpr int32_t k_pf_v = 16;  // positions ahead the value rows (one vstride apart) are prefetched

// out[16 NC] = inv * sum_p e_p v_p over one pass of NC vectors of value dimensions (rem = dimensions left from
// here; the last vector is masked). NC a template parameter so the accumulators stay in registers: with a run-time
// count they lived on the stack and every position waited on a store-to-load round trip.
template <int NC>
void attend_values(const float * e, int32_t len, const float * v, int64_t vstride, int32_t rem, __m512 inv, float * out) {
    __m512 o[NC];
    __mmask16 mk[NC];
    for (int c = 0; c < NC; c++) o[c] = _mm512_setzero_ps(), mk[c] = tail_mask(rem - 16 * c);
    for (int32_t p = 0; p < len; p++) {
        const __m512 w = _mm512_set1_ps(e[p]);
        const float * vp = v + p * vstride;
        if (p + k_pf_v < len)
            for (int c = 0; c < NC; c++) _mm_prefetch((const char *)(vp + k_pf_v * vstride + 16 * c), _MM_HINT_T0);
        for (int c = 0; c < NC; c++) o[c] = _mm512_fmadd_ps(w, _mm512_maskz_loadu_ps(mk[c], vp + 16 * c), o[c]);
    }
    for (int c = 0; c < NC; c++) _mm512_mask_storeu_ps(out + 16 * c, mk[c], _mm512_mul_ps(o[c], inv));
}

template <int NC>
void attend_values_dispatch(int nc, const float * e, int32_t len, const float * v, int64_t vstride, int32_t rem, __m512 inv,
                            float * out) {
    if constexpr (NC > 1) if (nc < NC) return attend_values_dispatch<NC - 1>(nc, e, len, v, vstride, rem, inv, out);
    attend_values<NC>(e, len, v, vstride, rem, inv, out);
}

void attend(const float * q, const float * k, const float * v, int64_t vstride, int32_t len, int32_t hd, float scale,
            float * out, float * sc) {
    float * qs = q_scratch(sc, len);
    for (int32_t d = 0; d < hd; d++) qs[d] = q[d] * scale;
    const int32_t ntiles = (len + k_kv_tile - 1) / k_kv_tile;
    const int64_t tstride = (int64_t)hd * k_kv_tile;
    for (int32_t t0 = 0; t0 < ntiles; t0 += 4) {
        const int nt = std::min(4, ntiles - t0);
        __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
        const float * kt = k + t0 * tstride;
        if (nt == 4) {
            // The caches of a decode step of many sequences live in DRAM: fetch the next 4 tiles while these run.
            const bool pf = t0 + 8 <= ntiles;
            for (int32_t d = 0; d < hd; d++) {
                const __m512 qb = _mm512_set1_ps(qs[d]);
                if (pf)
                    for (int i = 0; i < 4; i++) _mm_prefetch((const char *)(kt + (4 + i) * tstride + d * k_kv_tile), _MM_HINT_T0);
                for (int i = 0; i < 4; i++) acc[i] = _mm512_fmadd_ps(_mm512_loadu_ps(kt + i * tstride + d * k_kv_tile), qb, acc[i]);
            }
        } else {
            for (int32_t d = 0; d < hd; d++) {
                const __m512 qb = _mm512_set1_ps(qs[d]);
                for (int i = 0; i < nt; i++) acc[i] = _mm512_fmadd_ps(_mm512_loadu_ps(kt + i * tstride + d * k_kv_tile), qb, acc[i]);
            }
        }
        for (int i = 0; i < nt; i++) _mm512_storeu_ps(sc + (t0 + i) * k_kv_tile, acc[i]);
    }
    __m512 mv = _mm512_set1_ps(-INFINITY);
    for (int32_t t = 0; t < ntiles; t++) mv = _mm512_mask_max_ps(mv, tail_mask(len - t * 16), mv, _mm512_loadu_ps(sc + t * 16));
    const __m512 mx = _mm512_set1_ps(_mm512_reduce_max_ps(mv));
    __m512 vs = _mm512_setzero_ps();
    for (int32_t t = 0; t < ntiles; t++) {
        const __m512 e = exp512(_mm512_sub_ps(_mm512_loadu_ps(sc + t * 16), mx));
        _mm512_storeu_ps(sc + t * 16, e);
        vs = _mm512_mask_add_ps(vs, tail_mask(len - t * 16), vs, e);
    }
    const __m512 inv = _mm512_set1_ps(1.0f / tree16(vs));
    for (int32_t d0 = 0; d0 < hd; d0 += DC * 16) {
        const int nc = std::min<int32_t>(DC, (hd - d0 + 15) / 16);
        attend_values_dispatch<DC>(nc, sc, len, v + d0, vstride, hd - d0, inv, out + d0);
    }
}

// Queries in the lanes (two zmm of 16): scores come out as S^T[key][query], so the max, the sums and the value
// products are vertical operations. Lane i of half h is query 16h + i; key p is visible to it iff p <= pos0 + i.
inline __mmask16 visible(int32_t p, int32_t pos0, int h, __mmask16 live) {
    const int32_t first = p - pos0 - 16 * h;  // lanes below this cannot see key p
    return first <= 0 ? live : first >= 16 ? (__mmask16)0 : (__mmask16)(live & (0xffffu << first));
}

constexpr int RKB = 12;

template <int RK>
void scores_tile(const float * qp, int32_t hd, const float * k, int32_t p0, float * st) {
    __m512 a0[RK], a1[RK];
    for (int j = 0; j < RK; j++) a0[j] = a1[j] = _mm512_setzero_ps();
    const float * kp[RK];
    for (int j = 0; j < RK; j++) kp[j] = k + k_tile_index(p0 + j, 0, hd);
    for (int32_t d = 0; d < hd; d++) {
        const __m512 q0 = _mm512_load_ps(qp + d * 32), q1 = _mm512_load_ps(qp + d * 32 + 16);
        for (int j = 0; j < RK; j++) {
            const __m512 kb = _mm512_set1_ps(kp[j][d * k_kv_tile]);
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
void scores_dispatch(int rk, const float * qp, int32_t hd, const float * k, int32_t p0, float * st) {
    if constexpr (RK > 1) if (rk < RK) return scores_dispatch<RK - 1>(rk, qp, hd, k, p0, st);
    scores_tile<RK>(qp, hd, k, p0, st);
}

template <int RD>
void values_tile(const float * st, int32_t len, int32_t pos0, const __mmask16 * live, const float * v, int64_t vstride,
                 int32_t d0, __m512 inv0, __m512 inv1, float * ot) {
    __m512 a0[RD], a1[RD];
    for (int j = 0; j < RD; j++) a0[j] = a1[j] = _mm512_setzero_ps();
    for (int32_t p = 0; p < len; p++) {
        const __mmask16 m0 = visible(p, pos0, 0, live[0]), m1 = visible(p, pos0, 1, live[1]);
        const __m512 e0 = _mm512_loadu_ps(st + p * 32), e1 = _mm512_loadu_ps(st + p * 32 + 16);
        for (int j = 0; j < RD; j++) {
            const __m512 vb = _mm512_set1_ps(v[p * vstride + d0 + j]);
            a0[j] = _mm512_mask3_fmadd_ps(e0, vb, a0[j], m0);
            a1[j] = _mm512_mask3_fmadd_ps(e1, vb, a1[j], m1);
        }
    }
    for (int j = 0; j < RD; j++) {
        _mm512_store_ps(ot + (d0 + j) * 32, _mm512_mul_ps(a0[j], inv0));
        _mm512_store_ps(ot + (d0 + j) * 32 + 16, _mm512_mul_ps(a1[j], inv1));
    }
}

template <int RD>
void values_dispatch(int rd, const float * st, int32_t len, int32_t pos0, const __mmask16 * live, const float * v,
                     int64_t vstride, int32_t d0, __m512 inv0, __m512 inv1, float * ot) {
    if constexpr (RD > 1) if (rd < RD) return values_dispatch<RD - 1>(rd, st, len, pos0, live, v, vstride, d0, inv0, inv1, ot);
    values_tile<RD>(st, len, pos0, live, v, vstride, d0, inv0, inv1, ot);
}

// The softmax sum of one half (16 queries) over visible keys: 16 partial sums by position mod 16, in position
// order, combined by tree16's order (what attend does with its one vector of 16 lanes).
__m512 softmax_sum(const float * st, int32_t len, int32_t pos0, int h, __mmask16 live) {
    __m512 a[16];
    for (int l = 0; l < 16; l++) a[l] = _mm512_setzero_ps();
    for (int32_t p0 = 0; p0 < len; p0 += 16)
        for (int l = 0; l < 16 && p0 + l < len; l++) {
            const int32_t p = p0 + l;
            a[l] = _mm512_mask_add_ps(a[l], visible(p, pos0, h, live), a[l], _mm512_loadu_ps(st + p * 32 + 16 * h));
        }
    for (int l = 0; l < 8; l++) a[l] = _mm512_add_ps(a[l], a[l + 8]);
    for (int l = 0; l < 4; l++) a[l] = _mm512_add_ps(a[l], a[l + 4]);
    for (int l = 0; l < 2; l++) a[l] = _mm512_add_ps(a[l], a[l + 2]);
    return _mm512_add_ps(a[0], a[1]);
}

void attend_block(const float * Q, int64_t ldq, int32_t nq, int32_t pos0, const float * k, const float * v,
                  int64_t vstride, int32_t hd, float scale, float * O, int64_t ldo, float * st) {
    const int32_t len = pos0 + nq;
    // Q^T, scaled (hd x 32), 64-byte aligned inside the scratch; reused for O^T at the end.
    float * qp = (float *)(((uintptr_t)q_scratch(st, len) + 63) & ~(uintptr_t)63);
    for (int32_t d = 0; d < hd; d++)
        for (int32_t i = 0; i < 32; i++) qp[d * 32 + i] = i < nq ? Q[i * ldq + d] * scale : 0.0f;
    for (int32_t p = 0; p < len; p += RKB) scores_dispatch<RKB>(std::min(RKB, len - p), qp, hd, k, p, st);
    const __mmask16 live[2] = {tail_mask(nq), tail_mask(nq - 16)};
    __m512 m0 = _mm512_set1_ps(-INFINITY), m1 = m0;
    for (int32_t p = 0; p < len; p++) {
        m0 = _mm512_mask_max_ps(m0, visible(p, pos0, 0, live[0]), m0, _mm512_loadu_ps(st + p * 32));
        m1 = _mm512_mask_max_ps(m1, visible(p, pos0, 1, live[1]), m1, _mm512_loadu_ps(st + p * 32 + 16));
    }
    for (int32_t p = 0; p < len; p++) {
        _mm512_storeu_ps(st + p * 32, exp512(_mm512_sub_ps(_mm512_loadu_ps(st + p * 32), m0)));
        _mm512_storeu_ps(st + p * 32 + 16, exp512(_mm512_sub_ps(_mm512_loadu_ps(st + p * 32 + 16), m1)));
    }
    const __m512 one = _mm512_set1_ps(1.0f);
    const __m512 inv0 = _mm512_div_ps(one, softmax_sum(st, len, pos0, 0, live[0]));
    const __m512 inv1 = nq > 16 ? _mm512_div_ps(one, softmax_sum(st, len, pos0, 1, live[1])) : one;
    for (int32_t d = 0; d < hd; d += RKB)
        values_dispatch<RKB>(std::min(RKB, hd - d), st, len, pos0, live, v, vstride, d, inv0, inv1, qp);
    for (int32_t i = 0; i < nq; i++)
        for (int32_t d = 0; d < hd; d++) O[i * ldo + d] = qp[d * 32 + i];
}

}  // namespace

const Kernels * kernels_avx512() {
    static const Kernels k = {"avx512", P, packed_bytes, pack, gemm, quantize_q8x, dot_f32, axpy_f32, silu_mul, attend,
                              attend_block};
    return &k;
}

}  // namespace mlxb
