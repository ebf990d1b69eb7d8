// Batch invariance: a token's logits are bit-identical whatever batch it was decoded in (kernels.h). The server
// relies on it: with prompt-prefix reuse it decodes a request's continuation in a different batch than a whole-prompt
// decode would, and lm-eval compares the log-probabilities it gets for equality. Checked for every kernel table this
// CPU runs, every tensor type, on 1, 2 and 3 threads, against one whole-prompt decode on one thread:
//   - one token per decode call (the one-token GEMV path and single-query attention),
//   - the prompt cut into uneven chunks (GEMMs of every tile size, attention blocks starting mid-tile),
//   - the prefix computed in another sequence and brought over with mlxb_seq_copy,
//   - tokens interleaved with other sequences' tokens, at every position in the batch (continuous batching).
// Plus, at kernel level, each gemm output against the same row computed alone, at any row range.
#include <cmath>
#include <cstring>

#include "test_util.h"

using namespace mlxb_test;

namespace {

using Logits = std::vector<std::vector<float>>;  // per prompt position

struct Param {
    std::string table;
    mlxb::TensorType type;
    std::string arch;
};

// vocab 333 (a partial last panel), width 96, GQA 3:1 with 32-wide heads, ff 160: every size is a multiple of 32 so
// every type applies, none of 64; qwen2 adds biases and the NeoX rotary layout.
mlxb::ModelShape shape(const std::string & arch) {
    mlxb::ModelShape s{"inv", arch, 333, 96, 2, 3, 1, 160, 256};
    return s;
}

class Invariance : public ::testing::TestWithParam<Param> {
protected:
    void SetUp() override {
        K_ = mlxb::kernels_find(GetParam().table.c_str());
        if (!K_) GTEST_SKIP() << "this CPU cannot run the " << GetParam().table << " kernels";
        mlxb::kernels_override(K_);
        write_model(file_.path, shape(GetParam().arch), GetParam().type, 11);
        model_ = load_model(file_.path);
        ASSERT_TRUE(model_);
        V_ = mlxb_model_n_vocab(model_.get());
        for (int i = 0; i < 70; i++) prompt_.push_back(3 + (i * 37 + 11) % (V_ - 3));
        for (int i = 0; i < 40; i++) other_.push_back(3 + (i * 53 + 5) % (V_ - 3));
    }
    void TearDown() override { mlxb::kernels_override(nullptr); }

    Context ctx(int threads, int n_seq = 4, int n_batch = 128) { return new_context(model_.get(), 256, n_seq, n_batch, threads); }

    // Decodes a batch and returns the logits of the tokens at `rows` (indices into the batch).
    Logits run(mlxb_context * c, const std::vector<mlxb_token> & toks, const std::vector<mlxb_seq_id> & seqs,
               const std::vector<int> & rows) {
        std::vector<int8_t> want(toks.size(), 0);
        for (int r : rows) want[r] = 1;
        mlxb_batch b{(int32_t)toks.size(), toks.data(), seqs.data(), nullptr, want.data()};
        EXPECT_EQ(mlxb_decode(c, &b), MLXB_OK) << mlxb_last_error();
        Logits out;
        for (int r : rows) {
            const float * l = mlxb_get_logits(c, r);
            out.emplace_back(l, l + V_);
        }
        return out;
    }

    // The whole prompt in one call on one thread, every position scored: the reference all others must equal.
    const Logits & reference() {
        if (ref_.empty()) {
            Context c = ctx(1);
            std::vector<int> rows(prompt_.size());
            for (size_t i = 0; i < rows.size(); i++) rows[i] = (int)i;
            ref_ = run(c.get(), prompt_, std::vector<mlxb_seq_id>(prompt_.size(), 0), rows);
        }
        return ref_;
    }

    void expect_identical(const std::vector<float> & got, size_t pos, const std::string & how) {
        const std::vector<float> & want = reference()[pos];
        ASSERT_EQ(got.size(), want.size());
        if (std::memcmp(got.data(), want.data(), got.size() * sizeof(float)) == 0) return;
        size_t k = 0;
        while (got[k] == want[k] && std::memcmp(&got[k], &want[k], 4) == 0) k++;
        ADD_FAILURE() << GetParam().table << " " << mlxb::tensor_type_name(GetParam().type) << " " << how << ": position "
                      << pos << " logit " << k << " is " << got[k] << ", whole-prompt decode gave " << want[k];
    }

    // Decodes the prompt into sequence `seq` of c in chunks of the given sizes (cycled), checking every position.
    void chunked(mlxb_context * c, const std::vector<int> & sizes, const std::string & how, mlxb_seq_id seq = 0, size_t from = 0) {
        size_t i = from;
        for (size_t k = 0; i < prompt_.size(); k++) {
            const size_t n = std::min<size_t>((size_t)sizes[k % sizes.size()], prompt_.size() - i);
            std::vector<mlxb_token> toks(prompt_.begin() + (long)i, prompt_.begin() + (long)(i + n));
            std::vector<int> rows(n);
            for (size_t j = 0; j < n; j++) rows[j] = (int)j;
            Logits got = run(c, toks, std::vector<mlxb_seq_id>(n, seq), rows);
            for (size_t j = 0; j < n; j++) expect_identical(got[j], i + j, how);
            i += n;
        }
    }

    const mlxb::Kernels * K_ = nullptr;
    TempFile file_;
    Model model_;
    int32_t V_ = 0;
    std::vector<mlxb_token> prompt_, other_;
    Logits ref_;
};

}  // namespace

TEST_P(Invariance, WholePromptOnMoreThreads) {
    for (int threads : {2, 3}) {
        Context c = ctx(threads);
        chunked(c.get(), {(int)prompt_.size()}, std::to_string(threads) + " threads");
    }
}

TEST_P(Invariance, OneTokenAtATime) {
    for (int threads : {1, 2}) {
        Context c = ctx(threads);
        chunked(c.get(), {1}, "one token per decode, " + std::to_string(threads) + " threads");
    }
}

TEST_P(Invariance, UnevenChunks) {
    for (int threads : {1, 2}) {
        Context c = ctx(threads);
        chunked(c.get(), {5, 1, 17, 2, 33, 3, 9}, "chunks 5,1,17,2,33,.. on " + std::to_string(threads) + " threads");
        Context c2 = ctx(threads);
        chunked(c2.get(), {31, 7, 32}, "chunks 31,7,32 on " + std::to_string(threads) + " threads");
    }
}

// What the server does for echo_logprobs_from: a context decoded with logits for a few rows only, so the last layer
// computes just those once every row's k and v are stored; they, and every later position (which reads the other
// rows' cache), equal the whole-prompt decode.
TEST_P(Invariance, OnlySomeRowsWantLogits) {
    for (int threads : {1, 2}) {
        Context c = ctx(threads);
        const size_t head = 40;
        std::vector<mlxb_token> first(prompt_.begin(), prompt_.begin() + (long)head);
        const std::vector<int> rows = {0, 7, 8, 9, 23, 38, 39};
        const std::string how = "logits for 7 of 40 rows, " + std::to_string(threads) + " threads";
        Logits got = run(c.get(), first, std::vector<mlxb_seq_id>(head, 0), rows);
        for (size_t j = 0; j < rows.size(); j++) expect_identical(got[j], (size_t)rows[j], how);
        chunked(c.get(), {(int)(prompt_.size() - head)}, how + ", then the rest", 0, head);
    }
}

// What the server does for lm-eval: the shared prefix decoded once, copied, the continuation decoded alone (or with
// other requests' tokens around it).
TEST_P(Invariance, PrefixFromSeqCopy) {
    for (int threads : {1, 2}) {
        for (size_t prefix : {(size_t)1, (size_t)37, (size_t)64}) {
            Context c = ctx(threads);
            const std::vector<mlxb_token> head(prompt_.begin(), prompt_.begin() + (long)prefix);
            run(c.get(), head, std::vector<mlxb_seq_id>(prefix, 0), {});
            ASSERT_EQ(mlxb_seq_copy(c.get(), 0, 2, -1), MLXB_OK) << mlxb_last_error();
            const std::string how = "prefix of " + std::to_string(prefix) + " via seq_copy, " + std::to_string(threads) + " threads";
            // The rest in one batch behind 5 tokens of another sequence.
            std::vector<mlxb_token> toks(other_.begin(), other_.begin() + 5);
            std::vector<mlxb_seq_id> seqs(5, 1);
            std::vector<int> rows;
            for (size_t i = prefix; i < prompt_.size(); i++) {
                rows.push_back((int)toks.size());
                toks.push_back(prompt_[i]);
                seqs.push_back(2);
            }
            Logits got = run(c.get(), toks, seqs, rows);
            for (size_t j = 0; j < got.size(); j++) expect_identical(got[j], prefix + j, how);
        }
    }
}

// Continuous batching: each decode call holds one token of each of three sequences, ours at a different index each
// time, the others at other lengths.
TEST_P(Invariance, InterleavedWithOtherSequences) {
    for (int threads : {1, 2}) {
        Context c = ctx(threads);
        run(c.get(), other_, std::vector<mlxb_seq_id>(other_.size(), 1), {});
        run(c.get(), {other_.begin(), other_.begin() + 9}, std::vector<mlxb_seq_id>(9, 3), {});
        for (size_t i = 0; i < prompt_.size(); i++) {
            const int at = (int)(i % 3);
            std::vector<mlxb_token> toks = {other_[i % other_.size()], other_[(i + 7) % other_.size()]};
            std::vector<mlxb_seq_id> seqs = {1, 3};
            toks.insert(toks.begin() + at, prompt_[i]);
            seqs.insert(seqs.begin() + at, 0);
            Logits got = run(c.get(), toks, seqs, {at});
            expect_identical(got[0], i, "interleaved at batch index " + std::to_string(at) + ", " + std::to_string(threads) + " threads");
        }
    }
}

// Several prompt chunks of different sequences in one decode (prefill of two requests batched together).
TEST_P(Invariance, TwoPromptsInOneBatch) {
    Context c = ctx(2);
    std::vector<mlxb_token> toks;
    std::vector<mlxb_seq_id> seqs;
    std::vector<int> rows;
    for (size_t i = 0; i < 20; i++) toks.push_back(other_[i]), seqs.push_back(1);
    for (size_t i = 0; i < prompt_.size(); i++) rows.push_back((int)toks.size()), toks.push_back(prompt_[i]), seqs.push_back(0);
    for (size_t i = 20; i < 40; i++) toks.push_back(other_[i]), seqs.push_back(1);
    Logits got = run(c.get(), toks, seqs, rows);
    for (size_t j = 0; j < got.size(); j++) expect_identical(got[j], j, "between two chunks of another prompt");
}

namespace {
std::vector<Param> params() {
    std::vector<Param> v;
    using T = mlxb::TensorType;
    for (const char * table : {"generic", "avx2", "avx512"})
        for (T t : {T::F32, T::F16, T::BF16, T::Q8_0, T::Q4_0}) v.push_back({table, t, "llama"});
    for (const char * table : {"generic", "avx2", "avx512"}) {
        v.push_back({table, T::Q4_0, "qwen2"});
        v.push_back({table, T::Q8_0, "qwen3"});
    }
    return v;
}
std::string param_name(const ::testing::TestParamInfo<Param> & i) {
    return i.param.table + "_" + mlxb::tensor_type_name(i.param.type) + "_" + i.param.arch;
}
}  // namespace

INSTANTIATE_TEST_SUITE_P(Batch, Invariance, ::testing::ValuesIn(params()), param_name);

// Kernel level: every gemm output of a many-token call at any panel-aligned row range equals the same output of a
// one-token call over all rows, bit for bit; every query of attend_block equals attend of that query alone.
class KernelInvariance : public ::testing::TestWithParam<std::string> {};

TEST_P(KernelInvariance, GemmRowsDoNotDependOnTheBatchOrRowRange) {
    const mlxb::Kernels * K = mlxb::kernels_find(GetParam().c_str());
    if (!K) GTEST_SKIP() << "this CPU cannot run the " << GetParam() << " kernels";
    using T = mlxb::TensorType;
    const int64_t rows = 150, cols = 320, P = K->panel_rows > 1 ? K->panel_rows : 5;
    uint32_t s = 12345;
    auto rnd = [&] { s = s * 1664525u + 1013904223u; return (float)(s >> 8) / (float)(1u << 24) * 2.0f - 1.0f; };
    std::vector<float> wf((size_t)(rows * cols)), X((size_t)(40 * cols));
    for (float & w : wf) w = rnd();
    for (float & x : X) x = rnd();
    for (T type : {T::F32, T::F16, T::BF16, T::Q8_0, T::Q4_0}) {
        const int64_t rb = mlxb::row_bytes(type, cols);
        std::vector<uint8_t> W((size_t)(rows * rb));
        for (int64_t r = 0; r < rows; r++) mlxb::quantize_row(type, &wf[r * cols], &W[r * rb], cols);
        AlignedBytes packed = pack_for(*K, type, W.data(), rows, cols);
        const void * wd = packed.p ? (const void *)packed.p : W.data();
        std::vector<mlxb::BlockQ8x> XQ((size_t)(40 * cols / 32));
        for (int64_t t = 0; t < 40; t++) K->quantize_q8x(&X[t * cols], &XQ[t * cols / 32], cols);
        // Reference: each token alone, all rows.
        std::vector<float> ref((size_t)(40 * rows));
        for (int64_t t = 0; t < 40; t++)
            K->gemm(type, wd, &X[t * cols], &XQ[t * cols / 32], &ref[t * rows], rows, cols, 1, 0, rows, rows);
        for (int64_t n : {2, 3, 4, 6, 7, 8, 12, 13, 25, 40}) {
            for (int64_t r0 : {(int64_t)0, P, 3 * P}) {
                for (int64_t r1 : {rows, 5 * P, r0 + P}) {
                    if (r1 <= r0) continue;
                    std::vector<float> Y((size_t)(n * rows), NAN);
                    K->gemm(type, wd, X.data(), XQ.data(), Y.data(), rows, cols, n, r0, r1, rows);
                    for (int64_t t = 0; t < n; t++)
                        for (int64_t r = r0; r < r1; r++)
                            ASSERT_EQ(std::memcmp(&Y[t * rows + r], &ref[t * rows + r], 4), 0)
                                << K->name << " " << mlxb::tensor_type_name(type) << " n=" << n << " rows [" << r0 << ","
                                << r1 << ") token " << t << " row " << r << ": " << Y[t * rows + r] << " vs " << ref[t * rows + r];
                }
            }
        }
    }
}

TEST_P(KernelInvariance, BlockAttentionEqualsSingleQueries) {
    const mlxb::Kernels * K = mlxb::kernels_find(GetParam().c_str());
    if (!K) GTEST_SKIP() << "this CPU cannot run the " << GetParam() << " kernels";
    uint32_t s = 777;
    auto rnd = [&] { s = s * 1664525u + 1013904223u; return (float)(s >> 8) / (float)(1u << 24) * 4.0f - 2.0f; };
    for (int32_t hd : {16, 32, 64, 100, 128, 300}) {
        for (auto [pos0, nq] : {std::pair<int32_t, int32_t>{0, 32}, {0, 5}, {3, 17}, {16, 16}, {45, 32}, {70, 1}, {100, 31}}) {
            const int32_t len = pos0 + nq, vstride = hd + 7;
            std::vector<float> k((size_t)(len + 15) / 16 * 16 * hd), v((size_t)len * vstride), Q((size_t)nq * hd);
            for (float & x : k) x = rnd();
            for (float & x : v) x = rnd();
            for (float & x : Q) x = rnd();
            const float scale = 1.0f / std::sqrt((float)hd);
            std::vector<float> sc(mlxb::attn_scratch_floats(len, hd)), O((size_t)nq * hd), one(hd);
            K->attend_block(Q.data(), hd, nq, pos0, k.data(), v.data(), vstride, hd, scale, O.data(), hd, sc.data());
            for (int32_t i = 0; i < nq; i++) {
                K->attend(&Q[i * hd], k.data(), v.data(), vstride, pos0 + i + 1, hd, scale, one.data(), sc.data());
                ASSERT_EQ(std::memcmp(one.data(), &O[i * hd], hd * 4), 0)
                    << K->name << " hd=" << hd << " pos0=" << pos0 << " nq=" << nq << " query " << i;
            }
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Cpu, KernelInvariance, ::testing::Values("generic", "avx2", "avx512"),
                         [](const ::testing::TestParamInfo<std::string> & i) { return i.param; });
