// mlxbench-engine as a user runs it: real processes, real files, exit codes and output formats.
#include <sys/wait.h>

#include "gguf.h"
#include "test_util.h"

using namespace mlxb_test;

namespace {

struct CliRun {
    int code;
    std::string out, err;
};

// Runs the CLI with the given arguments (already shell-quoted where needed).
CliRun run_cli(const std::string & args) {
    TempFile out(".out"), err(".err");
    const std::string cmd = std::string("'") + MLXB_ENGINE_CLI + "' " + args + " >'" + out.path + "' 2>'" + err.path + "'";
    int st = std::system(cmd.c_str());
    return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, read_file(out.path), read_file(err.path)};
}

std::string q(const std::string & s) { return "'" + s + "'"; }

size_t count(const std::string & s, const std::string & what) {
    size_t n = 0;
    for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) n++;
    return n;
}

}  // namespace

TEST(Cli, GenerateStreamsTheGreedyText) {
    MLXB_REQUIRE_SHARED(model, "models/stories260K.gguf");
    CliRun r = run_cli("generate -m " + q(model) + " -p 'Once upon a time' -n 40 -t 2");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out.rfind("Once upon a time, there was a little girl named Lily. She loved to play outside in the park.", 0), 0u) << r.out;
    EXPECT_NE(r.err.find("generated: 40 tokens"), std::string::npos) << r.err;
}

TEST(Cli, GenModelWritesALoadableModelOfTheNamedShape) {
    TempFile f;
    CliRun r = run_cli("gen-model --shape stories15M --type Q4_0 -o " + q(f.path));
    ASSERT_EQ(r.code, 0) << r.err;
    mlxb::GgufFile g(f.path);
    EXPECT_EQ(g.get_int("llama.embedding_length", 0), 288);
    EXPECT_EQ(g.get_int("llama.block_count", 0), 6);
    EXPECT_EQ(g.get_int("llama.feed_forward_length", 0), 768);
    EXPECT_EQ(g.tensor("blk.0.attn_q.weight")->type, mlxb::TensorType::Q4_0);
    EXPECT_EQ(g.tensor("blk.0.attn_norm.weight")->type, mlxb::TensorType::F32);
    EXPECT_EQ(g.tensor("token_embd.weight")->ne[1], 32000);
    Model m = load_model(f.path);
    ASSERT_TRUE(m);
    EXPECT_EQ(mlxb_model_n_vocab(m.get()), 32000);
    // Same seed, same bytes: benchmarks are reproducible.
    TempFile f2;
    ASSERT_EQ(run_cli("gen-model --shape stories15M --type Q4_0 -o " + q(f2.path)).code, 0);
    EXPECT_TRUE(read_file(f.path) == read_file(f2.path));
}

TEST(Cli, GenModelRejectsUnknownShapesAndTypesWithoutWritingAFile) {
    TempFile f;
    CliRun r = run_cli("gen-model --shape stories1T -o " + q(f.path));
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.err.find("unknown shape 'stories1T'"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("tinyllama-1.1B"), std::string::npos) << r.err;
    r = run_cli("gen-model --shape stories15M --type Q5_K -o " + q(f.path));
    EXPECT_EQ(r.code, 2);
    EXPECT_FALSE(file_exists(f.path));
    r = run_cli("gen-model --shape stories15M -o /nonexistent-dir/x.gguf");
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("error:"), std::string::npos) << r.err;
}

TEST(Cli, BenchReportsPpAndTgAsMarkdownAndJson) {
    TempFile model, json(".json");
    write_model(model.path, tiny_shape(), mlxb::TensorType::Q8_0);
    CliRun r = run_cli("bench -m " + q(model.path) + " -p 32 -n 8 -r 3 -t 1,2 -o both --quiet --json-out " + q(json.path));
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("| model | size | params | backend | threads | test | t/s |"), std::string::npos) << r.out;
    EXPECT_EQ(count(r.out, "| pp32 |"), 2u) << r.out;  // one row per thread count
    EXPECT_EQ(count(r.out, "| tg8 |"), 2u) << r.out;
    EXPECT_NE(r.out.find(" ± "), std::string::npos);
    const std::string j = read_file(json.path);
    EXPECT_EQ(j.front(), '[');
    EXPECT_EQ(count(j, "\"avg_ts\""), 4u) << j;
    EXPECT_EQ(count(j, "\"test\": \"pp32\""), 2u) << j;
    EXPECT_EQ(count(j, "\"n_threads\": 2"), 2u) << j;
    // Three samples per row, each a positive rate.
    size_t at = j.find("\"samples_ts\": [");
    ASSERT_NE(at, std::string::npos);
    const std::string samples = j.substr(at + 15, j.find(']', at) - at - 15);
    EXPECT_EQ(count(samples, ","), 2u) << samples;
    EXPECT_EQ(samples.find('-'), std::string::npos) << samples;
    EXPECT_LT(r.out.find("| model"), r.out.find("[\n"));  // -o both: the table, then the JSON
}

TEST(Cli, BadUsageAndBadModelsAreReportedNotCrashedOn) {
    CliRun r = run_cli("");
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.err.find("usage:"), std::string::npos);
    r = run_cli("frobnicate");
    EXPECT_EQ(r.code, 2);
    r = run_cli("bench -m /nonexistent.gguf -r 1");
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("/nonexistent.gguf"), std::string::npos) << r.err;
    r = run_cli("bench -r 0");
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.err.find("-r"), std::string::npos) << r.err;
    TempFile junk;
    write_file(junk.path, "GGUF garbage", 12);
    r = run_cli("generate -m " + q(junk.path));
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("GGUF"), std::string::npos) << r.err;
    r = run_cli("--help");
    EXPECT_EQ(r.code, 0);
    EXPECT_NE(r.out.find("gen-model"), std::string::npos);
}
