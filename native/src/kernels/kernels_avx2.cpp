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

// Scores 8 keys per vector from the tiled K cache (the order along d is fixed); the block version is this per query.
void attend(const float * q, const float * k, const float * v, int64_t vstride, int32_t len, int32_t hd, float scale,
            float * out, float * sc) {
    for (int32_t p0 = 0; p0 < len; p0 += 8) {
        const float * kt = k + (size_t)(p0 / k_kv_tile) * hd * k_kv_tile + p0 % k_kv_tile;
        __m256 acc = _mm256_setzero_ps();
        for (int32_t d = 0; d < hd; d++) acc = _mm256_fmadd_ps(_mm256_loadu_ps(kt + d * k_kv_tile), _mm256_set1_ps(q[d]), acc);
        _mm256_storeu_ps(sc + p0, _mm256_mul_ps(acc, _mm256_set1_ps(scale)));  // scratch is padded to whole tiles
    }
    float mx = -INFINITY;
    for (int32_t p = 0; p < len; p++) mx = std::max(mx, sc[p]);
    const __m256 vmx = _mm256_set1_ps(mx);
    __m256 vsum = _mm256_setzero_ps();
    int32_t p = 0;
    for (; p + 8 <= len; p += 8) {
        const __m256 e = exp256(_mm256_sub_ps(_mm256_loadu_ps(sc + p), vmx));
        _mm256_storeu_ps(sc + p, e);
        vsum = _mm256_add_ps(vsum, e);
    }
    float sum = hsum(vsum);
    for (; p < len; p++) sum += (sc[p] = std::exp(sc[p] - mx));
    std::fill_n(out, hd, 0.0f);
    for (p = 0; p < len; p++) axpy_f32(sc[p], v + p * vstride, out, hd);
    const float inv = 1.0f / sum;
    for (int32_t i = 0; i < hd; i++) out[i] *= inv;
}

void attend_block(const float * Q, int64_t ldq, int32_t nq, int32_t pos0, const float * k, const float * v,
                  int64_t vstride, int32_t hd, float scale, float * O, int64_t ldo, float * scratch) {
    for (int32_t i = 0; i < nq; i++) attend(Q + i * ldq, k, v, vstride, pos0 + i + 1, hd, scale, O + i * ldo, scratch);
}

}  // namespace

const Kernels * kernels_avx2() {
    static const Kernels k = {"avx2", 1, nullptr, nullptr, gemm, quantize_q8x, dot_f32, axpy_f32, silu_mul, attend,
                              attend_block};
    return &k;
}

}  // namespace mlxb
