// MLX affine quantization: the scalar pieces (unpack, dequantize, quantize) and the portable product.
#include "mlx_affine.h"

#include <algorithm>
#include <cmath>
#include <cstring>
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

size_t mlx_panels16_bytes(const MlxQuant & q, int64_t rows, int64_t cols) {
    const int64_t P = k_mlx_panel_rows;
    return (size_t)((rows + P - 1) / P * (cols / q.group) * mlx_panel_group_bytes(q.bits, q.group));
}

void mlx_pack_panels16(const MlxQuant & q, int64_t rows, int64_t cols, int64_t p0, int64_t p1, void * dst) {
    const int64_t P = k_mlx_panel_rows, words = cols * q.bits / 32, groups = cols / q.group, nb = q.group / 32;
    const int64_t gb = mlx_panel_group_bytes(q.bits, q.group), pb = groups * gb;
    for (int64_t p = p0; p < p1; p++) {
        uint8_t * out = (uint8_t *)dst + p * pb;
        std::memset(out, 0, (size_t)pb);
        for (int64_t i = 0; i < std::min<int64_t>(P, rows - p * P); i++) {
            const int64_t r = p * P + i;
            const uint32_t * row = q.q + r * words;
            for (int64_t g = 0; g < groups; g++) {
                uint8_t * base = out + g * gb;
                uint16_t * sb = (uint16_t *)(base + nb * 64 * q.bits);
                sb[i] = q.scales[r * groups + g];
                sb[P + i] = q.biases[r * groups + g];
                for (int64_t k = 0; k < q.group; k++) {
                    const int64_t b = k / 32, c4 = k % 32 / 4, e = k % 4, h = c4 % q.bits, j = c4 / q.bits;
                    base[b * 64 * q.bits + h * 64 + 4 * i + e] |= (uint8_t)(mlx_unpack(row, q.bits, g * q.group + k) << (j * q.bits));
                }
            }
        }
    }
}

const MlxProduct & mlx_product_for(const Kernels & K) {
#if defined(MLXB_HAVE_AVX512)
    static const MlxProduct avx512{k_mlx_panel_rows, mlx_panels16_bytes, mlx_pack_panels16, mlx_gemm_avx512};
    if (std::string(K.name) == "avx512") return avx512;
#endif
#if defined(MLXB_HAVE_AVX2)
    static const MlxProduct avx2{k_mlx_panel_rows, mlx_panels16_bytes, mlx_pack_panels16, mlx_gemm_avx2};
    if (std::string(K.name) != "generic") return avx2;
#endif
    static const MlxProduct generic{1, nullptr, nullptr, mlx_gemm_generic};
    return generic;
}

}  // namespace mlxb
