// Every kernel table this CPU can run, against a double-precision product of the same (dequantized) operands, at
// awkward sizes: odd row and token counts, row ranges that start mid-tile, k not a multiple of the vector width.
#include <cmath>

#include "kernels/kernels.h"
#include "sampling.h"
#include "test_util.h"

using namespace mlxb_test;

namespace {

std::vector<float> randoms(size_t n, uint32_t seed, float scale = 1.0f) {
    std::vector<float> v(n);
    uint32_t s = seed * 2654435761u + 1;
    for (float & x : v) {
        s = s * 1664525u + 1013904223u;
        x = scale * ((float)(s >> 8) / (float)(1u << 24) * 2.0f - 1.0f);
    }
    return v;
}

// Keys given as rows (position p at kc[p * stride]) in the cache's tiled layout.
std::vector<float> tiled_keys(const std::vector<float> & kc, int64_t stride, int32_t len, int32_t hd) {
    std::vector<float> kt((size_t)(len + mlxb::k_kv_tile - 1) / mlxb::k_kv_tile * mlxb::k_kv_tile * hd, 0.0f);
    for (int32_t p = 0; p < len; p++)
        for (int32_t d = 0; d < hd; d++) kt[mlxb::k_tile_index(p, d, hd)] = kc[p * stride + d];
    return kt;
}

struct Quantized {
    std::vector<uint8_t> bytes;
    std::vector<float> deq;  // what the weights are after quantization
};

Quantized make_weights(mlxb::TensorType t, int64_t rows, int64_t cols, uint32_t seed) {
    std::vector<float> w = randoms((size_t)(rows * cols), seed);
    Quantized q;
    const int64_t rb = mlxb::row_bytes(t, cols);
    q.bytes.resize((size_t)(rows * rb));
    q.deq.resize(w.size());
    for (int64_t r = 0; r < rows; r++) {
        mlxb::quantize_row(t, &w[r * cols], &q.bytes[r * rb], cols);
        mlxb::dequantize_row(t, &q.bytes[r * rb], &q.deq[r * cols], cols);
    }
    return q;
}

// Worst |got - exact| / (sum_k |w_k x_k| + tiny) over the output: scale-free, so one bound fits all sizes.
constexpr double MAX_FLOAT_REL = 1e-5;  // float32 accumulation of <= 1024 terms: ~1e-6 typical
constexpr double MAX_Q8_REL = 2e-2;     // activations rounded to 8 bits per block (relative to |w||x| mass)

class KernelTables : public ::testing::TestWithParam<int> {
protected:
    const mlxb::Kernels * k() {
        auto all = mlxb::kernels_available();
        if ((size_t)GetParam() >= all.size()) return nullptr;
        return all[GetParam()];
    }
};

}  // namespace

TEST_P(KernelTables, GemmMatchesDoublePrecisionForEveryType) {
    const mlxb::Kernels * K = k();
    if (!K) GTEST_SKIP() << "this CPU has no kernel table #" << GetParam();
    using T = mlxb::TensorType;
    const int64_t P = K->panel_rows;
    for (T type : {T::F32, T::F16, T::BF16, T::Q8_0, T::Q4_0}) {
        const bool quant = type == T::Q8_0 || type == T::Q4_0;
        for (int64_t rows : {19, 133}) {
            for (int64_t cols : {32, 96, 288, 1024}) {
                Quantized W = make_weights(type, rows, cols, (uint32_t)(cols + rows));
                AlignedBytes packed = pack_for(*K, type, W.bytes.data(), rows, cols);
                for (int64_t n_tok : {1, 2, 3, 5, 8, 13, 50}) {
                    std::vector<float> X = randoms((size_t)(n_tok * cols), 99 + (uint32_t)n_tok);
                    std::vector<mlxb::BlockQ8x> XQ((size_t)(n_tok * cols / 32));
                    for (int64_t t = 0; t < n_tok; t++) K->quantize_q8x(&X[t * cols], &XQ[t * cols / 32], cols);
                    // Row ranges start at a panel boundary (the contract); odd ends and partial panels included.
                    const std::pair<int64_t, int64_t> ranges[3] = {
                        {0, rows}, P > 1 ? std::pair<int64_t, int64_t>{P, rows} : std::pair<int64_t, int64_t>{5, 16},
                        P > 1 ? std::pair<int64_t, int64_t>{0, P} : std::pair<int64_t, int64_t>{7, 8}};
                    for (auto range : ranges) {
                        std::vector<float> Y((size_t)(n_tok * rows), NAN);
                        K->gemm(type, packed.p ? (const void *)packed.p : W.bytes.data(), X.data(), XQ.data(), Y.data(), rows,
                                cols, n_tok, range.first, range.second, rows);
                        double worst = 0;
                        for (int64_t t = 0; t < n_tok; t++)
                            for (int64_t r = 0; r < rows; r++) {
                                const float y = Y[t * rows + r];
                                if (r < range.first || r >= range.second) {
                                    ASSERT_TRUE(std::isnan(y)) << "wrote outside its row range";
                                    continue;
                                }
                                double exact = 0, mass = 1e-30;
                                for (int64_t c = 0; c < cols; c++) {
                                    exact += (double)W.deq[r * cols + c] * X[t * cols + c];
                                    mass += std::fabs((double)W.deq[r * cols + c] * X[t * cols + c]);
                                }
                                worst = std::max(worst, std::fabs(y - exact) / mass);
                            }
                        EXPECT_LT(worst, quant ? MAX_Q8_REL : MAX_FLOAT_REL)
                            << K->name << " " << mlxb::tensor_type_name(type) << " rows=" << rows << " cols=" << cols
                            << " n_tok=" << n_tok << " rows [" << range.first << "," << range.second << ")";
                    }
                }
            }
        }
    }
}

TEST_P(KernelTables, ActivationQuantizationIsBitIdenticalToGeneric) {
    const mlxb::Kernels * K = k();
    if (!K) GTEST_SKIP() << "this CPU has no kernel table #" << GetParam();
    std::vector<float> x = randoms(1024, 5, 3.0f);
    x[40] = 0.5f * (x[41] = 127.0f);  // exact ties of the rounding
    std::fill(x.begin() + 64, x.begin() + 96, 0.0f);  // an all-zero block
    std::vector<mlxb::BlockQ8x> a(32), b(32);
    mlxb::kernels_generic().quantize_q8x(x.data(), a.data(), 1024);
    K->quantize_q8x(x.data(), b.data(), 1024);
    for (int i = 0; i < 32; i++) {
        EXPECT_EQ(a[i].d, b[i].d) << "block " << i;
        for (int j = 0; j < 32; j++) EXPECT_EQ(a[i].qs[j], b[i].qs[j]) << "block " << i << " element " << j;
    }
}

TEST_P(KernelTables, DotAndAxpyAtAwkwardLengths) {
    const mlxb::Kernels * K = k();
    if (!K) GTEST_SKIP() << "this CPU has no kernel table #" << GetParam();
    for (int64_t n : {1, 2, 3, 5, 7, 8, 15, 16, 17, 31, 48, 63, 64, 65, 127, 128, 129}) {
        std::vector<float> a = randoms(n, 1), b = randoms(n, 2);
        double exact = 0, mass = 1e-30;
        for (int64_t i = 0; i < n; i++) exact += (double)a[i] * b[i], mass += std::fabs((double)a[i] * b[i]);
        EXPECT_LT(std::fabs(K->dot_f32(a.data(), b.data(), n) - exact) / mass, MAX_FLOAT_REL) << K->name << " n=" << n;
        std::vector<float> y = b;
        K->axpy_f32(0.75f, a.data(), y.data(), n);
        for (int64_t i = 0; i < n; i++) EXPECT_NEAR(y[i], b[i] + 0.75 * a[i], 1e-6) << K->name << " n=" << n;
    }
}

TEST_P(KernelTables, SiluMulAndAttentionMatchDoublePrecision) {
    const mlxb::Kernels * K = k();
    for (int64_t n : {1, 7, 16, 33, 200}) {
        std::vector<float> g = randoms(n, 3, 12.0f), u = randoms(n, 4), g0 = g;
        K->silu_mul(g.data(), u.data(), n);
        for (int64_t i = 0; i < n; i++) {
            const double e = g0[i] / (1 + std::exp(-(double)g0[i])) * u[i];
            EXPECT_NEAR(g[i], e, 1e-6 * (1 + std::fabs(e))) << K->name << " n=" << n << " x=" << g0[i];
        }
    }
    for (int32_t hd : {8, 48, 64, 100, 128}) {
        for (int32_t len : {1, 3, 4, 17, 300}) {
            const int64_t stride = hd * 2 + 5;  // the head's slice of a wider cache row
            std::vector<float> q = randoms(hd, 7, 2.0f), kc = randoms(len * stride, 8, 2.0f), vc = randoms(len * stride, 9);
            std::vector<float> kt = tiled_keys(kc, stride, len, hd), out(hd), sc(mlxb::attn_scratch_floats(len, hd));
            const float scale = 1.0f / std::sqrt((float)hd);
            K->attend(q.data(), kt.data(), vc.data(), stride, len, hd, scale, out.data(), sc.data());
            std::vector<double> s(len);
            double mx = -INFINITY, sum = 0;
            for (int32_t p = 0; p < len; p++) {
                double d = 0;
                for (int32_t i = 0; i < hd; i++) d += (double)q[i] * kc[p * stride + i];
                s[p] = d * scale;
                mx = std::max(mx, s[p]);
            }
            for (double & e : s) sum += (e = std::exp(e - mx));
            for (int32_t i = 0; i < hd; i++) {
                double e = 0;
                for (int32_t p = 0; p < len; p++) e += s[p] / sum * vc[p * stride + i];
                EXPECT_NEAR(out[i], e, 1e-5) << K->name << " hd=" << hd << " len=" << len << " i=" << i;
            }
        }
    }
}

TEST_P(KernelTables, BlockAttentionIsCausalAndMatchesDoublePrecision) {
    const mlxb::Kernels * K = k();
    for (int32_t hd : {8, 48, 64, 100}) {
        for (auto [pos0, nq] : {std::pair<int32_t, int32_t>{0, 1}, {0, 32}, {5, 7}, {40, 32}, {100, 13}}) {
            const int32_t len = pos0 + nq;
            const int64_t stride = hd * 3, ldq = hd * 2 + 1, ldo = hd + 3;
            std::vector<float> q = randoms(nq * ldq, 11, 2.0f), kc = randoms(len * stride, 12, 2.0f), vc = randoms(len * stride, 13);
            std::vector<float> out(nq * ldo, 12345.0f), sc(mlxb::attn_scratch_floats(len, hd));
            std::vector<float> kt = tiled_keys(kc, stride, len, hd);
            const float scale = 1.0f / std::sqrt((float)hd);
            K->attend_block(q.data(), ldq, nq, pos0, kt.data(), vc.data(), stride, hd, scale, out.data(), ldo, sc.data());
            for (int32_t i = 0; i < nq; i++) {
                const int32_t visible = pos0 + i + 1;  // keys 0..pos0+i only
                std::vector<double> s(visible);
                double mx = -INFINITY, sum = 0;
                for (int32_t p = 0; p < visible; p++) {
                    double d = 0;
                    for (int32_t j = 0; j < hd; j++) d += (double)q[i * ldq + j] * kc[p * stride + j];
                    mx = std::max(mx, s[p] = d * scale);
                }
                for (double & e : s) sum += (e = std::exp(e - mx));
                for (int32_t j = 0; j < hd; j++) {
                    double e = 0;
                    for (int32_t p = 0; p < visible; p++) e += s[p] / sum * vc[p * stride + j];
                    ASSERT_NEAR(out[i * ldo + j], e, 1e-5) << K->name << " hd=" << hd << " pos0=" << pos0 << " query " << i;
                }
                for (int64_t j = hd; j < ldo; j++) ASSERT_EQ(out[i * ldo + j], 12345.0f) << "wrote past the head";
            }
        }
    }
}

// Index into kernels_available(): 0 generic, then the ISA tables the CPU supports (avx2, avx512).
std::string table_name(const ::testing::TestParamInfo<int> & i) { return mlxb::kernels_available()[i.param]->name; }
std::vector<int> table_indices() {
    std::vector<int> v;
    for (size_t i = 0; i < mlxb::kernels_available().size(); i++) v.push_back((int)i);
    return v;
}
INSTANTIATE_TEST_SUITE_P(Cpu, KernelTables, ::testing::ValuesIn(table_indices()), table_name);

TEST(Kernels, QuantizersFollowGgmlReference) {
    // Q4_0: d = max / -8 where max is the signed value of largest magnitude; q = min(15, (int8)(x/d + 8.5)).
    float x[32];
    for (int i = 0; i < 32; i++) x[i] = (float)(i - 10) / 4.0f;  // max |x| = 21/4 at i = 31 (positive)
    mlxb::BlockQ4_0 b4;
    mlxb::quantize_row(mlxb::TensorType::Q4_0, x, &b4, 32);
    EXPECT_EQ(mlxb::fp16_to_fp32(b4.d), mlxb::fp16_to_fp32(mlxb::fp32_to_fp16(5.25f / -8.0f)));
    EXPECT_EQ(b4.qs[15] >> 4, 0);    // element 31 = max -> (max/d + 8.5) = 0.5 -> 0
    EXPECT_EQ(b4.qs[10] & 15, 8);    // element 10 = 0 -> 8
    float back[32];
    mlxb::dequantize_row(mlxb::TensorType::Q4_0, &b4, back, 32);
    EXPECT_FLOAT_EQ(back[31], -8 * mlxb::fp16_to_fp32(b4.d));
    // Q8_0: d = amax / 127, q = round(x / d).
    mlxb::BlockQ8_0 b8;
    mlxb::quantize_row(mlxb::TensorType::Q8_0, x, &b8, 32);
    EXPECT_EQ(b8.qs[31], 127);
    EXPECT_EQ(b8.qs[10], 0);
    EXPECT_EQ(b8.qs[0], (int8_t)std::round(-2.5f / (5.25f / 127.0f)));
    // Half precision conversions: exact round trip of every finite half.
    for (uint32_t h = 0; h < 0x10000; h++) {
        if ((h & 0x7c00) == 0x7c00) continue;
        ASSERT_EQ(mlxb::fp32_to_fp16(mlxb::fp16_to_fp32((uint16_t)h)), (uint16_t)h) << h;
    }
}

// The float log-softmax of sampling.cpp against std::exp/std::log in double: the bound derived in its comment
// (< 1e-6 on log_sum) with a little room, on rows of awkward lengths, wide and narrow logit ranges, -inf entries.
TEST(LogSoftmax, MatchesDoublePrecisionReference) {
    for (int32_t n : {1, 2, 7, 63, 64, 65, 512, 32000, 151936}) {
        for (float spread : {0.01f, 1.0f, 8.0f, 40.0f}) {
            std::vector<float> l = randoms((size_t)n, 7 + (uint32_t)n, spread);
            if (n > 3) l[(size_t)n / 3] = -INFINITY;
            double mx = -INFINITY;
            for (float x : l) mx = std::max(mx, (double)x);
            double sum = 0;
            for (float x : l) sum += std::exp((double)x - mx);
            const mlxb::LogSoftmax ls(l.data(), n);
            for (int32_t i : {0, n / 2, n - 1}) {
                const double want = ((double)l[(size_t)i] - mx) - std::log(sum);
                if (std::isinf(want)) {
                    EXPECT_EQ(ls(l[(size_t)i]), -INFINITY);
                    continue;
                }
                EXPECT_NEAR(ls(l[(size_t)i]), want, 2e-6 + 1e-7 * std::fabs(want)) << "n=" << n << " spread=" << spread << " i=" << i;
            }
        }
    }
}
