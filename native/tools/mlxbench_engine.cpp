// mlxbench-engine: the engine's command line.
//   generate   prompt -> text (greedy by default), streamed to stdout; timings on stderr
//   bench      llama-bench-style prompt processing (pp) and generation (tg) throughput, markdown and/or JSON
//   gen-model  a GGUF of a named shape with random weights, so benchmarks need no downloads
//   convert    GGUF -> MLX model folder (optionally MLX affine quantized)
//   info       what a GGUF holds and which kernels this CPU gets
// Everything goes through the public C API (mlxb.h) except gen-model, which uses the internal GGUF writer.
// Exit codes: 0 success, 1 failure (message on stderr), 2 bad usage.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <time.h>
#include <unistd.h>

#include "common.h"
#include "mlxb.h"
#include "gguf.h"
#include "mlx/mlx_convert.h"
#include "model_gen.h"

namespace {

// ---- arguments ----------------------------------------------------------------------------------------------------

struct UsageError {
    std::string msg;
};

// "--name value" / "-n value" options after the command; flags listed in `flags` take no value.
struct Args {
    std::map<std::string, std::string> opt;
    Args(int argc, char ** argv, int first, const std::vector<std::string> & known, const std::vector<std::string> & flags) {
        for (int i = first; i < argc; i++) {
            std::string a = argv[i];
            if (std::find(known.begin(), known.end(), a) == known.end()) throw UsageError{"unknown option '" + a + "'"};
            if (std::find(flags.begin(), flags.end(), a) != flags.end()) { opt[a] = "1"; continue; }
            if (i + 1 >= argc) throw UsageError{"option '" + a + "' needs a value"};
            opt[a] = argv[++i];
        }
    }
    std::string get(const std::string & a, const std::string & b, const std::string & def = "") const {
        auto it = opt.find(a);
        if (it == opt.end()) it = opt.find(b);
        return it == opt.end() ? def : it->second;
    }
    bool has(const std::string & a) const { return opt.count(a) != 0; }
    long num(const std::string & a, const std::string & b, long def, long lo, long hi) const {
        std::string s = get(a, b);
        if (s.empty()) return def;
        char * end = nullptr;
        long v = std::strtol(s.c_str(), &end, 10);
        if (*end || v < lo || v > hi)
            throw UsageError{"option '" + a + "' wants an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got '" + s + "'"};
        return v;
    }
    double real(const std::string & a, double def) const {
        std::string s = get(a, a);
        if (s.empty()) return def;
        char * end = nullptr;
        double v = std::strtod(s.c_str(), &end);
        if (*end || !std::isfinite(v)) throw UsageError{"option '" + a + "' wants a number, got '" + s + "'"};
        return v;
    }
};

std::vector<std::string> split(const std::string & s, char sep) {
    std::vector<std::string> out;
    size_t a = 0;
    for (size_t b; (b = s.find(sep, a)) != std::string::npos; a = b + 1) out.push_back(s.substr(a, b - a));
    out.push_back(s.substr(a));
    return out;
}

struct Failure {
    std::string msg;
};

void check(int32_t rc, const std::string & what) {
    if (rc != MLXB_OK) throw Failure{what + ": " + mlxb_status_str(rc) + ": " + mlxb_last_error()};
}

struct ModelDel { void operator()(mlxb_model * m) const { mlxb_model_free(m); } };
struct CtxDel { void operator()(mlxb_context * c) const { mlxb_context_free(c); } };
struct SamplerDel { void operator()(mlxb_sampler * s) const { mlxb_sampler_free(s); } };
using ModelPtr = std::unique_ptr<mlxb_model, ModelDel>;
using CtxPtr = std::unique_ptr<mlxb_context, CtxDel>;

ModelPtr load(const std::string & path) {
    if (path.empty()) throw UsageError{"-m MODEL.gguf is required"};
    mlxb_model * m = nullptr;
    check(mlxb_model_load(path.c_str(), nullptr, &m), "loading " + path);
    return ModelPtr(m);
}

CtxPtr context(mlxb_model * m, int32_t n_ctx, int32_t n_batch, int32_t threads, int32_t n_seq = 1) {
    mlxb_context_params p = mlxb_context_default_params();
    p.n_ctx = n_ctx;
    p.n_seq_max = n_seq;
    p.n_batch = n_batch;
    p.n_threads = threads;
    mlxb_context * c = nullptr;
    check(mlxb_context_new(m, &p, &c), "creating a context");
    return CtxPtr(c);
}

std::string meta(const mlxb_model * m, const char * key) {
    int32_t n = mlxb_model_meta_str(m, key, nullptr, 0);
    if (n < 0) return {};
    std::string s((size_t)n + 1, '\0');
    mlxb_model_meta_str(m, key, s.data(), n + 1);
    s.resize((size_t)n);
    return s;
}

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// ---- generate -----------------------------------------------------------------------------------------------------

int cmd_generate(const Args & a) {
    ModelPtr m = load(a.get("-m", "--model"));
    const std::string prompt = a.get("-p", "--prompt", "");
    const int32_t n_gen = (int32_t)a.num("-n", "--n-predict", 128, 0, 1 << 20);
    const int32_t threads = (int32_t)a.num("-t", "--threads", 0, 0, 1024);
    const int32_t n_ctx = (int32_t)a.num("-c", "--ctx-size", 0, 0, 1 << 24);

    int32_t flags = mlxb_model_add_bos(m.get()) ? MLXB_TOKENIZE_ADD_BOS : 0;
    int32_t n = mlxb_tokenize(m.get(), prompt.data(), (int32_t)prompt.size(), nullptr, 0, flags);
    std::vector<mlxb_token> toks((size_t)std::max(0, -n));
    if (n < 0) n = mlxb_tokenize(m.get(), prompt.data(), (int32_t)prompt.size(), toks.data(), (int32_t)toks.size(), flags);
    if (n < 0) check(n, "tokenizing the prompt");
    if (toks.empty()) throw UsageError{"the prompt is empty and the model adds no BOS token: give -p TEXT"};

    CtxPtr c = context(m.get(), n_ctx, std::max<int32_t>(512, (int32_t)toks.size()), threads);
    if ((int32_t)toks.size() + n_gen > mlxb_context_n_ctx(c.get()))
        throw UsageError{"prompt (" + std::to_string(toks.size()) + " tokens) + -n " + std::to_string(n_gen) +
                         " exceed the context of " + std::to_string(mlxb_context_n_ctx(c.get())) + " (use -c)"};

    mlxb_sampler_params sp = mlxb_sampler_default_params();
    sp.temperature = (float)a.real("--temp", 0.0);
    sp.top_k = (int32_t)a.num("--top-k", "--top-k", 0, 0, 1 << 24);
    sp.top_p = (float)a.real("--top-p", 1.0);
    sp.min_p = (float)a.real("--min-p", 0.0);
    sp.seed = (uint64_t)a.num("-s", "--seed", 0, 0, INT64_MAX);
    mlxb_sampler * s_raw = nullptr;
    check(mlxb_sampler_new(m.get(), &sp, &s_raw), "creating the sampler");
    std::unique_ptr<mlxb_sampler, SamplerDel> s(s_raw);

    // Echo the prompt as the model sees it (detokenized), then stream each new piece.
    std::string text((size_t)std::max(0, -mlxb_detokenize(m.get(), toks.data(), (int32_t)toks.size(), nullptr, 0, MLXB_DETOK_STRIP_LEADING)), '\0');
    mlxb_detokenize(m.get(), toks.data(), (int32_t)toks.size(), text.data(), (int32_t)text.size(), MLXB_DETOK_STRIP_LEADING);
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);

    auto t0 = Clock::now();
    mlxb_batch b{(int32_t)toks.size(), toks.data(), nullptr, nullptr, nullptr};
    check(mlxb_decode(c.get(), &b), "decoding the prompt");
    const double t_prompt = seconds_since(t0);
    int32_t row = (int32_t)toks.size() - 1, generated = 0;
    auto t1 = Clock::now();
    bool first_piece = toks.size() == 1 && flags;  // nothing but BOS so far: strip the first piece's space
    char piece[256];
    for (; generated < n_gen; generated++) {
        mlxb_token t = mlxb_sampler_sample(s.get(), c.get(), row);
        if (t < 0) check(t, "sampling");
        if (mlxb_token_is_eog(m.get(), t)) break;
        int32_t len = mlxb_token_to_piece(m.get(), t, piece, sizeof piece, 0);
        if (len > 0) {
            const char * p = piece;
            if (first_piece && *p == ' ') p++, len--;
            std::fwrite(p, 1, (size_t)len, stdout);
            std::fflush(stdout);
            first_piece = false;
        }
        mlxb_batch one{1, &t, nullptr, nullptr, nullptr};
        int32_t rc = mlxb_decode(c.get(), &one);
        if (rc == MLXB_CONTEXT_FULL) break;
        check(rc, "decoding");
        row = 0;
    }
    const double t_gen = seconds_since(t1);
    std::fputc('\n', stdout);
    std::fprintf(stderr, "prompt: %zu tokens in %.3f s (%.1f t/s); generated: %d tokens in %.3f s (%.1f t/s); %s\n",
                 toks.size(), t_prompt, toks.size() / std::max(t_prompt, 1e-9), generated, t_gen,
                 generated / std::max(t_gen, 1e-9), mlxb_system_info());
    return 0;
}

// ---- bench --------------------------------------------------------------------------------------------------------

struct BenchResult {
    std::string model_path, model_name, model_type;
    int64_t size_bytes, n_params;
    int32_t threads, n_prompt, n_gen;
    int32_t n_parallel = 1;  // tg: sequences decoded side by side, one token each per decode call
    std::vector<double> samples_ns;
    std::vector<double> samples_cpu_ns;  // process CPU time (all threads) of each sample
    // Tokens per CPU-second: on a machine shared with other work, wall-clock rates say more about the neighbours;
    // this says what the engine's own work costs (n_threads x this bounds the rate an idle machine would give).
    double tokens() const { return n_prompt + (double)n_gen * n_parallel; }  // per sample, all sequences
    double cpu_ts() const {
        double s = 0;
        for (double ns : samples_cpu_ns) s += ns;
        return s > 0 ? tokens() * samples_cpu_ns.size() / (s * 1e-9) : 0;
    }
    double mean_ts() const {
        double s = 0;
        for (double ns : samples_ns) s += tokens() / (ns * 1e-9);
        return s / samples_ns.size();
    }
    double stddev_ts() const {
        if (samples_ns.size() < 2) return 0;
        const double m = mean_ts();
        double s = 0;
        for (double ns : samples_ns) s += std::pow(tokens() / (ns * 1e-9) - m, 2);
        return std::sqrt(s / (samples_ns.size() - 1));
    }
    // tgNxP: P sequences generating N tokens each (llama-batched-bench's -npl), aggregate t/s.
    std::string test() const {
        if (n_prompt) return "pp" + std::to_string(n_prompt);
        return "tg" + std::to_string(n_gen) + (n_parallel > 1 ? "x" + std::to_string(n_parallel) : "");
    }
};

// Random token ids (not BOS/EOS), as llama-bench uses: speed does not depend on which tokens.
std::vector<mlxb_token> bench_tokens(int32_t n, int32_t n_vocab, uint32_t seed) {
    std::vector<mlxb_token> t((size_t)n);
    for (mlxb_token & x : t) {
        seed = seed * 1664525u + 1013904223u;
        x = 3 + (mlxb_token)((seed >> 8) % (uint32_t)std::max(1, n_vocab - 3));
    }
    return t;
}

// One run: pp = the n_prompt tokens in batches of n_batch from an empty cache; tg = n_gen single-token decodes
// from an empty cache (llama-bench's definitions).
double process_cpu_ns() {
    timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

// With n_par > 1, tg decodes n_par sequences at once: each call carries one token of every sequence (continuous
// batching of n_par generations), all from empty caches.
double bench_once(mlxb_context * c, const std::vector<mlxb_token> & toks, int32_t n_prompt, int32_t n_gen, int32_t n_batch,
                  double * cpu_ns = nullptr, int32_t n_par = 1) {
    for (int32_t s = 0; s < n_par; s++) check(mlxb_seq_truncate(c, s, 0), "clearing the cache");
    std::vector<mlxb_token> step((size_t)n_par);
    std::vector<mlxb_seq_id> ids((size_t)n_par);
    for (int32_t s = 0; s < n_par; s++) ids[s] = s;
    const double c0 = process_cpu_ns();
    auto t0 = Clock::now();
    for (int32_t i = 0; i < n_prompt; i += n_batch) {
        mlxb_batch b{std::min(n_batch, n_prompt - i), toks.data() + i, nullptr, nullptr, nullptr};
        check(mlxb_decode(c, &b), "decoding");
    }
    for (int32_t i = 0; i < n_gen; i++) {
        for (int32_t s = 0; s < n_par; s++) step[s] = toks[((size_t)i * 7 + s) % toks.size()];
        mlxb_batch b{n_par, step.data(), ids.data(), nullptr, nullptr};
        check(mlxb_decode(c, &b), "decoding");
    }
    const double wall = seconds_since(t0) * 1e9;
    if (cpu_ns) *cpu_ns = process_cpu_ns() - c0;
    return wall;
}

std::string human_size(int64_t b) {
    char buf[32];
    if (b >= (1ll << 30)) std::snprintf(buf, sizeof buf, "%.2f GiB", b / 1073741824.0);
    else std::snprintf(buf, sizeof buf, "%.2f MiB", b / 1048576.0);
    return buf;
}

std::string human_params(int64_t n) {
    char buf[32];
    if (n >= 1000000000) std::snprintf(buf, sizeof buf, "%.2f B", n / 1e9);
    else std::snprintf(buf, sizeof buf, "%.2f M", n / 1e6);
    return buf;
}

std::string json_str(const std::string & s) {
    std::string o = "\"";
    for (unsigned char ch : s) {
        if (ch == '"' || ch == '\\') o += '\\', o += (char)ch;
        else if (ch < 0x20) { char b[8]; std::snprintf(b, sizeof b, "\\u%04x", ch); o += b; }
        else o += (char)ch;
    }
    return o + "\"";
}

void print_markdown(std::FILE * f, const std::vector<BenchResult> & rs) {
    std::fprintf(f, "| model | size | params | backend | threads | test | t/s |\n");
    std::fprintf(f, "| --- | ---: | ---: | --- | ---: | ---: | ---: |\n");
    const std::string info = mlxb_system_info();
    const std::string kern = info.substr(info.find("kernels=") + 8);
    for (const BenchResult & r : rs)
        std::fprintf(f, "| %s | %s | %s | CPU (%s) | %d | %s | %.2f ± %.2f |\n", r.model_type.c_str(),
                     human_size(r.size_bytes).c_str(), human_params(r.n_params).c_str(), kern.c_str(), r.threads,
                     r.test().c_str(), r.mean_ts(), r.stddev_ts());
}

void print_json(std::FILE * f, const std::vector<BenchResult> & rs) {
    std::fprintf(f, "[\n");
    for (size_t i = 0; i < rs.size(); i++) {
        const BenchResult & r = rs[i];
        std::fprintf(f, "  {\"model_filename\": %s, \"model_name\": %s, \"model_type\": %s, \"model_size\": %lld, "
                        "\"model_n_params\": %lld, \"backend\": \"CPU\", \"system_info\": %s, \"n_threads\": %d, "
                        "\"test\": %s, \"n_prompt\": %d, \"n_gen\": %d, \"samples_ns\": [",
                     json_str(r.model_path).c_str(), json_str(r.model_name).c_str(), json_str(r.model_type).c_str(),
                     (long long)r.size_bytes, (long long)r.n_params, json_str(mlxb_system_info()).c_str(), r.threads,
                     json_str(r.test()).c_str(), r.n_prompt, r.n_gen);
        for (size_t k = 0; k < r.samples_ns.size(); k++) std::fprintf(f, "%s%.0f", k ? ", " : "", r.samples_ns[k]);
        std::fprintf(f, "], \"samples_ts\": [");
        for (size_t k = 0; k < r.samples_ns.size(); k++)
            std::fprintf(f, "%s%.4f", k ? ", " : "", r.tokens() / (r.samples_ns[k] * 1e-9));
        std::fprintf(f, "], \"samples_cpu_ns\": [");
        for (size_t k = 0; k < r.samples_cpu_ns.size(); k++) std::fprintf(f, "%s%.0f", k ? ", " : "", r.samples_cpu_ns[k]);
        std::fprintf(f, "], \"n_parallel\": %d, \"avg_ts\": %.4f, \"stddev_ts\": %.4f, \"cpu_ts\": %.4f}%s\n", r.n_parallel,
                     r.mean_ts(), r.stddev_ts(), r.cpu_ts(), i + 1 < rs.size() ? "," : "");
    }
    std::fprintf(f, "]\n");
}

// Writes text to path through a temporary file and a rename, so a reader never sees half a report.
void write_atomically(const std::string & path, const std::function<void(std::FILE *)> & body) {
    const std::string tmp = path + ".tmp" + std::to_string(::getpid());
    std::FILE * f = std::fopen(tmp.c_str(), "w");
    if (!f) throw Failure{"cannot create " + tmp + ": " + std::strerror(errno)};
    body(f);
    const bool ok = !std::ferror(f) && std::fclose(f) == 0;
    if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
        std::remove(tmp.c_str());
        throw Failure{"cannot write " + path};
    }
}

std::vector<int32_t> int_list(const std::string & s, const char * what) {
    std::vector<int32_t> v;
    for (const std::string & x : split(s, ',')) {
        char * end = nullptr;
        long n = std::strtol(x.c_str(), &end, 10);
        if (x.empty() || *end || n < 0 || n > (1 << 20)) throw UsageError{std::string(what) + ": bad value '" + x + "'"};
        v.push_back((int32_t)n);
    }
    return v;
}

int cmd_bench(const Args & a) {
    const std::vector<std::string> models = split(a.get("-m", "--model"), ',');
    const std::vector<int32_t> pps = int_list(a.get("-p", "--n-prompt", "512"), "-p");
    const std::vector<int32_t> tgs = int_list(a.get("-n", "--n-gen", "128"), "-n");
    const std::vector<int32_t> threads = int_list(a.get("-t", "--threads", "2"), "-t");
    const std::vector<int32_t> pars = int_list(a.get("-np", "--n-parallel", "1"), "-np");
    for (int32_t np : pars)
        if (np < 1 || np > 256) throw UsageError{"-np: parallel sequences must be in [1, 256]"};
    const int32_t max_par = *std::max_element(pars.begin(), pars.end());
    const int32_t reps = (int32_t)a.num("-r", "--repetitions", 5, 1, 1000);
    const int32_t n_batch = (int32_t)a.num("-b", "--batch-size", 512, 1, 1 << 16);
    const std::string format = a.get("-o", "--output", "md");
    if (format != "md" && format != "json" && format != "both") throw UsageError{"-o wants md, json or both"};
    const std::string json_path = a.get("--json-out", "--json-out");
    const bool progress = !a.has("--quiet");

    std::vector<BenchResult> results;
    for (const std::string & path : models) {
        ModelPtr m = load(path);
        const int32_t V = mlxb_model_n_vocab(m.get());
        std::string name = meta(m.get(), "general.name");
        const int32_t max_tokens = std::max(*std::max_element(pps.begin(), pps.end()), *std::max_element(tgs.begin(), tgs.end()));
        const std::vector<mlxb_token> toks = bench_tokens(max_tokens, V, 1234);
        for (int32_t th : threads) {
            CtxPtr c = context(m.get(), std::max(max_tokens, 16), std::max(n_batch, max_par), th == 0 ? 0 : th, max_par);
            struct Test { int32_t pp, tg, par; };
            std::vector<Test> tests;
            for (int32_t p : pps) if (p > 0) tests.push_back({p, 0, 1});
            for (int32_t par : pars)
                for (int32_t g : tgs) if (g > 0) tests.push_back({0, g, par});
            for (auto [np, ng, par] : tests) {
                BenchResult r{path, name, "", mlxb_model_size_bytes(m.get()), mlxb_model_n_params(m.get()),
                              mlxb_context_n_threads(c.get()), np, ng};
                r.n_parallel = par;
                std::string arch = meta(m.get(), "general.architecture");
                r.model_type = (name.empty() ? arch : name) + " " + meta(m.get(), "general.file_type_name");
                if (r.model_type.back() == ' ') r.model_type.pop_back();
                bench_once(c.get(), toks, np, ng, n_batch, nullptr, par);  // warm-up: page in the weights, spin up the threads
                for (int32_t k = 0; k < reps; k++) {
                    double cpu = 0;
                    r.samples_ns.push_back(bench_once(c.get(), toks, np, ng, n_batch, &cpu, par));
                    r.samples_cpu_ns.push_back(cpu);
                }
                if (progress)
                    std::fprintf(stderr, "%s %s t=%d: %.2f ± %.2f t/s (%.0f t per CPU-second)\n", path.c_str(),
                                 r.test().c_str(), r.threads, r.mean_ts(), r.stddev_ts(), r.cpu_ts());
                results.push_back(std::move(r));
            }
        }
    }
    if (format == "md" || format == "both") print_markdown(stdout, results);
    if (format == "json" || format == "both") print_json(stdout, results);
    if (!json_path.empty()) write_atomically(json_path, [&](std::FILE * f) { print_json(f, results); });
    return 0;
}

// ---- gen-model ----------------------------------------------------------------------------------------------------

int gen_model_mlx(const mlxb::ModelShape & shape, uint64_t seed, const Args & a, const std::string & out);

int cmd_gen_model(const Args & a) {
    const std::string shape_name = a.get("--shape", "--shape");
    const std::string type_name = a.get("--type", "--type", "F32");
    const std::string out = a.get("-o", "--output");
    const mlxb::ModelShape * shape = mlxb::find_shape(shape_name);
    if (!shape) {
        std::string names;
        for (const auto & s : mlxb::named_shapes()) names += " " + s.name;
        throw UsageError{"--shape: unknown shape '" + shape_name + "' (known:" + names + ")"};
    }
    mlxb::TensorType type;
    if (!mlxb::parse_tensor_type(type_name, &type)) throw UsageError{"--type wants F32, F16, BF16, Q8_0 or Q4_0"};
    if (out.empty()) throw UsageError{"-o FILE.gguf is required"};
    const uint64_t seed = (uint64_t)a.num("-s", "--seed", 1, 0, INT64_MAX);
    const std::string format = a.get("--format", "--format", "gguf");
    if (format == "mlx") return gen_model_mlx(*shape, seed, a, out);
    if (format != "gguf") throw UsageError{"--format wants gguf or mlx"};
    mlxb::GgufWriter w = mlxb::random_model(*shape, type, seed);
    w.kv_str("general.file_type_name", mlxb::tensor_type_name(type));
    // Temp name then rename: an interrupted run leaves no half-written model behind under the real name.
    const std::string tmp = out + ".tmp" + std::to_string(::getpid());
    try {
        w.write_file(tmp);
    } catch (const mlxb::Error & e) {
        std::remove(tmp.c_str());
        throw Failure{e.what()};
    }
    if (std::rename(tmp.c_str(), out.c_str()) != 0) {
        std::remove(tmp.c_str());
        throw Failure{"cannot move " + tmp + " to " + out + ": " + std::strerror(errno)};
    }
    std::fprintf(stderr, "wrote %s (%s, %s)\n", out.c_str(), shape->name.c_str(), mlxb::tensor_type_name(type));
    return 0;
}

// ---- convert / gen-model --format mlx -------------------------------------------------------------------------------

mlxb::MlxConvertOptions mlx_options(const Args & a) {
    mlxb::MlxConvertOptions o;
    o.bits = (int32_t)a.num("--q-bits", "--q-bits", 0, 0, 8);
    o.group = (int32_t)a.num("--q-group-size", "--q-group-size", 64, 1, 1024);
    if (o.bits && o.bits != 2 && o.bits != 4 && o.bits != 8) throw UsageError{"--q-bits wants 2, 4 or 8"};
    if (o.group != 32 && o.group != 64 && o.group != 128) throw UsageError{"--q-group-size wants 32, 64 or 128"};
    const std::string dt = a.get("--dtype", "--dtype", "float16");
    if (dt == "float16" || dt == "f16") o.dtype = mlxb::StDtype::F16;
    else if (dt == "bfloat16" || dt == "bf16") o.dtype = mlxb::StDtype::BF16;
    else if (dt == "float32" || dt == "f32") o.dtype = mlxb::StDtype::F32;
    else throw UsageError{"--dtype wants float16, bfloat16 or float32"};
    return o;
}

int cmd_convert(const Args & a) {
    const std::string in = a.get("-m", "--model"), out = a.get("-o", "--output");
    if (in.empty() || out.empty()) throw UsageError{"convert needs -m MODEL.gguf and -o FOLDER"};
    const mlxb::MlxConvertOptions o = mlx_options(a);
    try {
        mlxb::GgufFile f(in);
        mlxb::convert_to_mlx(f, mlxb::gguf_source_tensors(f), out, o);
    } catch (const mlxb::Error & e) {
        throw Failure{e.what()};
    }
    std::fprintf(stderr, "wrote %s (%s)\n", out.c_str(), o.bits ? ("mlx-" + std::to_string(o.bits) + "bit, group " + std::to_string(o.group)).c_str() : "unquantized");
    return 0;
}

int gen_model_mlx(const mlxb::ModelShape & shape, uint64_t seed, const Args & a, const std::string & out) {
    const mlxb::MlxConvertOptions o = mlx_options(a);
    try {
        mlxb::GgufWriter w = mlxb::random_model(shape, mlxb::TensorType::F32, seed);
        const std::vector<uint8_t> meta = w.metadata_bytes();
        mlxb::GgufFile f(meta.data(), meta.size());
        mlxb::convert_to_mlx(f, mlxb::writer_source_tensors(w), out, o);
    } catch (const mlxb::Error & e) {
        throw Failure{e.what()};
    }
    std::fprintf(stderr, "wrote %s (%s, MLX %s)\n", out.c_str(), shape.name.c_str(), o.bits ? (std::to_string(o.bits) + "-bit").c_str() : "float");
    return 0;
}

// ---- info ---------------------------------------------------------------------------------------------------------

int cmd_info(const Args & a) {
    mlxb_model_params p = mlxb_model_default_params();
    const std::string path = a.get("-m", "--model");
    if (path.empty()) {  // no model: what this CPU gets
        std::printf("system: %s\n", mlxb_system_info());
        return 0;
    }
    mlxb_model * raw = nullptr;
    check(mlxb_model_load(path.c_str(), &p, &raw), "loading " + path);
    ModelPtr m(raw);
    std::printf("architecture: %s\nname: %s\nvocabulary: %d\nembedding: %d\nlayers: %d\ncontext (trained): %d\n"
                "parameters: %lld\ntensor bytes: %lld\nbos: %d\neos: %d\nsystem: %s\n",
                meta(m.get(), "general.architecture").c_str(), meta(m.get(), "general.name").c_str(),
                mlxb_model_n_vocab(m.get()), mlxb_model_n_embd(m.get()), mlxb_model_n_layer(m.get()),
                mlxb_model_n_ctx_train(m.get()), (long long)mlxb_model_n_params(m.get()),
                (long long)mlxb_model_size_bytes(m.get()), mlxb_model_token_bos(m.get()), mlxb_model_token_eos(m.get()),
                mlxb_system_info());
    return 0;
}

const char * k_usage =
    "usage: mlxbench-engine <command> [options]\n"
    "\n"
    "  generate  -m MODEL [-p PROMPT] [-n 128] [-t THREADS] [-c CTX] [--temp 0] [--top-k 0] [--top-p 1] [--min-p 0] [-s SEED]\n"
    "            greedy unless --temp > 0; the text goes to stdout, timings to stderr\n"
    "  bench     -m MODEL[,MODEL...] [-p 512[,N...]] [-n 128[,N...]] [-t 2[,N...]] [-np 1[,N...]] [-r 5] [-b 512]\n"
    "            [-o md|json|both] [--json-out FILE] [--quiet]\n"
    "            llama-bench-style: ppN = N prompt tokens in one batch, tgN = N tokens one at a time, both from an empty\n"
    "            cache; one warm-up run, then -r repetitions; t/s as mean ± sample stddev. -np P: tgNxP runs P\n"
    "            sequences side by side (each decode carries one token of each), t/s summed over all of them\n"
    "  gen-model --shape stories15M|stories110M|tinyllama-1.1B|qwen3-0.6B [--type F32|F16|BF16|Q8_0|Q4_0] -o FILE\n"
    "            [-s SEED]: random weights of that shape (a synthetic vocabulary of the shape's size)\n"
    "            [--format mlx [--q-bits 4|8 --q-group-size 64] [--dtype float16]]: an MLX folder instead of a GGUF\n"
    "  convert   -m MODEL.gguf -o FOLDER [--q-bits 2|4|8] [--q-group-size 32|64|128] [--dtype float16|bfloat16|float32]\n"
    "            an MLX model folder (config.json, model.safetensors, tokenizer.json); with --q-bits, every matrix whose\n"
    "            input size is a multiple of the group size gets MLX affine quantization, as mlx-lm convert -q does\n"
    "  info      [-m MODEL]   the model's metadata; always the CPU features and kernels chosen\n";

}  // namespace

int main(int argc, char ** argv) {
    if (argc < 2 || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "--help")) {
        std::fputs(k_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const std::string cmd = argv[1];
    try {
        if (cmd == "generate")
            return cmd_generate(Args(argc, argv, 2, {"-m", "--model", "-p", "--prompt", "-n", "--n-predict", "-t", "--threads",
                                                     "-c", "--ctx-size", "--temp", "--top-k", "--top-p", "--min-p", "-s", "--seed"}, {}));
        if (cmd == "bench")
            return cmd_bench(Args(argc, argv, 2, {"-m", "--model", "-p", "--n-prompt", "-n", "--n-gen", "-t", "--threads", "-r",
                                                  "--repetitions", "-np", "--n-parallel", "-b", "--batch-size", "-o", "--output", "--json-out", "--quiet"},
                                  {"--quiet"}));
        if (cmd == "gen-model")
            return cmd_gen_model(Args(argc, argv, 2, {"--shape", "--type", "-o", "--output", "-s", "--seed", "--format", "--q-bits",
                                                      "--q-group-size", "--dtype"}, {}));
        if (cmd == "convert")
            return cmd_convert(Args(argc, argv, 2, {"-m", "--model", "-o", "--output", "--q-bits", "--q-group-size", "--dtype"}, {}));
        if (cmd == "info") return cmd_info(Args(argc, argv, 2, {"-m", "--model"}, {}));
        throw UsageError{"unknown command '" + cmd + "'"};
    } catch (const UsageError & e) {
        std::fprintf(stderr, "mlxbench-engine: %s\n\n%s", e.msg.c_str(), k_usage);
        return 2;
    } catch (const Failure & e) {
        std::fprintf(stderr, "mlxbench-engine: error: %s\n", e.msg.c_str());
        return 1;
    } catch (const std::exception & e) {
        std::fprintf(stderr, "mlxbench-engine: error: %s\n", e.what());
        return 1;
    }
}
