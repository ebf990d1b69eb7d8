// MLX affine quantization: the scalar pieces (unpack, dequantize, quantize) and the portable product.
#include "mlx_affine.h"

#include <cmath>
#include <string>
#include <vector>

#include "../common.h"

namespace mlxb {

bool mlx_quant_supported(int32_t bits, int32_t group) {
    return (bits == 2 || bits == 4 || bits == 8) && (group == 32 || group == 64 || group == 128);
}

float mlx_scale_value(const MlxQuant & q, const uint16_t * p, int64_t i) {
    return q.bf16 ? bf16_to_fp32(p[i]) : fp16_to_fp32(p[i]);
}

void mlx_dequantize_row(const MlxQuant & q, int64_t cols, int64_t r, float * dst) {
    const int64_t words = cols * q.bits / 32, groups = cols / q.group;
    const uint32_t * row = q.q + r * words;
    for (int64_t g = 0; g < groups; g++) {
        const float s = mlx_scale_value(q, q.scales, r * groups + g), b = mlx_scale_value(q, q.biases, r * groups + g);
        for (int64_t k = g * q.group; k < (g + 1) * q.group; k++) {
            const float sq = s * (float)mlx_unpack(row, q.bits, k);  // two roundings, as MLX: multiply, then add
            dst[k] = sq + b;
        }
    }
}

void mlx_quantize_row(const float * w, int64_t cols, int32_t bits, int32_t group, bool bf16, uint32_t * q_out,
                      uint16_t * s_out, uint16_t * b_out) {
    const float n_bins = (float)((1 << bits) - 1);
    const int64_t per = 32 / bits;
    for (int64_t i = 0; i < cols / per; i++) q_out[i] = 0;
    for (int64_t g = 0; g < cols / group; g++) {
        const float * x = w + g * group;
        float mx = x[0], mn = x[0];
        for (int32_t k = 1; k < group; k++) mx = std::max(mx, x[k]), mn = std::min(mn, x[k]);
        float scale = std::max((mx - mn) / n_bins, 1e-7f);
        const bool side = std::fabs(mn) > std::fabs(mx);
        scale = side ? scale : -scale;
        const float edge = side ? mn : mx;
        const float q0 = std::nearbyint(edge / scale);  // MLX rounds half to even
        float bias = 0.0f;
        if (q0 != 0.0f) scale = edge / q0, bias = edge;
        for (int32_t k = 0; k < group; k++) {
            float qv = std::nearbyint((x[k] - bias) / scale);
            qv = std::min(std::max(qv, 0.0f), n_bins);
            const int64_t e = g * group + k;
            q_out[e / per] |= (uint32_t)qv << ((e % per) * bits);
        }
        s_out[g] = bf16 ? fp32_to_bf16(scale) : fp32_to_fp16(scale);
        b_out[g] = bf16 ? fp32_to_bf16(bias) : fp32_to_fp16(bias);
    }
}

void mlx_quantize_activations(const float * x, int64_t cols, int32_t group, int32_t bits, int32_t lanes, int16_t * xq,
                              float * d, float * sx) {
    const int64_t groups = cols / group, per = 32 / bits, half = per / 2, chunk = (int64_t)lanes * per;
    thread_local std::vector<float> inv;
    inv.resize((size_t)groups);
    for (int64_t g = 0; g < groups; g++) {
        float amax = 0, s = 0;
        for (int64_t k = g * group; k < (g + 1) * group; k++) amax = std::max(amax, std::fabs(x[k])), s += x[k];
        d[g] = amax / 32767.0f;
        inv[g] = amax > 0 ? 32767.0f / amax : 0.0f;
        sx[g] = s;
    }
    for (int64_t c0 = 0; c0 < cols; c0 += chunk)
        for (int64_t k = 0; k < half; k++)
            for (int64_t w = 0; w < lanes; w++)
                for (int64_t h = 0; h < 2; h++) {
                    const int64_t e = c0 + w * per + k + h * half;
                    const float v = std::nearbyint(x[e] * inv[e / group]);
                    xq[c0 + k * 2 * lanes + 2 * w + h] = (int16_t)std::min(std::max(v, -32767.0f), 32767.0f);
                }
}

// Per (row, token): for each group in order, dot (sequential) and the group's sum of x, then
// acc += s * dot + b * sx. The sums of x per group are computed once per call and token, in the same order.
void mlx_gemm_generic(const MlxQuant & q, int64_t cols, const float * X, float * Y, int64_t n_tok, int64_t r0,
                      int64_t r1, int64_t ldy) {
    const int64_t words = cols * q.bits / 32, groups = cols / q.group;
    thread_local std::vector<float> sx;
    sx.resize((size_t)(n_tok * groups));
    for (int64_t t = 0; t < n_tok; t++)
        for (int64_t g = 0; g < groups; g++) {
            float s = 0;
            for (int64_t k = g * q.group; k < (g + 1) * q.group; k++) s += X[t * cols + k];
            sx[t * groups + g] = s;
        }
    for (int64_t r = r0; r < r1; r++) {
        const uint32_t * row = q.q + r * words;
        for (int64_t t = 0; t < n_tok; t++) {
            const float * x = X + t * cols;
            float acc = 0;
            for (int64_t g = 0; g < groups; g++) {
                float dot = 0;
                for (int64_t k = g * q.group; k < (g + 1) * q.group; k++) dot += (float)mlx_unpack(row, q.bits, k) * x[k];
                const float s = mlx_scale_value(q, q.scales, r * groups + g), b = mlx_scale_value(q, q.biases, r * groups + g);
                const float sd = s * dot, bs = b * sx[t * groups + g];
                acc += sd + bs;
            }
            Y[t * ldy + r] = acc;
        }
    }
}

const MlxProduct & mlx_product_for(const Kernels & K) {
#if defined(MLXB_HAVE_AVX512)
    static const MlxProduct avx512{16, mlx_packed_bytes_avx512, mlx_pack_avx512, mlx_gemm_avx512};
    if (std::string(K.name) == "avx512") return avx512;
#endif
#if defined(MLXB_HAVE_AVX2)
    static const MlxProduct avx2{1, nullptr, nullptr, mlx_gemm_avx2};
    if (std::string(K.name) != "generic") return avx2;
#endif
    static const MlxProduct generic{1, nullptr, nullptr, mlx_gemm_generic};
    return generic;
}

}  // namespace mlxb
