// AVX2 + FMA + F16C kernels. This file alone is compiled with -mavx2 -mfma -mf16c; everything in it has internal
// linkage so no AVX2 instruction can leak into code that runs on older CPUs. Only called after a CPUID check.
#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "kernels.h"

namespace mlxb {

namespace {

inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// ---- float-like weights: W element loaders -------------------------------------------------------------------
struct LoadF32 {
    using T = float;
    static __m256 load(const float * p) { return _mm256_loadu_ps(p); }
    static float one(const float * p) { return *p; }
};
struct LoadF16 {
    using T = uint16_t;
    static __m256 load(const uint16_t * p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }
    static float one(const uint16_t * p) { return fp16_to_fp32(*p); }
};
struct LoadBF16 {
    using T = uint16_t;
    static __m256 load(const uint16_t * p) {
        return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p)), 16));
    }
    static float one(const uint16_t * p) { return bf16_to_fp32(*p); }
};

// RM weight rows x RN tokens, dot products along k kept as 8-lane partial sums in registers (llamafile's tinyBLAS
// layout: no packing, both operands are read row-wise as they lie in memory).
template <class L, int RM, int RN>
void tile_f(const typename L::T * W, const float * X, float * Y, int64_t cols, int64_t r, int64_t t, int64_t ldy) {
    __m256 acc[RM][RN];
    for (int i = 0; i < RM; i++)
        for (int j = 0; j < RN; j++) acc[i][j] = _mm256_setzero_ps();
    int64_t k = 0;
    for (; k + 8 <= cols; k += 8) {
        __m256 a[RM];
        for (int i = 0; i < RM; i++) a[i] = L::load(W + (r + i) * cols + k);
        for (int j = 0; j < RN; j++) {
            __m256 b = _mm256_loadu_ps(X + (t + j) * cols + k);
            for (int i = 0; i < RM; i++) acc[i][j] = _mm256_fmadd_ps(a[i], b, acc[i][j]);
        }
    }
    for (int i = 0; i < RM; i++)
        for (int j = 0; j < RN; j++) {
            float s = hsum(acc[i][j]);
            for (int64_t kk = k; kk < cols; kk++) s += L::one(W + (r + i) * cols + kk) * X[(t + j) * cols + kk];
            Y[(t + j) * ldy + r + i] = s;
        }
}

template <class L, int RM, int RN>
void tile_f_dispatch(int rm, int rn, const typename L::T * W, const float * X, float * Y, int64_t cols, int64_t r,
                     int64_t t, int64_t ldy) {
    if constexpr (RM > 1) if (rm < RM) return tile_f_dispatch<L, RM - 1, RN>(rm, rn, W, X, Y, cols, r, t, ldy);
    if constexpr (RN > 1) if (rn < RN) return tile_f_dispatch<L, RM, RN - 1>(rm, rn, W, X, Y, cols, r, t, ldy);
    tile_f<L, RM, RN>(W, X, Y, cols, r, t, ldy);
}

// Token blocks of TB keep the activations in L2 while every row tile of the thread's range streams past them.
constexpr int64_t TB = 48;

template <class L>
void gemm_f(const typename L::T * W, const float * X, float * Y, int64_t cols, int64_t n_tok, int64_t r0, int64_t r1,
            int64_t ldy) {
    if (n_tok == 1) {
        for (int64_t r = r0; r < r1; r += 4) tile_f_dispatch<L, 4, 1>((int)std::min<int64_t>(4, r1 - r), 1, W, X, Y, cols, r, 0, ldy);
        return;
    }
    constexpr int RM = 3, RN = 4;  // 12 accumulators + 3 weights + 1 activation = 16 ymm registers
    for (int64_t t0 = 0; t0 < n_tok; t0 += TB) {
        const int64_t t1 = std::min(n_tok, t0 + TB);
        for (int64_t r = r0; r < r1; r += RM)
            for (int64_t t = t0; t < t1; t += RN)
                tile_f_dispatch<L, RM, RN>((int)std::min<int64_t>(RM, r1 - r), (int)std::min<int64_t>(RN, t1 - t), W, X, Y,
                                           cols, r, t, ldy);
    }
}


// ---- int8 dot products for Q8_0 / Q4_0 weights -------------------------------------------------------------------
// 32 int8 x int8 products summed in 8 int32 lanes, as float. maddubs needs an unsigned operand: |w| and x*sign(w).
inline __m256 dot_i8(__m256i w, __m256i x) {
    const __m256i ax = _mm256_sign_epi8(w, w);
    const __m256i sx = _mm256_sign_epi8(x, w);
    const __m256i p16 = _mm256_maddubs_epi16(ax, sx);
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, _mm256_set1_epi16(1)));
}

struct LoadQ8 {
    using B = BlockQ8_0;
    static __m256i load(const BlockQ8_0 & b) { return _mm256_loadu_si256((const __m256i *)b.qs); }
};
struct LoadQ4 {
    using B = BlockQ4_0;
    static __m256i load(const BlockQ4_0 & b) {
        const __m128i tmp = _mm_loadu_si128((const __m128i *)b.qs);
        const __m256i bytes = _mm256_set_m128i(_mm_srli_epi16(tmp, 4), tmp);  // low nibbles 0..15, high 16..31
        return _mm256_sub_epi8(_mm256_and_si256(bytes, _mm256_set1_epi8(0x0f)), _mm256_set1_epi8(8));
    }
};

constexpr int64_t k_prefetch_blocks = 32;  // ~0.5 KiB ahead in each weight row

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
                acc[i][j] = _mm256_fmadd_ps(_mm256_set1_ps(dw[i] * xb.d), dot_i8(w[i], x), acc[i][j]);
        }
    }
    for (int i = 0; i < RM; i++)
        for (int j = 0; j < RN; j++) Y[(t + j) * ldy + r + i] = hsum(acc[i][j]);
}

template <class L, int RM, int RN>
void tile_q_dispatch(int rm, int rn, const typename L::B * W, const BlockQ8x * X, float * Y, int64_t nb, int64_t r,
                     int64_t t, int64_t ldy) {
    if constexpr (RM > 1) if (rm < RM) return tile_q_dispatch<L, RM - 1, RN>(rm, rn, W, X, Y, nb, r, t, ldy);
    if constexpr (RN > 1) if (rn < RN) return tile_q_dispatch<L, RM, RN - 1>(rm, rn, W, X, Y, nb, r, t, ldy);
    tile_q<L, RM, RN>(W, X, Y, nb, r, t, ldy);
}

template <class L>
void gemm_q(const typename L::B * W, const BlockQ8x * X, float * Y, int64_t cols, int64_t n_tok, int64_t r0, int64_t r1,
            int64_t ldy) {
    const int64_t nb = cols / QK;
    if (n_tok == 1) {
        for (int64_t r = r0; r < r1; r += 4) tile_q_dispatch<L, 4, 1>((int)std::min<int64_t>(4, r1 - r), 1, W, X, Y, nb, r, 0, ldy);
        return;
    }
    constexpr int RM = 2, RN = 4;
    for (int64_t t0 = 0; t0 < n_tok; t0 += TB) {
        const int64_t t1 = std::min(n_tok, t0 + TB);
        for (int64_t r = r0; r < r1; r += RM)
            for (int64_t t = t0; t < t1; t += RN)
                tile_q_dispatch<L, RM, RN>((int)std::min<int64_t>(RM, r1 - r), (int)std::min<int64_t>(RN, t1 - t), W, X, Y,
                                           nb, r, t, ldy);
    }
}

// Every path above (one token or a tile of several, any row range) reduces an output the same way: 8-lane partial
// sums along k in order, then hsum (plus the same scalar tail), so results do not depend on the batch.
void gemm(TensorType type, const void * W, const float * X, const BlockQ8x * XQ, float * Y, int64_t rows, int64_t cols,
          int64_t n, int64_t r0, int64_t r1, int64_t ldy) {
    switch (type) {
    case TensorType::F32: gemm_f<LoadF32>((const float *)W, X, Y, cols, n, r0, r1, ldy); return;
    case TensorType::F16: gemm_f<LoadF16>((const uint16_t *)W, X, Y, cols, n, r0, r1, ldy); return;
    case TensorType::BF16: gemm_f<LoadBF16>((const uint16_t *)W, X, Y, cols, n, r0, r1, ldy); return;
    case TensorType::Q8_0: gemm_q<LoadQ8>((const BlockQ8_0 *)W, XQ, Y, cols, n, r0, r1, ldy); return;
    case TensorType::Q4_0: gemm_q<LoadQ4>((const BlockQ4_0 *)W, XQ, Y, cols, n, r0, r1, ldy); return;
    }
}

// Same arithmetic as the generic version (amax/127, multiply by 1/d, round to nearest even), so results match bit
// for bit.
void quantize_q8x(const float * x, BlockQ8x * y, int64_t n) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t b = 0; b < n / QK; b++) {
        __m256 v[4];
        __m256 m = _mm256_setzero_ps();
        for (int k = 0; k < 4; k++) {
            v[k] = _mm256_loadu_ps(x + b * QK + 8 * k);
            m = _mm256_max_ps(m, _mm256_andnot_ps(sign, v[k]));
        }
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        const float amax = _mm_cvtss_f32(m4);
        const float d = amax / 127.0f, id = d != 0 ? 1.0f / d : 0.0f;
        y[b].d = d;
        const __m256 vid = _mm256_set1_ps(id);
        __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(v[0], vid));
        __m256i i1 = _mm256_cvtps_epi32(_mm256_mul_ps(v[1], vid));
        __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(v[2], vid));
        __m256i i3 = _mm256_cvtps_epi32(_mm256_mul_ps(v[3], vid));
        i0 = _mm256_packs_epi32(i0, i1);
        i2 = _mm256_packs_epi32(i2, i3);
        i0 = _mm256_packs_epi16(i0, i2);
        i0 = _mm256_permutevar8x32_epi32(i0, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i *)y[b].qs, i0);
        // sum of the 32 bytes: widen to 16 bits in pairs, then to 32 bits (exact).
        const __m256i s16 = _mm256_maddubs_epi16(_mm256_set1_epi8(1), i0);  // unsigned 1 x signed q
        __m256i s32 = _mm256_madd_epi16(s16, _mm256_set1_epi16(1));
        __m128i t = _mm_add_epi32(_mm256_castsi256_si128(s32), _mm256_extracti128_si256(s32, 1));
        t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0x4e));
        t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0xb1));
        y[b].sum = _mm_cvtsi128_si32(t);
    }
}

float dot_f32(const float * a, const float * b, int64_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    }
    for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    float s = hsum(_mm256_add_ps(s0, s1));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

void axpy_f32(float a, const float * x, float * y, int64_t n) {
    const __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += a * x[i];
}

// exp(x) = 2^n * e^r with n = round(x / ln 2), r = x - n ln 2 (two-part ln 2), e^r by its degree-6 Taylor
// polynomial (|r| <= 0.347: relative error < 1e-7); 2^n assembled in the exponent bits. x is clamped to the range
// where that stays finite and normal.
inline __m256 exp256(__m256 x) {
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.0f)), _mm256_set1_ps(88.0f));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.0f / 720);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

inline __m256 silu_mul8(__m256 x, __m256 u) {
    const __m256 s = _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.0f), exp256(_mm256_sub_ps(_mm256_setzero_ps(), x))));
    return _mm256_mul_ps(s, u);
}

// The tail goes through the same vector formula (padded), so an element's value does not depend on where a thread's
// row range happened to end.
void silu_mul(float * g, const float * u, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(g + i, silu_mul8(_mm256_loadu_ps(g + i), _mm256_loadu_ps(u + i)));
    if (i < n) {
        alignas(32) float tg[8] = {}, tu[8] = {};
        std::copy(g + i, g + n, tg);
        std::copy(u + i, u + n, tu);
        _mm256_store_ps(tg, silu_mul8(_mm256_load_ps(tg), _mm256_load_ps(tu)));
        std::copy(tg, tg + (n - i), g + i);
    }
}

// ---- attention ------------------------------------------------------------------------------------------------------
// The AVX-512 table's scheme on 8 lanes. Every query is reduced the same way whether it comes alone (attend) or in a
// block of up to 32 (attend_block): scores = FMA chain along d of (q[d] * scale) * k[d]; max; exp; the softmax sum as
// 8 position-interleaved partial sums (position mod 8, in position order) combined by hsum's fixed tree; values =
// FMA chain along positions of e_p * v_p, then times 1 / sum.

// lanes_below(n): lanes j < n set (n in 0..8); lanes_from(f): lanes j >= f set (f in 0..8).
alignas(32) constexpr int32_t k_lane_table[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
inline __m256i lanes_below(int32_t n) {
    n = std::clamp<int32_t>(n, 0, 8);
    return _mm256_loadu_si256((const __m256i *)(k_lane_table + 8 - n));
}
inline __m256 lanes_from(int32_t f) {
    f = std::clamp<int32_t>(f, 0, 8);
    return _mm256_castsi256_ps(_mm256_xor_si256(lanes_below(f), _mm256_set1_epi32(-1)));
}

// The scratch: scores first (whole tiles; 32 query lanes per key in the block version), then the scaled queries.
inline float * q_scratch(float * sc, int32_t len) { return sc + (size_t)((len + k_kv_tile - 1) / k_kv_tile) * k_kv_tile * k_attn_block; }

constexpr int DC = 8;           // value vectors (8 dimensions each) per pass of attend
constexpr int32_t k_pf_v = 16;  // positions ahead the value rows (one vstride apart) are prefetched

// out[8 NC] = inv * sum_p e_p v_p over NC vectors of value dimensions; rem = dimensions left from here (the last
// vector is masked when rem < 8 NC). NC a template parameter so the accumulators stay in registers.
template <int NC>
void attend_values(const float * e, int32_t len, const float * v, int64_t vstride, int32_t rem, __m256 inv, float * out) {
    __m256 o[NC];
    for (int c = 0; c < NC; c++) o[c] = _mm256_setzero_ps();
    const bool tail = rem < 8 * NC;
    const __m256i mlast = lanes_below(rem - 8 * (NC - 1));
    for (int32_t p = 0; p < len; p++) {
        const __m256 w = _mm256_set1_ps(e[p]);
        const float * vp = v + p * vstride;
        if (p + k_pf_v < len)
            for (int c = 0; c < NC; c++) _mm_prefetch((const char *)(vp + k_pf_v * vstride + 8 * c), _MM_HINT_T0);
        for (int c = 0; c < NC - 1; c++) o[c] = _mm256_fmadd_ps(w, _mm256_loadu_ps(vp + 8 * c), o[c]);
        const __m256 vl = tail ? _mm256_maskload_ps(vp + 8 * (NC - 1), mlast) : _mm256_loadu_ps(vp + 8 * (NC - 1));
        o[NC - 1] = _mm256_fmadd_ps(w, vl, o[NC - 1]);
    }
    for (int c = 0; c < NC - 1; c++) _mm256_storeu_ps(out + 8 * c, _mm256_mul_ps(o[c], inv));
    _mm256_maskstore_ps(out + 8 * (NC - 1), mlast, _mm256_mul_ps(o[NC - 1], inv));
}

template <int NC>
void attend_values_dispatch(int nc, const float * e, int32_t len, const float * v, int64_t vstride, int32_t rem, __m256 inv,
                            float * out) {
    if constexpr (NC > 1) if (nc < NC) return attend_values_dispatch<NC - 1>(nc, e, len, v, vstride, rem, inv, out);
    attend_values<NC>(e, len, v, vstride, rem, inv, out);
}

// Scores of TT tiles (2 TT vectors of 8 keys) along d.
template <int TT>
void key_scores(const float * qs, const float * kt, int64_t tstride, int32_t hd, bool prefetch, float * sc) {
    __m256 acc[TT][2];
    for (int i = 0; i < TT; i++) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
    for (int32_t d = 0; d < hd; d++) {
        const __m256 qb = _mm256_set1_ps(qs[d]);
        // The caches of a decode step of many sequences live in DRAM: fetch the next tiles while these run.
        if (prefetch)
            for (int i = 0; i < TT; i++) _mm_prefetch((const char *)(kt + (TT + i) * tstride + d * k_kv_tile), _MM_HINT_T0);
        for (int i = 0; i < TT; i++) {
            const float * kp = kt + i * tstride + d * k_kv_tile;
            acc[i][0] = _mm256_fmadd_ps(_mm256_loadu_ps(kp), qb, acc[i][0]);
            acc[i][1] = _mm256_fmadd_ps(_mm256_loadu_ps(kp + 8), qb, acc[i][1]);
        }
    }
    for (int i = 0; i < TT; i++) {
        _mm256_storeu_ps(sc + i * k_kv_tile, acc[i][0]);
        _mm256_storeu_ps(sc + i * k_kv_tile + 8, acc[i][1]);
    }
}

void attend(const float * q, const float * k, const float * v, int64_t vstride, int32_t len, int32_t hd, float scale,
            float * out, float * sc) {
    float * qs = q_scratch(sc, len);
    for (int32_t d = 0; d < hd; d++) qs[d] = q[d] * scale;
    const int32_t ntiles = (len + k_kv_tile - 1) / k_kv_tile;
    const int64_t tstride = (int64_t)hd * k_kv_tile;
    int32_t t0 = 0;
    for (; t0 + 4 <= ntiles; t0 += 4) key_scores<4>(qs, k + t0 * tstride, tstride, hd, t0 + 8 <= ntiles, sc + t0 * k_kv_tile);
    for (; t0 < ntiles; t0++) key_scores<1>(qs, k + t0 * tstride, tstride, hd, false, sc + t0 * k_kv_tile);
    const int32_t nv = (len + 7) / 8;  // vectors of 8 scores; the last one masked to len
    __m256 mv = _mm256_set1_ps(-INFINITY);
    for (int32_t j = 0; j < nv; j++)
        mv = _mm256_max_ps(mv, _mm256_blendv_ps(_mm256_set1_ps(-INFINITY), _mm256_loadu_ps(sc + 8 * j),
                                                _mm256_castsi256_ps(lanes_below(len - 8 * j))));
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(mv), _mm256_extractf128_ps(mv, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const __m256 mx = _mm256_set1_ps(_mm_cvtss_f32(m4));
    __m256 vs = _mm256_setzero_ps();
    for (int32_t j = 0; j < nv; j++) {
        const __m256 e = exp256(_mm256_sub_ps(_mm256_loadu_ps(sc + 8 * j), mx));
        _mm256_storeu_ps(sc + 8 * j, e);
        vs = _mm256_add_ps(vs, _mm256_and_ps(e, _mm256_castsi256_ps(lanes_below(len - 8 * j))));
    }
    const __m256 inv = _mm256_set1_ps(1.0f / hsum(vs));
    for (int32_t d0 = 0; d0 < hd; d0 += DC * 8) {
        const int nc = std::min<int32_t>(DC, (hd - d0 + 7) / 8);
        attend_values_dispatch<DC>(nc, sc, len, v + d0, vstride, hd - d0, inv, out + d0);
    }
}

// Block version: queries in the lanes, NQV vectors of 8 (query 8c + i is lane i of vector c), so scores come out as
// S^T[key][query] (st[p * 32 + query]) and the max, the sums and the value products are vertical. Key p is visible to
// query i iff p <= pos0 + i: every key up to pos0 to all of them, then one more lane per key. Lanes past nq compute
// garbage that is never stored.
inline __m256 visible(int32_t p, int32_t pos0, int c) { return lanes_from(p - pos0 - 8 * c); }

template <int NQV> constexpr int tile_keys = NQV == 1 ? 12 : NQV == 2 ? 6 : NQV == 3 ? 3 : 2;  // <= 13 of 16 ymm

template <int NQV, int RK>
void scores_tile(const float * qp, int32_t hd, const float * k, int32_t p0, float * st) {
    __m256 a[RK][NQV];
    for (int j = 0; j < RK; j++)
        for (int c = 0; c < NQV; c++) a[j][c] = _mm256_setzero_ps();
    const float * kp[RK];
    for (int j = 0; j < RK; j++) kp[j] = k + k_tile_index(p0 + j, 0, hd);
    for (int32_t d = 0; d < hd; d++) {
        __m256 qv[NQV];
        for (int c = 0; c < NQV; c++) qv[c] = _mm256_load_ps(qp + d * 32 + 8 * c);
        for (int j = 0; j < RK; j++) {
            const __m256 kb = _mm256_set1_ps(kp[j][d * k_kv_tile]);
            for (int c = 0; c < NQV; c++) a[j][c] = _mm256_fmadd_ps(qv[c], kb, a[j][c]);
        }
    }
    for (int j = 0; j < RK; j++)
        for (int c = 0; c < NQV; c++) _mm256_storeu_ps(st + (p0 + j) * 32 + 8 * c, a[j][c]);
}

template <int NQV, int RK>
void scores_dispatch(int rk, const float * qp, int32_t hd, const float * k, int32_t p0, float * st) {
    if constexpr (RK > 1) if (rk < RK) return scores_dispatch<NQV, RK - 1>(rk, qp, hd, k, p0, st);
    scores_tile<NQV, RK>(qp, hd, k, p0, st);
}

template <int NQV, int RD>
void values_tile(const float * st, int32_t len, int32_t pos0, const float * v, int64_t vstride, int32_t d0,
                 const __m256 * inv, float * ot) {
    __m256 a[RD][NQV];
    for (int j = 0; j < RD; j++)
        for (int c = 0; c < NQV; c++) a[j][c] = _mm256_setzero_ps();
    for (int32_t p = 0; p < len; p++) {
        __m256 e[NQV];
        for (int c = 0; c < NQV; c++) {
            e[c] = _mm256_loadu_ps(st + p * 32 + 8 * c);
            // A key a query cannot see adds 0 * v to its chain: exact, as the chain starts at +0 and never holds -0.
            if (p > pos0 + 8 * c) e[c] = _mm256_and_ps(e[c], visible(p, pos0, c));
        }
        for (int j = 0; j < RD; j++) {
            const __m256 vb = _mm256_set1_ps(v[p * vstride + d0 + j]);
            for (int c = 0; c < NQV; c++) a[j][c] = _mm256_fmadd_ps(e[c], vb, a[j][c]);
        }
    }
    for (int j = 0; j < RD; j++)
        for (int c = 0; c < NQV; c++) _mm256_store_ps(ot + (d0 + j) * 32 + 8 * c, _mm256_mul_ps(a[j][c], inv[c]));
}

template <int NQV, int RD>
void values_dispatch(int rd, const float * st, int32_t len, int32_t pos0, const float * v, int64_t vstride, int32_t d0,
                     const __m256 * inv, float * ot) {
    if constexpr (RD > 1) if (rd < RD) return values_dispatch<NQV, RD - 1>(rd, st, len, pos0, v, vstride, d0, inv, ot);
    values_tile<NQV, RD>(st, len, pos0, v, vstride, d0, inv, ot);
}

// The softmax sum of vector c's queries over their visible keys: 8 partial sums by position mod 8, in position
// order, combined as hsum combines attend's lanes: (l, l+4), then (l, l+2), then (l, l+1).
__m256 softmax_sum(const float * st, int32_t len, int32_t pos0, int c) {
    __m256 a[8];
    for (int l = 0; l < 8; l++) a[l] = _mm256_setzero_ps();
    for (int32_t p0 = 0; p0 < len; p0 += 8)
        for (int l = 0; l < 8 && p0 + l < len; l++) {
            const int32_t p = p0 + l;
            __m256 e = _mm256_loadu_ps(st + p * 32 + 8 * c);
            if (p > pos0 + 8 * c) e = _mm256_and_ps(e, visible(p, pos0, c));
            a[l] = _mm256_add_ps(a[l], e);
        }
    for (int l = 0; l < 4; l++) a[l] = _mm256_add_ps(a[l], a[l + 4]);
    for (int l = 0; l < 2; l++) a[l] = _mm256_add_ps(a[l], a[l + 2]);
    return _mm256_add_ps(a[0], a[1]);
}

template <int NQV>
void attend_block_n(const float * Q, int64_t ldq, int32_t nq, int32_t pos0, const float * k, const float * v,
                    int64_t vstride, int32_t hd, float scale, float * O, int64_t ldo, float * st) {
    constexpr int R = tile_keys<NQV>;
    const int32_t len = pos0 + nq;
    // Q^T, scaled (hd x 32), 32-byte aligned inside the scratch; reused for O^T at the end.
    float * qp = (float *)(((uintptr_t)q_scratch(st, len) + 31) & ~(uintptr_t)31);
    for (int32_t d = 0; d < hd; d++)
        for (int32_t i = 0; i < 8 * NQV; i++) qp[d * 32 + i] = i < nq ? Q[i * ldq + d] * scale : 0.0f;
    for (int32_t p = 0; p < len; p += R) scores_dispatch<NQV, R>(std::min(R, len - p), qp, hd, k, p, st);
    __m256 inv[NQV];
    for (int c = 0; c < NQV; c++) {
        __m256 m = _mm256_set1_ps(-INFINITY);
        for (int32_t p = 0; p < len; p++) {
            const __m256 s = _mm256_loadu_ps(st + p * 32 + 8 * c);
            m = _mm256_max_ps(m, p > pos0 + 8 * c ? _mm256_blendv_ps(_mm256_set1_ps(-INFINITY), s, visible(p, pos0, c)) : s);
        }
        for (int32_t p = 0; p < len; p++) _mm256_storeu_ps(st + p * 32 + 8 * c, exp256(_mm256_sub_ps(_mm256_loadu_ps(st + p * 32 + 8 * c), m)));
        inv[c] = _mm256_div_ps(_mm256_set1_ps(1.0f), softmax_sum(st, len, pos0, c));
    }
    for (int32_t d = 0; d < hd; d += R) values_dispatch<NQV, R>(std::min(R, hd - d), st, len, pos0, v, vstride, d, inv, qp);
    for (int32_t i = 0; i < nq; i++)
        for (int32_t d = 0; d < hd; d++) O[i * ldo + d] = qp[d * 32 + i];
}

void attend_block(const float * Q, int64_t ldq, int32_t nq, int32_t pos0, const float * k, const float * v,
                  int64_t vstride, int32_t hd, float scale, float * O, int64_t ldo, float * st) {
    switch ((nq + 7) / 8) {
    case 1: return attend_block_n<1>(Q, ldq, nq, pos0, k, v, vstride, hd, scale, O, ldo, st);
    case 2: return attend_block_n<2>(Q, ldq, nq, pos0, k, v, vstride, hd, scale, O, ldo, st);
    case 3: return attend_block_n<3>(Q, ldq, nq, pos0, k, v, vstride, hd, scale, O, ldo, st);
    default: return attend_block_n<4>(Q, ldq, nq, pos0, k, v, vstride, hd, scale, O, ldo, st);
    }
}

}  // namespace

const Kernels * kernels_avx2() {
    static const Kernels k = {"avx2", 1, nullptr, nullptr, gemm, quantize_q8x, dot_f32, axpy_f32, silu_mul, attend,
                              attend_block};
    return &k;
}

}  // namespace mlxb
