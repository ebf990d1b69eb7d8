// Portable reference kernels: plain loops, the ground truth the ISA variants are tested against.
#include <algorithm>
#include <cmath>

#include "kernels.h"

namespace mlxb {

namespace {

// Eight independent partial sums: any compiler can map them onto SIMD lanes (SSE, NEON, ...) without -ffast-math,
// because no float addition is reordered. The ISA tables are tested against this.
constexpr int k_lanes = 8;

float dot_f32(const float * a, const float * b, int64_t n) {
    float acc[k_lanes] = {};
    int64_t i = 0;
    for (; i + k_lanes <= n; i += k_lanes)
        for (int l = 0; l < k_lanes; l++) acc[l] += a[i + l] * b[i + l];
    float s = 0;
    for (int l = 0; l < k_lanes; l++) s += acc[l];
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

void gemm_f32(const float * W, const float * X, float * Y, int64_t cols, int64_t n_tok, int64_t r0, int64_t r1, int64_t ldy) {
    for (int64_t t = 0; t < n_tok; t++)
        for (int64_t r = r0; r < r1; r++) Y[t * ldy + r] = dot_f32(W + r * cols, X + t * cols, cols);
}

template <float (*CVT)(uint16_t)>
void gemm_half(const uint16_t * W, const float * X, float * Y, int64_t cols, int64_t n_tok, int64_t r0, int64_t r1, int64_t ldy) {
    for (int64_t t = 0; t < n_tok; t++)
        for (int64_t r = r0; r < r1; r++) {
            const uint16_t * w = W + r * cols;
            const float * x = X + t * cols;
            float s = 0;
            for (int64_t k = 0; k < cols; k++) s += CVT(w[k]) * x[k];
            Y[t * ldy + r] = s;
        }
}

void gemm_q8_0(const BlockQ8_0 * W, const BlockQ8x * X, float * Y, int64_t cols, int64_t n_tok, int64_t r0, int64_t r1, int64_t ldy) {
    const int64_t nb = cols / QK;
    for (int64_t t = 0; t < n_tok; t++)
        for (int64_t r = r0; r < r1; r++) {
            const BlockQ8_0 * w = W + r * nb;
            const BlockQ8x * x = X + t * nb;
            float s = 0;
            for (int64_t b = 0; b < nb; b++) {
                int32_t acc = 0;
                for (int k = 0; k < QK; k++) acc += w[b].qs[k] * x[b].qs[k];
                s += fp16_to_fp32(w[b].d) * x[b].d * (float)acc;
            }
            Y[t * ldy + r] = s;
        }
}

void gemm_q4_0(const BlockQ4_0 * W, const BlockQ8x * X, float * Y, int64_t cols, int64_t n_tok, int64_t r0, int64_t r1, int64_t ldy) {
    const int64_t nb = cols / QK;
    for (int64_t t = 0; t < n_tok; t++)
        for (int64_t r = r0; r < r1; r++) {
            const BlockQ4_0 * w = W + r * nb;
            const BlockQ8x * x = X + t * nb;
            float s = 0;
            for (int64_t b = 0; b < nb; b++) {
                int32_t acc = 0;
                for (int k = 0; k < QK / 2; k++) {
                    acc += ((w[b].qs[k] & 0x0f) - 8) * x[b].qs[k];
                    acc += ((w[b].qs[k] >> 4) - 8) * x[b].qs[k + QK / 2];
                }
                s += fp16_to_fp32(w[b].d) * x[b].d * (float)acc;
            }
            Y[t * ldy + r] = s;
        }
}

void gemm(TensorType type, const void * W, const float * X, const BlockQ8x * XQ, float * Y, int64_t rows, int64_t cols,
          int64_t n_tok, int64_t r0, int64_t r1, int64_t ldy) {
    switch (type) {
    case TensorType::F32: gemm_f32((const float *)W, X, Y, cols, n_tok, r0, r1, ldy); return;
    case TensorType::F16: gemm_half<fp16_to_fp32>((const uint16_t *)W, X, Y, cols, n_tok, r0, r1, ldy); return;
    case TensorType::BF16: gemm_half<bf16_to_fp32>((const uint16_t *)W, X, Y, cols, n_tok, r0, r1, ldy); return;
    case TensorType::Q8_0: gemm_q8_0((const BlockQ8_0 *)W, XQ, Y, cols, n_tok, r0, r1, ldy); return;
    case TensorType::Q4_0: gemm_q4_0((const BlockQ4_0 *)W, XQ, Y, cols, n_tok, r0, r1, ldy); return;
    }
}

void quantize_q8x(const float * x, BlockQ8x * y, int64_t n) {
    for (int64_t b = 0; b < n / QK; b++) {
        float amax = 0;
        for (int k = 0; k < QK; k++) amax = std::fmax(amax, std::fabs(x[b * QK + k]));
        float d = amax / 127.0f, id = d != 0 ? 1.0f / d : 0.0f;
        y[b].d = d;
        int32_t sum = 0;
        for (int k = 0; k < QK; k++) sum += y[b].qs[k] = (int8_t)std::nearbyint(x[b * QK + k] * id);
        y[b].sum = sum;
    }
}

void axpy_f32(float a, const float * x, float * y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
}

void silu_mul(float * g, const float * u, int64_t n) {
    for (int64_t i = 0; i < n; i++) g[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
}

// Scores one key at a time from the tiled K cache; the block version is this per query, so both agree exactly.
void attend(const float * q, const float * k, const float * v, int64_t vstride, int32_t len, int32_t hd, float scale,
            float * out, float * sc) {
    float mx = -INFINITY;
    for (int32_t p = 0; p < len; p++) {
        float s = 0;
        for (int32_t d = 0; d < hd; d++) s += q[d] * k[k_tile_index(p, d, hd)];
        sc[p] = s * scale;
        mx = std::max(mx, sc[p]);
    }
    float sum = 0;
    for (int32_t p = 0; p < len; p++) sum += (sc[p] = std::exp(sc[p] - mx));
    std::fill_n(out, hd, 0.0f);
    for (int32_t p = 0; p < len; p++) axpy_f32(sc[p], v + p * vstride, out, hd);
    const float inv = 1.0f / sum;
    for (int32_t i = 0; i < hd; i++) out[i] *= inv;
}

void attend_block(const float * Q, int64_t ldq, int32_t nq, int32_t pos0, const float * k, const float * v,
                  int64_t vstride, int32_t hd, float scale, float * O, int64_t ldo, float * scratch) {
    for (int32_t i = 0; i < nq; i++) attend(Q + i * ldq, k, v, vstride, pos0 + i + 1, hd, scale, O + i * ldo, scratch);
}

}  // namespace

const Kernels & kernels_generic() {
    static const Kernels k = {"generic", 1, nullptr, nullptr, gemm, quantize_q8x, dot_f32, axpy_f32, silu_mul, attend,
                              attend_block};
    return k;
}

void dequantize_row(TensorType t, const void * src, float * dst, int64_t n) {
    switch (t) {
    case TensorType::F32: std::memcpy(dst, src, n * sizeof(float)); return;
    case TensorType::F16: for (int64_t i = 0; i < n; i++) dst[i] = fp16_to_fp32(((const uint16_t *)src)[i]); return;
    case TensorType::BF16: for (int64_t i = 0; i < n; i++) dst[i] = bf16_to_fp32(((const uint16_t *)src)[i]); return;
    case TensorType::Q8_0: {
        const BlockQ8_0 * b = (const BlockQ8_0 *)src;
        for (int64_t i = 0; i < n / QK; i++) {
            float d = fp16_to_fp32(b[i].d);
            for (int k = 0; k < QK; k++) dst[i * QK + k] = b[i].qs[k] * d;
        }
        return;
    }
    case TensorType::Q4_0: {
        const BlockQ4_0 * b = (const BlockQ4_0 *)src;
        for (int64_t i = 0; i < n / QK; i++) {
            float d = fp16_to_fp32(b[i].d);
            for (int k = 0; k < QK / 2; k++) {
                dst[i * QK + k] = ((b[i].qs[k] & 0x0f) - 8) * d;
                dst[i * QK + k + QK / 2] = ((b[i].qs[k] >> 4) - 8) * d;
            }
        }
        return;
    }
    }
}

void quantize_row(TensorType t, const float * src, void * dst, int64_t n) {
    switch (t) {
    case TensorType::F32: std::memcpy(dst, src, n * sizeof(float)); return;
    case TensorType::F16: for (int64_t i = 0; i < n; i++) ((uint16_t *)dst)[i] = fp32_to_fp16(src[i]); return;
    case TensorType::BF16: for (int64_t i = 0; i < n; i++) ((uint16_t *)dst)[i] = fp32_to_bf16(src[i]); return;
    case TensorType::Q8_0: {  // ggml quantize_row_q8_0_ref
        BlockQ8_0 * b = (BlockQ8_0 *)dst;
        for (int64_t i = 0; i < n / QK; i++) {
            float amax = 0;
            for (int k = 0; k < QK; k++) amax = std::fmax(amax, std::fabs(src[i * QK + k]));
            float d = amax / 127.0f, id = d ? 1.0f / d : 0.0f;
            b[i].d = fp32_to_fp16(d);
            for (int k = 0; k < QK; k++) b[i].qs[k] = (int8_t)std::roundf(src[i * QK + k] * id);
        }
        return;
    }
    case TensorType::Q4_0: {  // ggml quantize_row_q4_0_ref
        BlockQ4_0 * b = (BlockQ4_0 *)dst;
        for (int64_t i = 0; i < n / QK; i++) {
            float amax = 0, max = 0;
            for (int k = 0; k < QK; k++) {
                float v = src[i * QK + k];
                if (std::fabs(v) > amax) { amax = std::fabs(v); max = v; }
            }
            float d = max / -8.0f, id = d ? 1.0f / d : 0.0f;
            b[i].d = fp32_to_fp16(d);
            for (int k = 0; k < QK / 2; k++) {
                float x0 = src[i * QK + k] * id, x1 = src[i * QK + k + QK / 2] * id;
                uint8_t q0 = (uint8_t)std::min(15, (int)(int8_t)(x0 + 8.5f));
                uint8_t q1 = (uint8_t)std::min(15, (int)(int8_t)(x1 + 8.5f));
                b[i].qs[k] = (uint8_t)(q0 | q1 << 4);
            }
        }
        return;
    }
    }
}

}  // namespace mlxb
