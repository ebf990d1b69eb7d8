// Log-probabilities of the engine against an independent, deliberately naive reference: a scalar forward pass in
// double precision written from the architecture description (llama2.c run.c / llama.cpp semantics), with its own
// dequantization. Only the GGUF container parser is shared with the engine; the greedy oracle test covers that.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>

#include "gguf.h"
#include "test_util.h"

using namespace mlxb_test;

namespace {

double half_to_double(uint16_t h) {  // written from the IEEE 754 definition, independent of the engine's
    const int sign = h >> 15, exp = (h >> 10) & 31, mant = h & 1023;
    double v = exp == 0 ? std::ldexp(mant, -24) : exp == 31 ? (mant ? NAN : INFINITY) : std::ldexp(1024 + mant, exp - 25);
    return sign ? -v : v;
}

// All of a tensor's elements as doubles, whatever its type.
std::vector<double> dequant(const mlxb::GgufTensor & t) {
    std::vector<double> out((size_t)t.n_elements);
    const uint8_t * p = t.data;
    auto u16 = [](const uint8_t * q) { return (uint16_t)(q[0] | q[1] << 8); };
    for (int64_t i = 0; i < t.n_elements; i++) {
        switch ((int)t.type) {
        case 0: { float f; std::memcpy(&f, p + 4 * i, 4); out[i] = f; break; }
        case 1: out[i] = half_to_double(u16(p + 2 * i)); break;
        case 30: { uint32_t b = (uint32_t)u16(p + 2 * i) << 16; float f; std::memcpy(&f, &b, 4); out[i] = f; break; }
        case 8: {  // Q8_0: 34-byte blocks, fp16 scale then 32 int8
            const uint8_t * b = p + (i / 32) * 34;
            out[i] = half_to_double(u16(b)) * (int8_t)b[2 + i % 32];
            break;
        }
        case 2: {  // Q4_0: 18-byte blocks, fp16 scale then 16 bytes; byte j holds element j (low) and j+16 (high)
            const uint8_t * b = p + (i / 32) * 18;
            const int j = i % 32;
            const int q = j < 16 ? (b[2 + j] & 15) : (b[2 + j - 16] >> 4);
            out[i] = half_to_double(u16(b)) * (q - 8);
            break;
        }
        default: ADD_FAILURE() << "reference cannot read type " << (int)t.type;
        }
    }
    return out;
}

class Reference {
public:
    // emulate_q8_act: round the input of every Q8_0/Q4_0 matmul to 8 bits per block of 32 (d = amax/127,
    // q = round(x/d)), as the engine and llama.cpp do; what is left is float-vs-double rounding.
    Reference(const std::string & path, bool emulate_q8_act) : f_(path), emulate_(emulate_q8_act) {
        arch_ = f_.get_str("general.architecture");
        const std::string a = arch_ + ".";
        E_ = f_.get_int(a + "embedding_length", 0);
        L_ = f_.get_int(a + "block_count", 0);
        H_ = f_.get_int(a + "attention.head_count", 0);
        HKV_ = f_.get_int(a + "attention.head_count_kv", H_);
        F_ = f_.get_int(a + "feed_forward_length", 0);
        HD_ = f_.get_int(a + "attention.key_length", E_ / H_);
        ROT_ = f_.get_int(a + "rope.dimension_count", HD_);
        base_ = f_.get_float(a + "rope.freq_base", 10000.0);
        eps_ = f_.get_float(a + "attention.layer_norm_rms_epsilon", 1e-5);
        V_ = f_.tensor("token_embd.weight")->ne[1];
    }
    int64_t n_vocab() const { return V_; }

    // Log-softmax rows for every position of tokens, one sequence.
    std::vector<std::vector<double>> logprobs(const std::vector<mlxb_token> & toks) {
        const int64_t T = (int64_t)toks.size(), KV = HKV_ * HD_;
        std::vector<std::vector<double>> kc(L_), vc(L_);
        std::vector<std::vector<double>> out;
        const auto & emb = w("token_embd.weight");
        for (int64_t pos = 0; pos < T; pos++) {
            std::vector<double> x(emb.begin() + toks[pos] * E_, emb.begin() + (toks[pos] + 1) * E_);
            for (int64_t l = 0; l < L_; l++) {
                const std::string p = "blk." + std::to_string(l) + ".";
                std::vector<double> xn = rmsnorm(x, w(p + "attn_norm.weight"));
                std::vector<double> q = matvec(p + "attn_q", xn), k = matvec(p + "attn_k", xn), v = matvec(p + "attn_v", xn);
                if (f_.tensor(p + "attn_q_norm.weight")) {  // Qwen3: RMSNorm of every head of q and k
                    head_norm(q, w(p + "attn_q_norm.weight"));
                    head_norm(k, w(p + "attn_k_norm.weight"));
                }
                rope(q, pos);
                rope(k, pos);
                kc[l].insert(kc[l].end(), k.begin(), k.end());
                vc[l].insert(vc[l].end(), v.begin(), v.end());
                std::vector<double> att(H_ * HD_, 0.0);
                for (int64_t h = 0; h < H_; h++) {
                    const int64_t kvh = h / (H_ / HKV_);
                    std::vector<double> s(pos + 1);
                    double mx = -INFINITY;
                    for (int64_t t = 0; t <= pos; t++) {
                        double d = 0;
                        for (int64_t i = 0; i < HD_; i++) d += q[h * HD_ + i] * kc[l][t * KV + kvh * HD_ + i];
                        s[t] = d / std::sqrt((double)HD_);
                        mx = std::max(mx, s[t]);
                    }
                    double sum = 0;
                    for (double & e : s) sum += (e = std::exp(e - mx));
                    for (int64_t t = 0; t <= pos; t++)
                        for (int64_t i = 0; i < HD_; i++) att[h * HD_ + i] += s[t] / sum * vc[l][t * KV + kvh * HD_ + i];
                }
                std::vector<double> o = matvec(p + "attn_output", att);
                for (int64_t i = 0; i < E_; i++) x[i] += o[i];
                xn = rmsnorm(x, w(p + "ffn_norm.weight"));
                std::vector<double> g = matvec(p + "ffn_gate", xn), u = matvec(p + "ffn_up", xn);
                for (int64_t i = 0; i < F_; i++) g[i] = g[i] / (1 + std::exp(-g[i])) * u[i];
                std::vector<double> d = matvec(p + "ffn_down", g);
                for (int64_t i = 0; i < E_; i++) x[i] += d[i];
            }
            std::vector<double> xn = rmsnorm(x, w("output_norm.weight"));
            std::vector<double> logits = matvec(f_.tensor("output.weight") ? "output" : "token_embd", xn);
            double mx = -INFINITY, sum = 0;
            for (double v : logits) mx = std::max(mx, v);
            for (double v : logits) sum += std::exp(v - mx);
            for (double & v : logits) v = v - mx - std::log(sum);
            out.push_back(std::move(logits));
        }
        return out;
    }

private:
    const std::vector<double> & w(const std::string & name) {
        auto it = cache_.find(name);
        if (it != cache_.end()) return it->second;
        const mlxb::GgufTensor * t = f_.tensor(name);
        if (!t) throw std::runtime_error("reference: missing " + name);
        return cache_[name] = dequant(*t);
    }
    // y = W x (+ b), W stored as ne = [cols, rows]: row r is elements [r*cols, (r+1)*cols).
    std::vector<double> matvec(const std::string & base, const std::vector<double> & xin) {
        const std::vector<double> & W = w(base + ".weight");
        const int type = (int)f_.tensor(base + ".weight")->type;
        std::vector<double> x = xin;
        if (emulate_ && (type == 8 || type == 2))
            for (size_t b = 0; b < x.size(); b += 32) {
                double amax = 0;
                for (size_t i = b; i < b + 32; i++) amax = std::max(amax, std::fabs(x[i]));
                const double d = (float)amax / 127.0f;
                for (size_t i = b; i < b + 32; i++) x[i] = d == 0 ? 0 : std::nearbyint(x[i] / d) * d;
            }
        const int64_t cols = (int64_t)x.size(), rows = (int64_t)W.size() / cols;
        std::vector<double> y(rows, 0.0);
        for (int64_t r = 0; r < rows; r++)
            for (int64_t c = 0; c < cols; c++) y[r] += W[r * cols + c] * x[c];
        if (f_.tensor(base + ".bias")) {
            const std::vector<double> & b = w(base + ".bias");
            for (int64_t r = 0; r < rows; r++) y[r] += b[r];
        }
        return y;
    }
    std::vector<double> rmsnorm(const std::vector<double> & x, const std::vector<double> & g) const {
        double ss = 0;
        for (double v : x) ss += v * v;
        const double s = 1.0 / std::sqrt(ss / (double)x.size() + eps_);
        std::vector<double> y(x.size());
        for (size_t i = 0; i < x.size(); i++) y[i] = x[i] * s * g[i];
        return y;
    }
    void head_norm(std::vector<double> & v, const std::vector<double> & g) const {
        for (size_t h = 0; h < v.size() / HD_; h++) {
            std::vector<double> head(v.begin() + h * HD_, v.begin() + (h + 1) * HD_);
            head = rmsnorm(head, g);
            std::copy(head.begin(), head.end(), v.begin() + h * HD_);
        }
    }
    // Llama rotates adjacent pairs (2j, 2j+1); Qwen2 and Qwen3 (NeoX layout) rotate (j, j + n_rot/2).
    void rope(std::vector<double> & v, int64_t pos) const {
        const bool neox = arch_ == "qwen2" || arch_ == "qwen3";
        for (size_t h = 0; h < v.size() / HD_; h++)
            for (int64_t j = 0; j < ROT_ / 2; j++) {
                const double th = pos * std::pow(base_, -2.0 * j / ROT_);
                double & a = v[h * HD_ + (neox ? j : 2 * j)];
                double & b = v[h * HD_ + (neox ? j + ROT_ / 2 : 2 * j + 1)];
                const double a0 = a, b0 = b;
                a = a0 * std::cos(th) - b0 * std::sin(th);
                b = a0 * std::sin(th) + b0 * std::cos(th);
            }
    }

    mlxb::GgufFile f_;
    bool emulate_;
    std::string arch_;
    int64_t E_, L_, H_, HKV_, F_, HD_, ROT_, V_;
    double base_, eps_;
    std::map<std::string, std::vector<double>> cache_;
};

// Per position, the largest |engine - reference| over the vocabulary; the whole sequence in one batch.
std::vector<double> logprob_errors(const std::string & path, const std::vector<mlxb_token> & toks, bool emulate_q8_act = false) {
    Reference ref(path, emulate_q8_act);
    const auto expected = ref.logprobs(toks);
    Model m = load_model(path);
    if (!m) return {INFINITY};
    Context c = new_context(m.get(), 256);
    EXPECT_EQ(decode_seq(c.get(), toks, 0, true), MLXB_OK) << mlxb_last_error();
    const int32_t V = mlxb_model_n_vocab(m.get());
    std::vector<float> got(V);
    std::vector<double> errs;
    for (size_t i = 0; i < toks.size(); i++) {
        EXPECT_EQ(mlxb_get_logprobs(c.get(), (int32_t)i, got.data(), V), MLXB_OK);
        double w = 0;
        for (int32_t k = 0; k < V; k++) w = std::max(w, std::fabs((double)got[k] - expected[i][k]));
        errs.push_back(w);
    }
    return errs;
}

double max_of(const std::vector<double> & v) { return *std::max_element(v.begin(), v.end()); }

std::vector<mlxb_token> some_tokens(int n, int vocab) {
    std::vector<mlxb_token> t{1};
    for (int i = 1; i < n; i++) t.push_back(3 + (i * 37) % (vocab - 3));
    return t;
}

}  // namespace

// stories260K (F32, trained): float32 accumulation in the engine against double here. Logits reach ~20, dot
// products are <= 172 terms: float rounding gives ~1e-5; 1e-3 leaves room for other summation orders.
TEST(Reference, Stories260KLogprobsMatch) {
    MLXB_REQUIRE_SHARED(path, "models/stories260K.gguf");
    Model m = load_model(path, true);
    ASSERT_TRUE(m);
    std::vector<mlxb_token> toks = tokenize(m.get(), "Once upon a time, there was a little girl named Lily. She loved to play", MLXB_TOKENIZE_ADD_BOS);
    const double err = max_of(logprob_errors(path, toks));
    RecordProperty("max_abs_error", std::to_string(err));
    EXPECT_LT(err, 1e-3);
}

// Per tensor type, on a generated model (random weights, 2 layers, GQA). The reference dequantizes the weights
// exactly, so what remains is the engine's own arithmetic:
//  - F32, F16, BF16: weights are used exactly as stored (converted to float exactly); only float32 rounding of
//    sums of <= 96 terms remains, ~1e-6 relative on logits of magnitude ~3: MAX_FLOAT_ERROR = 1e-3.
//  - Q8_0, Q4_0 against exact math: the engine also rounds activations to 8 bits per block of 32 (as llama.cpp
//    does) before its int8 dot products, a relative error up to 1/254 per element that compounds over 7 matmuls
//    per layer. Measured 0.05 nats on the untied llama model, 0.3 on the tied qwen2 one and 0.39 on the tied qwen3
//    one (their logits are ~8x larger: the unscaled embedding doubles as classifier). MAX_Q8_ACT_ERROR = 0.5 nats only catches gross bugs,
//  - so the same models are also checked against the reference with that activation rounding emulated, where
//    the remaining error is float-vs-double rounding again: ~1e-6, MAX_EMULATED_ERROR = 5e-3. Except where an
//    activation sits within float rounding of a .5 boundary, so that float and double round it differently: one
//    int8 step of a classifier input moves that one position's logits by up to 0.06 (measured: position 21 of
//    the tied qwen2 model, every other position ~3e-6, and the error does not propagate). MAX_TIE_POSITIONS = 2
//    of 24 positions may exceed the tight bound; a real bug breaks all of them, by whole nats.
constexpr double MAX_FLOAT_ERROR = 1e-3;
constexpr double MAX_Q8_ACT_ERROR = 0.5;
constexpr double MAX_EMULATED_ERROR = 5e-3;
constexpr long MAX_TIE_POSITIONS = 2;

struct TypeCase {
    const char * name;
    mlxb::TensorType type;
    double tol;
    const char * arch;
    bool tied;
};

void PrintTo(const TypeCase & c, std::ostream * os) { *os << c.name; }

class ReferenceByType : public ::testing::TestWithParam<TypeCase> {};

TEST_P(ReferenceByType, GeneratedModelLogprobsMatch) {
    const TypeCase tc = GetParam();
    TempFile f;
    write_model(f.path, tiny_shape(tc.arch, tc.tied), tc.type);
    const double err = max_of(logprob_errors(f.path, some_tokens(24, 320)));
    RecordProperty("max_abs_error", std::to_string(err));
    std::printf("[ info     ] %s: max |logprob error| = %.3g (tolerance %.3g)\n", tc.name, err, tc.tol);
    EXPECT_LT(err, tc.tol);
    if (tc.tol == MAX_Q8_ACT_ERROR) {
        const std::vector<double> emu = logprob_errors(f.path, some_tokens(24, 320), true);
        const long off = std::count_if(emu.begin(), emu.end(), [](double e) { return e >= MAX_EMULATED_ERROR; });
        std::printf("[ info     ] %s: with 8-bit activations emulated: max %.3g, %ld of %zu positions >= %.3g\n", tc.name,
                    max_of(emu), off, emu.size(), MAX_EMULATED_ERROR);
        EXPECT_LE(off, MAX_TIE_POSITIONS);
    }
}

INSTANTIATE_TEST_SUITE_P(Types, ReferenceByType,
                         ::testing::Values(TypeCase{"F32", mlxb::TensorType::F32, MAX_FLOAT_ERROR, "llama", false},
                                           TypeCase{"F16", mlxb::TensorType::F16, MAX_FLOAT_ERROR, "llama", false},
                                           TypeCase{"BF16", mlxb::TensorType::BF16, MAX_FLOAT_ERROR, "llama", false},
                                           TypeCase{"Q8_0", mlxb::TensorType::Q8_0, MAX_Q8_ACT_ERROR, "llama", false},
                                           TypeCase{"Q4_0", mlxb::TensorType::Q4_0, MAX_Q8_ACT_ERROR, "llama", false},
                                           TypeCase{"F32_tied", mlxb::TensorType::F32, MAX_FLOAT_ERROR, "llama", true},
                                           TypeCase{"Qwen2_F32", mlxb::TensorType::F32, MAX_FLOAT_ERROR, "qwen2", false},
                                           TypeCase{"Qwen2_Q4_0", mlxb::TensorType::Q4_0, MAX_Q8_ACT_ERROR, "qwen2", true},
                                           TypeCase{"Qwen3_F32", mlxb::TensorType::F32, MAX_FLOAT_ERROR, "qwen3", false},
                                           TypeCase{"Qwen3_Q8_0", mlxb::TensorType::Q8_0, MAX_Q8_ACT_ERROR, "qwen3", true}),
                         [](const ::testing::TestParamInfo<TypeCase> & i) { return std::string(i.param.name); });
