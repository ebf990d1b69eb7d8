// The correctness oracle: greedy decoding of the real, trained stories260K reproduces llama2.c's documented text.
#include "test_util.h"

using namespace mlxb_test;

namespace {

// The text between the first pair of ``` fences of shared/models/README.md ("Correctness oracle").
std::string oracle_text(const std::string & readme) {
    size_t a = readme.find("```");
    if (a == std::string::npos) return {};
    a = readme.find('\n', a) + 1;
    size_t b = readme.find("\n```", a);
    return b == std::string::npos ? std::string() : readme.substr(a, b - a);
}

// Greedy generation of n tokens after the prompt, one token per decode, as a server would do it.
std::vector<mlxb_token> generate(mlxb_model * m, const std::vector<mlxb_token> & prompt, int n, int32_t n_threads) {
    Context c = new_context(m, 512, 1, 512, n_threads);
    Sampler s;
    {
        mlxb_sampler * sp = nullptr;
        EXPECT_EQ(mlxb_sampler_new(m, nullptr, &sp), MLXB_OK);
        s.reset(sp);
    }
    std::vector<mlxb_token> out;
    EXPECT_EQ(decode_seq(c.get(), prompt, 0, false), MLXB_OK) << mlxb_last_error();
    int32_t last = (int32_t)prompt.size() - 1;
    for (int i = 0; i < n; i++) {
        mlxb_token t = mlxb_sampler_sample(s.get(), c.get(), last);
        EXPECT_GE(t, 0) << mlxb_last_error();
        if (t < 0) break;
        out.push_back(t);
        EXPECT_EQ(decode_seq(c.get(), {t}, 0, false), MLXB_OK) << mlxb_last_error();
        last = 0;
    }
    return out;
}

}  // namespace

TEST(Greedy, Stories260KReproducesTheDocumentedText) {
    MLXB_REQUIRE_SHARED(model_path, "models/stories260K.gguf");
    MLXB_REQUIRE_SHARED(readme_path, "models/README.md");
    const std::string expected = oracle_text(read_file(readme_path));
    ASSERT_GT(expected.size(), 500u) << "could not find the oracle text in " << readme_path;

    Model m = load_model(model_path);
    ASSERT_TRUE(m);
    std::vector<mlxb_token> prompt = tokenize(m.get(), "Once upon a time", MLXB_TOKENIZE_ADD_BOS);
    ASSERT_EQ(prompt.front(), mlxb_model_token_bos(m.get()));

    // 8 threads: more than the 2 panels of k/v rows stories260K has, so some threads get no rows of a product (they
    // once ran the kernels on an empty range, which wrote garbage past it).
    for (int32_t threads : {1, 2, 8}) {
        SCOPED_TRACE("threads=" + std::to_string(threads));
        std::vector<mlxb_token> gen = generate(m.get(), prompt, 200, threads);
        ASSERT_EQ(gen.size(), 200u);
        std::vector<mlxb_token> all = prompt;
        all.insert(all.end(), gen.begin(), gen.end());
        const std::string text = detokenize(m.get(), all, MLXB_DETOK_STRIP_LEADING);
        // The 200 tokens cover ~470 of the passage's ~700 bytes; every byte of them must match it.
        ASSERT_GT(text.size(), 400u);
        EXPECT_EQ(text, expected.substr(0, text.size()));
    }
}

TEST(Greedy, PromptInOneBatchGivesTheSameLogitsAsTokenByToken) {
    MLXB_REQUIRE_SHARED(model_path, "models/stories260K.gguf");
    Model m = load_model(model_path);
    ASSERT_TRUE(m);
    const int32_t V = mlxb_model_n_vocab(m.get());
    std::vector<mlxb_token> prompt = tokenize(m.get(), "Once upon a time, there was a little girl named Lily.", MLXB_TOKENIZE_ADD_BOS);

    Context batched = new_context(m.get(), 256);
    ASSERT_EQ(decode_seq(batched.get(), prompt, 0, true), MLXB_OK) << mlxb_last_error();
    std::vector<std::vector<float>> rows;
    for (size_t i = 0; i < prompt.size(); i++) {
        const float * l = mlxb_get_logits(batched.get(), (int32_t)i);
        ASSERT_NE(l, nullptr);
        rows.emplace_back(l, l + V);
    }
    Context single = new_context(m.get(), 256);
    for (size_t i = 0; i < prompt.size(); i++) {
        ASSERT_EQ(decode_seq(single.get(), {prompt[i]}, 0, false), MLXB_OK);
        const float * l = mlxb_get_logits(single.get(), 0);
        ASSERT_NE(l, nullptr);
        for (int32_t k = 0; k < V; k++) ASSERT_NEAR(l[k], rows[i][k], 1e-4f) << "position " << i << " token " << k;
    }
}
