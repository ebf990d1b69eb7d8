// llama.cpp's tokenizer conformance vectors (shared/tokenizers/*.inp/.out), one test per vocabulary, plus the
// round trip and buffer protocol of the C API.
#include <thread>

#include "test_util.h"

using namespace mlxb_test;

namespace {

struct Case {
    std::string text;
    std::vector<mlxb_token> ids;
};

// .inp: inputs separated by "\n__ggml_vocab_test__\n" (also after the last); .out: one line of ids per input.
std::vector<Case> read_cases(const std::string & inp_path, const std::string & out_path) {
    const std::string inp = read_file(inp_path), out = read_file(out_path);
    const std::string sep = "\n__ggml_vocab_test__\n";
    std::vector<Case> cases;
    for (size_t pos = 0;;) {
        size_t hit = inp.find(sep, pos);
        if (hit == std::string::npos) break;
        cases.push_back({inp.substr(pos, hit - pos), {}});
        pos = hit + sep.size();
    }
    std::istringstream lines(out);
    std::string line;
    for (Case & c : cases) {
        if (!std::getline(lines, line)) break;
        std::istringstream ids(line);
        for (long v; ids >> v;) c.ids.push_back((mlxb_token)v);
    }
    return cases;
}

std::string show(const std::vector<mlxb_token> & v) {
    std::string s;
    for (mlxb_token t : v) s += " " + std::to_string(t);
    return s;
}

class Vectors : public ::testing::TestWithParam<const char *> {};

}  // namespace

TEST_P(Vectors, EveryCaseMatchesLlamaCpp) {
    const std::string name = GetParam();
    MLXB_REQUIRE_SHARED(gguf, "tokenizers/" + name + ".gguf");
    const std::vector<Case> cases = read_cases(gguf + ".inp", gguf + ".out");
    ASSERT_GE(cases.size(), 40u) << "could not read the vectors beside " << gguf;
    Model m = load_model(gguf, /*vocab_only=*/true);
    ASSERT_TRUE(m);
    int failures = 0;
    for (const Case & c : cases) {
        const std::vector<mlxb_token> got = tokenize(m.get(), c.text, 0);
        if (got != c.ids) {
            ADD_FAILURE() << name << ": input \"" << c.text << "\"\n  expected" << show(c.ids) << "\n  got     " << show(got);
            failures++;
        }
    }
    EXPECT_EQ(failures, 0);

    // The tokenizer has no mutable state: every case on several threads at once gives the same ids.
    std::vector<std::thread> threads;
    std::vector<int> wrong(4, 0);
    for (int t = 0; t < 4; t++)
        threads.emplace_back([&, t] {
            for (const Case & c : cases) wrong[t] += tokenize(m.get(), c.text, 0) != c.ids;
        });
    for (auto & th : threads) th.join();
    for (int t = 0; t < 4; t++) EXPECT_EQ(wrong[t], failures) << "thread " << t;
}

TEST_P(Vectors, DetokenizeInvertsTokenize) {
    const std::string name = GetParam();
    MLXB_REQUIRE_SHARED(gguf, "tokenizers/" + name + ".gguf");
    Model m = load_model(gguf, true);
    ASSERT_TRUE(m);
    const bool spm = name.find("spm") != std::string::npos;
    for (const Case & c : read_cases(gguf + ".inp", gguf + ".out")) {
        // SentencePiece prepends a space it then strips on the way back; byte-level BPE is lossless as is.
        const std::string back = detokenize(m.get(), c.ids, spm ? MLXB_DETOK_STRIP_LEADING : 0);
        EXPECT_EQ(back, c.text) << name << ":" << show(c.ids);
    }
}

INSTANTIATE_TEST_SUITE_P(Shared, Vectors,
                         ::testing::Values("ggml-vocab-llama-spm", "ggml-vocab-gpt-2", "ggml-vocab-qwen2"),
                         [](const ::testing::TestParamInfo<const char *> & i) {
                             std::string s = i.param + 11;  // drop "ggml-vocab-"
                             for (char & ch : s) if (ch == '-') ch = '_';
                             return s;
                         });

TEST(Tokenizer, Stories260KPromptAndBufferProtocol) {
    MLXB_REQUIRE_SHARED(path, "models/stories260K.gguf");
    Model m = load_model(path, true);
    ASSERT_TRUE(m);
    EXPECT_EQ(mlxb_model_n_vocab(m.get()), 512);
    const std::string text = "Once upon a time";
    const std::vector<mlxb_token> ids = tokenize(m.get(), text, MLXB_TOKENIZE_ADD_BOS);
    ASSERT_GE(ids.size(), 3u);
    EXPECT_EQ(ids[0], 1);
    EXPECT_EQ(detokenize(m.get(), ids, MLXB_DETOK_STRIP_LEADING), text);
    // Two-call protocol: too small a buffer gives -(needed) and writes nothing past cap.
    std::vector<mlxb_token> small(ids.size() + 1, -7);
    EXPECT_EQ(mlxb_tokenize(m.get(), text.c_str(), -1, small.data(), 1, MLXB_TOKENIZE_ADD_BOS), -(int32_t)ids.size());
    EXPECT_EQ(small[1], -7);
    EXPECT_EQ(mlxb_tokenize(m.get(), "", 0, small.data(), 1, 0), 0);
    EXPECT_EQ(mlxb_tokenize(m.get(), "", 0, small.data(), 1, MLXB_TOKENIZE_ADD_BOS), 1);
    char piece[4] = {'x', 'x', 'x', 'x'};
    EXPECT_EQ(mlxb_token_to_piece(m.get(), ids[0], piece, 4, 0), 0);  // BOS is a control token: renders as ""
    EXPECT_GT(mlxb_token_to_piece(m.get(), ids[0], piece, 4, MLXB_DETOK_RENDER_SPECIAL), 0);
    EXPECT_EQ(mlxb_token_to_piece(m.get(), 512, piece, 4, 0), MLXB_ERR_ARG);
    // Byte fallback: a character outside the 512-token vocabulary survives the round trip as bytes.
    const std::string odd = "snow \xe2\x98\x83 man";
    EXPECT_EQ(detokenize(m.get(), tokenize(m.get(), odd, 0), MLXB_DETOK_STRIP_LEADING), odd);
}
