// Helpers shared by the engine tests: where ../shared is, RAII handles over the C API, temporary files.
#pragma once

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#include "mlxb.h"

namespace mlxb_test {

// MLXBENCH_SHARED, else shared/ beside the repository (the layout every worktree and CI clone has).
inline std::string shared_dir() {
    if (const char * e = std::getenv("MLXBENCH_SHARED"); e && *e) return e;
    return std::string(MLXB_REPO_DIR) + "/../shared";
}

inline bool file_exists(const std::string & p) {
    struct stat st;
    return ::stat(p.c_str(), &st) == 0;
}

inline std::string read_file(const std::string & p) {
    std::ifstream f(p, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

inline void write_file(const std::string & p, const void * data, size_t n) {
    std::FILE * f = std::fopen(p.c_str(), "wb");
    ASSERT_NE(f, nullptr) << p;
    ASSERT_EQ(std::fwrite(data, 1, n, f), n);
    std::fclose(f);
}

// Path of a file in shared/, or skips the calling test with a clear message.
#define MLXB_REQUIRE_SHARED(var, rel)                                                                          \
    const std::string var = mlxb_test::shared_dir() + "/" + (rel);                                             \
    if (!mlxb_test::file_exists(var))                                                                          \
    GTEST_SKIP() << var << " not found: shared/ must sit beside the repository, or set MLXBENCH_SHARED"

// A unique path under the test temp dir, removed at destruction.
struct TempFile {
    std::string path;
    explicit TempFile(const std::string & suffix = ".gguf") {
        const char * base = std::getenv("TMPDIR");
        std::string tmpl = std::string(base && *base ? base : "/tmp") + "/mlxb-test-XXXXXX";
        std::vector<char> buf(tmpl.begin(), tmpl.end());
        buf.push_back(0);
        int fd = ::mkstemp(buf.data());
        if (fd >= 0) ::close(fd);
        path = std::string(buf.data());
        ::unlink(path.c_str());
        path += suffix;
    }
    ~TempFile() { ::unlink(path.c_str()); }
};

struct ModelDeleter { void operator()(mlxb_model * m) const { mlxb_model_free(m); } };
struct ContextDeleter { void operator()(mlxb_context * c) const { mlxb_context_free(c); } };
struct SamplerDeleter { void operator()(mlxb_sampler * s) const { mlxb_sampler_free(s); } };
using Model = std::unique_ptr<mlxb_model, ModelDeleter>;
using Context = std::unique_ptr<mlxb_context, ContextDeleter>;
using Sampler = std::unique_ptr<mlxb_sampler, SamplerDeleter>;

inline Model load_model(const std::string & path, bool vocab_only = false) {
    mlxb_model_params p = mlxb_model_default_params();
    p.vocab_only = vocab_only;
    mlxb_model * m = nullptr;
    int32_t rc = mlxb_model_load(path.c_str(), &p, &m);
    EXPECT_EQ(rc, MLXB_OK) << mlxb_last_error();
    return Model(m);
}

inline Context new_context(mlxb_model * m, int32_t n_ctx, int32_t n_seq = 1, int32_t n_batch = 512, int32_t n_threads = 2) {
    mlxb_context_params p = mlxb_context_default_params();
    p.n_ctx = n_ctx;
    p.n_seq_max = n_seq;
    p.n_batch = n_batch;
    p.n_threads = n_threads;
    mlxb_context * c = nullptr;
    int32_t rc = mlxb_context_new(m, &p, &c);
    EXPECT_EQ(rc, MLXB_OK) << mlxb_last_error();
    return Context(c);
}

inline std::vector<mlxb_token> tokenize(const mlxb_model * m, const std::string & text, int32_t flags) {
    int32_t n = mlxb_tokenize(m, text.data(), (int32_t)text.size(), nullptr, 0, flags);
    if (n >= 0) return std::vector<mlxb_token>();  // no tokens (or error, which callers check separately)
    std::vector<mlxb_token> out((size_t)-n);
    int32_t n2 = mlxb_tokenize(m, text.data(), (int32_t)text.size(), out.data(), (int32_t)out.size(), flags);
    EXPECT_EQ(n2, -n);
    return out;
}

inline std::string detokenize(const mlxb_model * m, const std::vector<mlxb_token> & t, int32_t flags) {
    int32_t n = mlxb_detokenize(m, t.data(), (int32_t)t.size(), nullptr, 0, flags);
    if (n >= 0) return std::string();
    std::string s((size_t)-n, '\0');
    EXPECT_EQ(mlxb_detokenize(m, t.data(), (int32_t)t.size(), s.data(), (int32_t)s.size(), flags), -n);
    return s;
}

// Decodes tokens of one sequence, all in one batch; logits for every position when all_logits.
inline int32_t decode_seq(mlxb_context * c, const std::vector<mlxb_token> & toks, mlxb_seq_id seq, bool all_logits) {
    std::vector<mlxb_seq_id> seqs(toks.size(), seq);
    std::vector<int8_t> want(toks.size(), 1);
    mlxb_batch b{(int32_t)toks.size(), toks.data(), seqs.data(), nullptr, all_logits ? want.data() : nullptr};
    return mlxb_decode(c, &b);
}

}  // namespace mlxb_test

#include "kernels/kernels.h"
#include "model_gen.h"

namespace mlxb_test {

// A small random model: 2 layers, GQA (4 heads over 2 kv heads), widths that are multiples of 32 so every tensor
// type applies, a 320-token vocabulary. Qwen3 gets heads twice as wide as n_embd / n_head, as the real ones have
// (Qwen3-0.6B: 16 heads of 128 over a width of 1024), so q and the attention output are wider than the model.
inline mlxb::ModelShape tiny_shape(const std::string & arch = "llama", bool tied = false) {
    mlxb::ModelShape s{"tiny", arch, 320, 64, 2, 4, 2, 96, 256};
    s.tied = tied;
    if (arch == "qwen3") s.head_dim = 32;
    return s;
}

// 64-byte aligned bytes (the packed weight layouts are read with aligned vector loads).
struct AlignedBytes {
    uint8_t * p = nullptr;
    AlignedBytes() = default;
    explicit AlignedBytes(size_t n) : p((uint8_t *)std::aligned_alloc(64, (n + 63) / 64 * 64)) {}
    AlignedBytes(AlignedBytes && o) noexcept : p(o.p) { o.p = nullptr; }
    AlignedBytes & operator=(AlignedBytes && o) noexcept { std::swap(p, o.p); return *this; }
    ~AlignedBytes() { std::free(p); }
};

// W (rows, cols, as mapped) in the form K's gemm reads: packed when the table repacks weights, else empty (p null:
// use W as it is).
inline AlignedBytes pack_for(const mlxb::Kernels & K, mlxb::TensorType t, const void * W, int64_t rows, int64_t cols) {
    if (K.panel_rows <= 1) return {};
    AlignedBytes out(K.packed_bytes(t, rows, cols));
    K.pack(t, W, rows, cols, 0, (rows + K.panel_rows - 1) / K.panel_rows, out.p);
    return out;
}

inline void write_model(const std::string & path, const mlxb::ModelShape & shape, mlxb::TensorType type, uint64_t seed = 7) {
    mlxb::random_model(shape, type, seed).write_file(path);
}

}  // namespace mlxb_test
