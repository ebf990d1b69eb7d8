// Run-time choice of kernel table from CPUID, so one binary serves every x86-64 CPU (and builds elsewhere).
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>

#include "kernels.h"

namespace mlxb {

#if !defined(MLXB_HAVE_AVX2)
const Kernels * kernels_avx2() { return nullptr; }
#endif
#if !defined(MLXB_HAVE_AVX512)
const Kernels * kernels_avx512() { return nullptr; }
#endif

namespace {
struct Cpu {
    bool avx2 = false, fma = false, f16c = false, avx512 = false;
    Cpu() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
        __builtin_cpu_init();
        avx2 = __builtin_cpu_supports("avx2");
        fma = __builtin_cpu_supports("fma");
        f16c = avx2;  // every AVX2 CPU has F16C; __builtin_cpu_supports("f16c") is missing on older compilers
        avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                 __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
#endif
    }
};
const Cpu & cpu() {
    static const Cpu c;
    return c;
}
}  // namespace

const Kernels & kernels_select() {
    static const Kernels * chosen = [] {
        const char * force = std::getenv("MLXB_KERNELS");
        const Kernels * best = &kernels_generic();
        if (cpu().avx2 && cpu().fma && cpu().f16c && kernels_avx2()) best = kernels_avx2();
        if (cpu().avx512 && kernels_avx512()) best = kernels_avx512();
        if (force) {
            if (!std::strcmp(force, "generic")) best = &kernels_generic();
            else if (!std::strcmp(force, "avx2") && cpu().avx2 && cpu().fma && kernels_avx2()) best = kernels_avx2();
            else if (!std::strcmp(force, "avx512") && cpu().avx512 && kernels_avx512()) best = kernels_avx512();
        }
        return best;
    }();
    return *chosen;
}

std::vector<const Kernels *> kernels_available() {
    std::vector<const Kernels *> v{&kernels_generic()};
    if (cpu().avx2 && cpu().fma && cpu().f16c && kernels_avx2()) v.push_back(kernels_avx2());
    if (cpu().avx512 && kernels_avx512()) v.push_back(kernels_avx512());
    return v;
}

const Kernels * kernels_find(const char * name) {
    for (const Kernels * k : kernels_available())
        if (!std::strcmp(k->name, name)) return k;
    return nullptr;
}

namespace {
std::atomic<const Kernels *> g_override{nullptr};
}

void kernels_override(const Kernels * k) { g_override.store(k); }

const Kernels & kernels_for_new_context() {
    const Kernels * k = g_override.load();
    return k ? *k : kernels_select();
}

const char * cpu_features_string() {
    static const std::string s = std::string("AVX2=") + (cpu().avx2 ? "1" : "0") + " FMA=" + (cpu().fma ? "1" : "0") +
                                 " AVX512(F,BW,VL,VNNI)=" + (cpu().avx512 ? "1" : "0") +
                                 " kernels=" + kernels_select().name;
    return s.c_str();
}

}  // namespace mlxb
