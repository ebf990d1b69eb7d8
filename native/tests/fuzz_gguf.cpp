// Fuzz target for the GGUF loader, the model builder, the tokenizer built from fuzzed metadata and the safetensors
// reader (every input is tried as both formats); built with
// ASan + UBSan (CMake option MLXB_FUZZ). Any input must give a value or an mlxb::Error, never a crash, a leak or
// undefined behaviour.
//
// LLVMFuzzerTestOneInput is libFuzzer's entry point (configure with -DMLXB_FUZZ_LIBFUZZER=ON and clang for long,
// coverage-guided runs). Without libFuzzer, the main() below drives it: it replays seed files given on the command
// line, then mutates in-memory seeds (generated models of every tensor type, plus stories260K when shared/ is there)
// for -max_total_time seconds with a fixed -seed, so a CI failure reproduces with the same arguments.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "backend.h"
#include "common.h"
#include "gguf.h"
#include "mlx/safetensors.h"
#include "model/llama.h"
#include "model_gen.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size) {
    try {
        auto file = std::make_unique<mlxb::GgufFile>(data, size);
        auto model = mlxb::Model::from_gguf(std::move(file), /*vocab_only=*/false);
        std::vector<int32_t> ids = model->tok->encode("Hello world, 123 \xc3\xbc <s>!", true, true);
        model->tok->decode(ids.data(), ids.size(), true, true);
        // A model that loads must also run: one tiny decode over its (fuzzed) shapes.
        if (model->hp.n_embd <= 4096 && model->hp.n_layer <= 64) {
            auto backend = mlxb::make_cpu_backend(*model, {8, 1, 2, 1});
            const int32_t tokens[2] = {0, model->hp.n_vocab - 1}, seq[2] = {0, 0}, pos[2] = {0, 1}, row[2] = {-1, 0};
            std::vector<float> logits((size_t)model->hp.n_vocab);
            mlxb::DecodeInput in{2, tokens, seq, pos, row, 1, logits.data()};
            backend->decode(in);
        }
    } catch (const mlxb::Error &) {
        // the expected outcome for almost every mutated input
    }
    try {
        mlxb::GgufFile vocab(data, size);
        auto m = mlxb::Model::from_gguf(std::make_unique<mlxb::GgufFile>(data, size), /*vocab_only=*/true);
        m->tok->encode(" spaces  and\ttabs\n", false, false);
    } catch (const mlxb::Error &) {
    }
    try {  // the same bytes as a safetensors file (MLX model folders): parse and read every tensor's bytes
        mlxb::SafetensorsFile st(data, size, "fuzz");
        volatile uint8_t sink = 0;
        for (const auto & kv : st.tensors())
            if (kv.second.n_bytes) sink = (uint8_t)(sink ^ kv.second.data[0] ^ kv.second.data[kv.second.n_bytes - 1]);
    } catch (const mlxb::Error &) {
    }
    return 0;
}

#ifndef MLXB_LIBFUZZER

namespace {

struct Rng {  // xorshift64*: deterministic across platforms
    uint64_t s;
    uint64_t next() {
        s ^= s >> 12; s ^= s << 25; s ^= s >> 27;
        return s * 2685821657736338717ull;
    }
    size_t below(size_t n) { return n ? (size_t)(next() % n) : 0; }
};

// Values that break naive size arithmetic: zero, one, powers of two around type limits, all ones.
const uint64_t k_interesting[] = {0, 1, 2, 3, 4, 8, 12, 32, 64, 127, 128, 255, 256, 0x7fff, 0x8000, 0xffff,
                                  0x7fffffffull, 0x80000000ull, 0xffffffffull, 1ull << 32, 1ull << 40,
                                  0x7fffffffffffffffull, 0x8000000000000000ull, ~0ull};

std::vector<uint8_t> mutate(const std::vector<uint8_t> & seed, Rng & rng) {
    std::vector<uint8_t> d = seed;
    const int n_mut = 1 + (int)rng.below(4);
    for (int m = 0; m < n_mut && !d.empty(); m++) {
        // Mutations favour the header and tensor-info region, where the loader's checks live.
        const size_t hot = std::min<size_t>(d.size(), rng.below(4) ? 16384 : d.size());
        switch (rng.below(7)) {
        case 0: d[rng.below(hot)] ^= (uint8_t)(1u << rng.below(8)); break;
        case 1: d[rng.below(hot)] = (uint8_t)k_interesting[rng.below(sizeof k_interesting / 8)]; break;
        case 2: {  // an 8-, 4- or 2-byte field set to an interesting value
            const size_t w = (size_t)1 << (1 + rng.below(3));
            if (d.size() < w) break;
            const size_t at = rng.below(std::min(hot, d.size() - w + 1));
            const uint64_t v = k_interesting[rng.below(sizeof k_interesting / 8)] + (rng.below(3) - 1);
            std::memcpy(&d[at], &v, w);
            break;
        }
        case 3: d.resize(rng.below(d.size() + 1)); break;  // truncate
        case 4: {                                          // delete a range
            const size_t at = rng.below(hot), len = std::min(d.size() - at, 1 + rng.below(64));
            d.erase(d.begin() + (ptrdiff_t)at, d.begin() + (ptrdiff_t)(at + len));
            break;
        }
        case 5: {  // duplicate a range elsewhere
            const size_t from = rng.below(hot), len = std::min(d.size() - from, 1 + rng.below(64));
            std::vector<uint8_t> chunk(d.begin() + (ptrdiff_t)from, d.begin() + (ptrdiff_t)(from + len));
            d.insert(d.begin() + (ptrdiff_t)rng.below(hot), chunk.begin(), chunk.end());
            break;
        }
        default: d[rng.below(hot)] = (uint8_t)rng.next(); break;
        }
    }
    return d;
}

std::vector<uint8_t> read_file(const std::string & p) {
    std::ifstream f(p, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    const std::string s = ss.str();
    return std::vector<uint8_t>(s.begin(), s.end());
}

}  // namespace

int main(int argc, char ** argv) {
    double seconds = 30;
    uint64_t seed = 1;
    std::vector<std::vector<uint8_t>> seeds;
    for (int i = 1; i < argc; i++) {
        const std::string a = argv[i];
        if (a.rfind("-max_total_time=", 0) == 0) seconds = std::atof(a.c_str() + 16);
        else if (a.rfind("-seed=", 0) == 0) seed = std::strtoull(a.c_str() + 6, nullptr, 10);
        else {
            std::vector<uint8_t> d = read_file(a);
            if (d.empty()) continue;
            std::printf("replay %s (%zu bytes)\n", a.c_str(), d.size());
            LLVMFuzzerTestOneInput(d.data(), d.size());
            seeds.push_back(std::move(d));
        }
    }
    mlxb::ModelShape small{"fuzz", "llama", 300, 64, 1, 4, 2, 64, 64};
    for (mlxb::TensorType t : {mlxb::TensorType::F32, mlxb::TensorType::F16, mlxb::TensorType::BF16, mlxb::TensorType::Q8_0,
                               mlxb::TensorType::Q4_0}) {
        small.arch = t == mlxb::TensorType::Q4_0 ? "qwen2" : t == mlxb::TensorType::BF16 ? "qwen3" : "llama";
        small.head_dim = small.arch == "qwen3" ? 32 : 0;  // key_length in the metadata, q wider than the model
        small.tied = t == mlxb::TensorType::Q8_0;
        seeds.push_back(mlxb::random_model(small, t, 11).to_bytes());
    }
    {  // a safetensors seed: float, half and packed-integer tensors with metadata, as MLX folders hold
        mlxb::SafetensorsWriter w;
        w.add("model.embed_tokens.weight", mlxb::StDtype::U32, {8, 2}, [](const mlxb::SafetensorsWriter::Sink & s) { uint32_t v[16] = {1, 2, 3}; s(v, sizeof v); });
        w.add("model.embed_tokens.scales", mlxb::StDtype::F16, {8, 1}, [](const mlxb::SafetensorsWriter::Sink & s) { uint16_t v[8] = {0x3c00}; s(v, sizeof v); });
        w.add("model.norm.weight", mlxb::StDtype::BF16, {16}, [](const mlxb::SafetensorsWriter::Sink & s) { uint16_t v[16] = {0x3f80}; s(v, sizeof v); });
        w.add("lm_head.weight", mlxb::StDtype::F32, {2, 16}, [](const mlxb::SafetensorsWriter::Sink & s) { float v[32] = {1.0f}; s(v, sizeof v); });
        w.metadata("format", "mlx");
        seeds.push_back(w.to_bytes());
    }
    for (const std::vector<uint8_t> & s : seeds) LLVMFuzzerTestOneInput(s.data(), s.size());  // seeds load cleanly

    Rng rng{seed * 0x9e3779b97f4a7c15ull + 1};
    const auto t0 = std::chrono::steady_clock::now();
    long runs = 0;
    while (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() < seconds) {
        const std::vector<uint8_t> input = mutate(seeds[rng.below(seeds.size())], rng);
        LLVMFuzzerTestOneInput(input.data(), input.size());
        runs++;
    }
    std::printf("fuzz_gguf: %ld mutated inputs in %.0f s (seed %llu, %zu seeds): no crash\n", runs, seconds,
                (unsigned long long)seed, seeds.size());
    return 0;
}

#endif  // MLXB_LIBFUZZER
