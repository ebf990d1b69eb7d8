// The C API contract the server relies on: batched decode over several sequences, prefix sharing with
// mlxb_seq_copy, truncation, bit-identical log-probabilities, sampling, and error codes that leave state unchanged.
#include <cmath>
#include <cstring>

#include "test_util.h"

using namespace mlxb_test;

namespace {

class Api : public ::testing::Test {
protected:
    void SetUp() override {
        write_model(file_.path, tiny_shape(), mlxb::TensorType::F32);
        model_ = load_model(file_.path);
        ASSERT_TRUE(model_);
        V_ = mlxb_model_n_vocab(model_.get());
    }
    std::vector<float> logits(mlxb_context * c, int32_t i) {
        const float * l = mlxb_get_logits(c, i);
        EXPECT_NE(l, nullptr) << "row " << i;
        return l ? std::vector<float>(l, l + V_) : std::vector<float>();
    }
    // Logits after decoding toks alone, one token at a time, in a fresh context.
    std::vector<std::vector<float>> alone(const std::vector<mlxb_token> & toks) {
        Context c = new_context(model_.get(), 128);
        std::vector<std::vector<float>> out;
        for (mlxb_token t : toks) {
            EXPECT_EQ(decode_seq(c.get(), {t}, 0, false), MLXB_OK) << mlxb_last_error();
            out.push_back(logits(c.get(), 0));
        }
        return out;
    }
    static void expect_close(const std::vector<float> & a, const std::vector<float> & b, const std::string & what) {
        ASSERT_EQ(a.size(), b.size()) << what;
        float worst = 0;
        for (size_t k = 0; k < a.size(); k++) worst = std::max(worst, std::fabs(a[k] - b[k]));
        // Same weights, same kernels; only the grouping of tokens into GEMM tiles differs.
        EXPECT_LT(worst, 1e-4f) << what;
    }

    TempFile file_;
    Model model_;
    int32_t V_ = 0;
};

}  // namespace

TEST_F(Api, InterleavedSequencesInOneBatchMatchEachSequenceAlone) {
    const std::vector<std::vector<mlxb_token>> seqs = {{1, 40, 41, 42, 43}, {1, 300, 7}, {1, 99, 98, 97, 96, 95, 94}};
    Context c = new_context(model_.get(), 128, 3);
    // Round-robin interleaving, with logits for every token.
    std::vector<mlxb_token> toks;
    std::vector<mlxb_seq_id> ids;
    std::vector<std::pair<int, int>> where;  // batch index -> (seq, position)
    for (size_t p = 0; p < 7; p++)
        for (int s = 0; s < 3; s++)
            if (p < seqs[s].size()) toks.push_back(seqs[s][p]), ids.push_back(s), where.push_back({s, (int)p});
    std::vector<int8_t> want(toks.size(), 1);
    mlxb_batch b{(int32_t)toks.size(), toks.data(), ids.data(), nullptr, want.data()};
    ASSERT_EQ(mlxb_decode(c.get(), &b), MLXB_OK) << mlxb_last_error();
    for (int s = 0; s < 3; s++) EXPECT_EQ(mlxb_seq_len(c.get(), s), (int32_t)seqs[s].size());

    std::vector<std::vector<std::vector<float>>> ref;
    for (const auto & s : seqs) ref.push_back(alone(s));
    for (size_t i = 0; i < toks.size(); i++)
        expect_close(logits(c.get(), (int32_t)i), ref[where[i].first][where[i].second],
                     "seq " + std::to_string(where[i].first) + " pos " + std::to_string(where[i].second));

    // Continuous batching: one more token for each sequence, all in one decode (default: logits per sequence).
    const mlxb_token next[3] = {50, 51, 52};
    const mlxb_seq_id nid[3] = {2, 0, 1};
    mlxb_batch b2{3, next, nid, nullptr, nullptr};
    ASSERT_EQ(mlxb_decode(c.get(), &b2), MLXB_OK) << mlxb_last_error();
    for (int i = 0; i < 3; i++) {
        std::vector<mlxb_token> s = seqs[nid[i]];
        s.push_back(next[i]);
        expect_close(logits(c.get(), i), alone(s).back(), "continuation of seq " + std::to_string(nid[i]));
    }
}

TEST_F(Api, SeqCopySharesAPrefixBetweenSequences) {
    const std::vector<mlxb_token> prefix = {1, 10, 11, 12, 13, 14};
    const std::vector<mlxb_token> endings[4] = {{20}, {21, 22}, {23, 24, 25}, {26}};
    Context c = new_context(model_.get(), 128, 4);
    ASSERT_EQ(decode_seq(c.get(), prefix, 0, false), MLXB_OK);
    for (int s = 1; s < 4; s++) ASSERT_EQ(mlxb_seq_copy(c.get(), 0, s, -1), MLXB_OK) << mlxb_last_error();
    for (int s = 0; s < 4; s++) EXPECT_EQ(mlxb_seq_len(c.get(), s), (int32_t)prefix.size());
    // All four continuations in one batch, every position scored (what lm-eval's multiple choice needs).
    std::vector<mlxb_token> toks;
    std::vector<mlxb_seq_id> ids;
    for (int s = 0; s < 4; s++)
        for (mlxb_token t : endings[s]) toks.push_back(t), ids.push_back(s);
    std::vector<int8_t> want(toks.size(), 1);
    mlxb_batch b{(int32_t)toks.size(), toks.data(), ids.data(), nullptr, want.data()};
    ASSERT_EQ(mlxb_decode(c.get(), &b), MLXB_OK) << mlxb_last_error();
    size_t i = 0;
    for (int s = 0; s < 4; s++) {
        std::vector<mlxb_token> full = prefix;
        full.insert(full.end(), endings[s].begin(), endings[s].end());
        auto ref = alone(full);
        for (size_t j = 0; j < endings[s].size(); j++, i++)
            expect_close(logits(c.get(), (int32_t)i), ref[prefix.size() + j], "seq " + std::to_string(s));
    }
    // A partial copy: the first 3 positions only, then a different continuation.
    ASSERT_EQ(mlxb_seq_copy(c.get(), 2, 1, 3), MLXB_OK);
    EXPECT_EQ(mlxb_seq_len(c.get(), 1), 3);
    ASSERT_EQ(decode_seq(c.get(), {77}, 1, false), MLXB_OK);
    expect_close(logits(c.get(), 0), alone({1, 10, 11, 77}).back(), "partial copy");
    EXPECT_EQ(mlxb_seq_copy(c.get(), 0, 1, 999), MLXB_ERR_ARG);
    EXPECT_EQ(mlxb_seq_copy(c.get(), 0, 4, -1), MLXB_ERR_ARG);
}

TEST_F(Api, TruncateThenRedecodeGivesTheSameLogits) {
    Context c = new_context(model_.get(), 128);
    ASSERT_EQ(decode_seq(c.get(), {1, 5, 6, 7, 8}, 0, false), MLXB_OK);
    const std::vector<float> first = logits(c.get(), 4);  // logits of the batch's last token, addressed by its index
    ASSERT_EQ(mlxb_seq_truncate(c.get(), 0, 3), MLXB_OK);
    EXPECT_EQ(mlxb_seq_len(c.get(), 0), 3);
    ASSERT_EQ(decode_seq(c.get(), {200, 201}, 0, false), MLXB_OK);  // overwrite positions 3, 4
    ASSERT_EQ(mlxb_seq_truncate(c.get(), 0, 3), MLXB_OK);
    ASSERT_EQ(decode_seq(c.get(), {7, 8}, 0, false), MLXB_OK);
    EXPECT_EQ(logits(c.get(), 1), first);
    EXPECT_EQ(mlxb_seq_truncate(c.get(), 0, 6), MLXB_ERR_ARG);
}

TEST_F(Api, LogprobsAreBitIdenticalAcrossTheThreeGetters) {
    Context c = new_context(model_.get(), 128);
    ASSERT_EQ(decode_seq(c.get(), {1, 3, 4, 5, 6, 7, 8, 9}, 0, true), MLXB_OK);
    std::vector<float> all(V_);
    for (int32_t i = 0; i < 8; i++) {
        ASSERT_EQ(mlxb_get_logprobs(c.get(), i, all.data(), V_), MLXB_OK);
        double mass = 0;
        for (float lp : all) mass += std::exp((double)lp);
        EXPECT_NEAR(mass, 1.0, 1e-5);
        mlxb_token top[20];
        float top_lp[20];
        ASSERT_EQ(mlxb_get_top_logprobs(c.get(), i, 20, top, top_lp), 20);
        for (int j = 0; j < 20; j++) {
            float lp;
            ASSERT_EQ(mlxb_get_token_logprob(c.get(), i, top[j], &lp), MLXB_OK);
            EXPECT_EQ(std::memcmp(&lp, &top_lp[j], 4), 0) << "token " << top[j];
            EXPECT_EQ(std::memcmp(&lp, &all[top[j]], 4), 0) << "token " << top[j];
            if (j > 0) EXPECT_TRUE(top_lp[j] < top_lp[j - 1] || (top_lp[j] == top_lp[j - 1] && top[j] > top[j - 1]));
        }
        float best = -INFINITY;
        for (float lp : all) best = std::max(best, lp);
        EXPECT_EQ(best, top_lp[0]);
        // Greedy sampling picks the top-1 token.
        mlxb_sampler * s = nullptr;
        ASSERT_EQ(mlxb_sampler_new(model_.get(), nullptr, &s), MLXB_OK);
        EXPECT_EQ(mlxb_sampler_sample(s, c.get(), i), top[0]);
        mlxb_sampler_free(s);
    }
}

TEST_F(Api, SamplingIsDeterministicInTheSeedAndHonoursTopK) {
    Context c = new_context(model_.get(), 128);
    ASSERT_EQ(decode_seq(c.get(), {1, 3, 4}, 0, false), MLXB_OK);
    const int32_t row = 2;
    mlxb_sampler_params p = mlxb_sampler_default_params();
    p.temperature = 1.5f;
    p.seed = 42;
    auto draw = [&](mlxb_sampler_params q, int n) {
        mlxb_sampler * s = nullptr;
        EXPECT_EQ(mlxb_sampler_new(model_.get(), &q, &s), MLXB_OK);
        std::vector<mlxb_token> out;
        for (int i = 0; i < n; i++) out.push_back(mlxb_sampler_sample(s, c.get(), row));
        mlxb_sampler_free(s);
        return out;
    };
    auto a = draw(p, 200), b = draw(p, 200);
    EXPECT_EQ(a, b);
    p.seed = 43;
    EXPECT_NE(draw(p, 200), a);
    std::sort(a.begin(), a.end());
    EXPECT_GT(std::unique(a.begin(), a.end()) - a.begin(), 5) << "temperature 1.5 should spread over many tokens";
    mlxb_token top[3];
    float lp[3];
    ASSERT_EQ(mlxb_get_top_logprobs(c.get(), row, 3, top, lp), 3);
    p.top_k = 3;
    for (mlxb_token t : draw(p, 100)) EXPECT_TRUE(t == top[0] || t == top[1] || t == top[2]) << t;
    p.top_k = 0;
    p.top_p = 1e-6f;  // only the most likely token survives
    for (mlxb_token t : draw(p, 50)) EXPECT_EQ(t, top[0]);
}

TEST_F(Api, BadCallsReturnCodesAndLeaveTheContextUnchanged) {
    Context c = new_context(model_.get(), 8, 2, 4);
    ASSERT_EQ(decode_seq(c.get(), {1, 2, 3}, 0, false), MLXB_OK);
    const std::vector<float> before = logits(c.get(), 2);
    EXPECT_EQ(decode_seq(c.get(), {1, 2, 3, 4, 5}, 0, false), MLXB_ERR_ARG);  // n_batch 4
    EXPECT_NE(std::string(mlxb_last_error()).find("n_batch"), std::string::npos) << mlxb_last_error();
    EXPECT_EQ(decode_seq(c.get(), {V_}, 0, false), MLXB_ERR_ARG);             // token out of range
    EXPECT_EQ(decode_seq(c.get(), {-1}, 0, false), MLXB_ERR_ARG);
    EXPECT_EQ(decode_seq(c.get(), {5}, 2, false), MLXB_ERR_ARG);              // seq id out of range
    const mlxb_token t = 5;
    const int32_t wrong_pos = 7;
    mlxb_batch b{1, &t, nullptr, &wrong_pos, nullptr};
    EXPECT_EQ(mlxb_decode(c.get(), &b), MLXB_ERR_ARG);
    EXPECT_EQ(mlxb_decode(c.get(), nullptr), MLXB_ERR_ARG);
    ASSERT_EQ(decode_seq(c.get(), {4, 5, 6, 7}, 0, false), MLXB_OK);         // fills n_ctx = 8 after 1 more
    ASSERT_EQ(decode_seq(c.get(), {8}, 0, false), MLXB_OK);
    EXPECT_EQ(mlxb_seq_len(c.get(), 0), 8);
    EXPECT_EQ(decode_seq(c.get(), {9}, 0, false), MLXB_CONTEXT_FULL);
    EXPECT_EQ(mlxb_seq_len(c.get(), 0), 8);
    // The failed calls changed nothing: rewinding and replaying gives the logits seen before them.
    ASSERT_EQ(mlxb_seq_truncate(c.get(), 0, 0), MLXB_OK);
    ASSERT_EQ(decode_seq(c.get(), {1, 2, 3}, 0, false), MLXB_OK);
    EXPECT_EQ(logits(c.get(), 2), before);
    EXPECT_EQ(mlxb_get_logits(c.get(), 0), nullptr);
    EXPECT_EQ(mlxb_get_logits(c.get(), 1), nullptr);  // only the last token asked for logits
    EXPECT_EQ(mlxb_get_logits(c.get(), 3), nullptr);  // beyond the batch
    float lp;
    EXPECT_EQ(mlxb_get_token_logprob(c.get(), 2, V_, &lp), MLXB_ERR_ARG);
    EXPECT_EQ(mlxb_get_token_logprob(c.get(), 0, 5, &lp), MLXB_ERR_ARG);
    EXPECT_LT(mlxb_sampler_sample(nullptr, c.get(), 2), 0);

    mlxb_model * m = nullptr;
    EXPECT_EQ(mlxb_model_load("/nonexistent/model.gguf", nullptr, &m), MLXB_ERR_IO);
    EXPECT_EQ(m, nullptr);
    EXPECT_NE(std::string(mlxb_last_error()).find("/nonexistent/model.gguf"), std::string::npos);
    mlxb_context * cx = nullptr;
    mlxb_context_params cp = mlxb_context_default_params();
    cp.n_seq_max = -1;
    EXPECT_EQ(mlxb_context_new(model_.get(), &cp, &cx), MLXB_ERR_ARG);
    EXPECT_EQ(cx, nullptr);
    mlxb_model_free(nullptr);
    mlxb_context_free(nullptr);
    mlxb_sampler_free(nullptr);
}

TEST_F(Api, ThreadCountCanChangeWithoutChangingResults) {
    Context c = new_context(model_.get(), 64, 1, 64, 1);
    ASSERT_EQ(decode_seq(c.get(), {1, 2, 3, 4}, 0, false), MLXB_OK);
    const std::vector<float> one = logits(c.get(), 3);
    ASSERT_EQ(mlxb_context_set_threads(c.get(), 3), MLXB_OK);
    EXPECT_EQ(mlxb_context_n_threads(c.get()), 3);
    ASSERT_EQ(mlxb_seq_truncate(c.get(), 0, 0), MLXB_OK);
    ASSERT_EQ(decode_seq(c.get(), {1, 2, 3, 4}, 0, false), MLXB_OK);
    expect_close(logits(c.get(), 3), one, "3 threads vs 1");
}

TEST_F(Api, ModelAccessorsDescribeTheFile) {
    EXPECT_EQ(mlxb_api_version(), MLXB_API_VERSION);
    EXPECT_EQ(mlxb_model_n_vocab(model_.get()), 320);
    EXPECT_EQ(mlxb_model_n_embd(model_.get()), 64);
    EXPECT_EQ(mlxb_model_n_layer(model_.get()), 2);
    EXPECT_EQ(mlxb_model_n_ctx_train(model_.get()), 256);
    EXPECT_EQ(mlxb_model_token_bos(model_.get()), 1);
    EXPECT_EQ(mlxb_model_token_eos(model_.get()), 2);
    EXPECT_TRUE(mlxb_token_is_eog(model_.get(), 2));
    char buf[8];
    EXPECT_EQ(mlxb_model_arch(model_.get(), buf, sizeof buf), 5);
    EXPECT_STREQ(buf, "llama");
    EXPECT_EQ(mlxb_model_meta_str(model_.get(), "general.name", buf, sizeof buf), 21);  // truncated, NUL-terminated
    EXPECT_EQ(std::strlen(buf), 7u);
    EXPECT_EQ(mlxb_model_meta_str(model_.get(), "llama.block_count", buf, sizeof buf), 1);
    EXPECT_STREQ(buf, "2");
    EXPECT_EQ(mlxb_model_meta_str(model_.get(), "no.such.key", buf, sizeof buf), -1);
    EXPECT_NE(std::string(mlxb_system_info()).find("kernels="), std::string::npos);
}

TEST_F(Api, TopLogprobsOfZeroTokensWritesNothing) {
    Context c = new_context(model_.get(), 64);
    ASSERT_EQ(decode_seq(c.get(), {1, 2, 3}, 0, false), MLXB_OK);
    // n = 0 must not look at the (possibly absent) output arrays at all.
    EXPECT_EQ(mlxb_get_top_logprobs(c.get(), 2, 0, nullptr, nullptr), 0);
    mlxb_token t[2] = {-7, -7};
    float lp[2] = {5.0f, 5.0f};
    EXPECT_EQ(mlxb_get_top_logprobs(c.get(), 2, 0, t, lp), 0);
    EXPECT_EQ(t[0], -7);
    EXPECT_EQ(lp[0], 5.0f);
    EXPECT_EQ(mlxb_get_top_logprobs(c.get(), 2, 1, t, lp), 1);
    EXPECT_EQ(t[1], -7);
    EXPECT_EQ(mlxb_get_top_logprobs(c.get(), 0, 0, t, lp), MLXB_ERR_ARG) << "row 0 has no logits";
    EXPECT_EQ(mlxb_get_top_logprobs(c.get(), 2, -1, t, lp), MLXB_ERR_ARG);
}

// The two-call protocol's -(needed) overlaps the status codes for small needs; the _ex forms do not.
TEST_F(Api, ExFormsSeparateCountsFromStatuses) {
    mlxb_model * m = model_.get();
    const std::string one_token = "a";  // the dummy prefix makes it "▁a": one token of the synthetic vocabulary
    int32_t needed = -1;
    ASSERT_EQ(mlxb_tokenize_ex(m, one_token.data(), (int32_t)one_token.size(), nullptr, 0, 0, &needed), MLXB_OK);
    EXPECT_EQ(needed, 1);
    EXPECT_EQ(mlxb_tokenize(m, one_token.data(), (int32_t)one_token.size(), nullptr, 0, 0), -1) << "the ambiguous form";
    mlxb_token toks[4] = {0, 0, 0, 0};
    ASSERT_EQ(mlxb_tokenize_ex(m, "ab ab", -1, toks, 4, MLXB_TOKENIZE_ADD_BOS, &needed), MLXB_OK);
    EXPECT_EQ(toks[0], 1);
    const std::vector<mlxb_token> want = tokenize(m, "ab ab", MLXB_TOKENIZE_ADD_BOS);
    ASSERT_EQ((size_t)needed, want.size());
    for (int32_t i = 0; i < needed; i++) EXPECT_EQ(toks[i], want[i]);
    toks[0] = 99;
    ASSERT_EQ(mlxb_tokenize_ex(m, "ab ab", -1, toks, needed - 1, MLXB_TOKENIZE_ADD_BOS, &needed), MLXB_OK);
    EXPECT_EQ(toks[0], 99) << "too small: nothing written";
    EXPECT_EQ(mlxb_tokenize_ex(nullptr, "a", -1, toks, 4, 0, &needed), MLXB_ERR_ARG);
    EXPECT_EQ(needed, 0);
    EXPECT_EQ(mlxb_tokenize_ex(m, "a", -1, nullptr, 4, 0, &needed), MLXB_ERR_ARG) << "cap > 0 needs a buffer";
    EXPECT_EQ(mlxb_tokenize_ex(m, "a", -1, toks, 4, 0, nullptr), MLXB_ERR_ARG);

    char buf[32];
    ASSERT_EQ(mlxb_token_to_piece_ex(m, 3 + 'A', nullptr, 0, 0, &needed), MLXB_OK);  // byte token <0x41>: 1 byte
    EXPECT_EQ(needed, 1);
    ASSERT_EQ(mlxb_token_to_piece_ex(m, 3 + 'A', buf, 1, 0, &needed), MLXB_OK);
    EXPECT_EQ(buf[0], 'A');
    EXPECT_EQ(mlxb_token_to_piece_ex(m, 100000, buf, 1, 0, &needed), MLXB_ERR_ARG);
    EXPECT_EQ(needed, 0);

    const std::string text = detokenize(m, want, 0);
    ASSERT_EQ(mlxb_detokenize_ex(m, want.data(), (int32_t)want.size(), nullptr, 0, 0, &needed), MLXB_OK);
    EXPECT_EQ((size_t)needed, text.size());
    ASSERT_EQ(mlxb_detokenize_ex(m, want.data(), (int32_t)want.size(), buf, sizeof buf, 0, &needed), MLXB_OK);
    EXPECT_EQ(std::string(buf, (size_t)needed), text);
    const mlxb_token bad = -3;
    EXPECT_EQ(mlxb_detokenize_ex(m, &bad, 1, buf, sizeof buf, 0, &needed), MLXB_ERR_ARG);
    EXPECT_EQ(needed, 0);
}
