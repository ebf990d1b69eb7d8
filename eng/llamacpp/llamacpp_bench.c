// llama-bench's pp/tg measurement against llama.cpp's own libllama, so eng/bench-vs-llamacpp.sh can time llama.cpp
// and our engine on the same machine in the same minutes. The library is the prebuilt build node-llama-cpp ships on
// npm (no C compiler of llama.cpp's needed, and PyPI/GitHub are not reachable here); there is no llama.h in that
// package, so the few declarations below are written from llama.cpp's public C API. Only calls whose signatures
// have been stable since 2025 are used, and the two parameter structs are treated as opaque except for n_ctx, their
// first field (llama_context_params starts with uint32_t n_ctx); thread counts go through llama_set_n_threads.
// Like llama-bench, it attaches one persistent CPU threadpool (ggml's defaults: poll 50, no affinity) to the context:
// without one, ggml starts and joins its threads on every decode, which would handicap llama.cpp on short tokens.
//
//   llamacpp_bench LIBDIR MODEL.gguf THREADS PP TG REPS   prints "pp512 <t/s> ..." and "tg128 <t/s> ..." lines
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef int32_t llama_token;
typedef struct { int32_t n_tokens; llama_token * token; float * embd; int32_t * pos; int32_t * n_seq_id; int32_t ** seq_id; int8_t * logits; } llama_batch;
// Larger than either real struct: returned through a caller buffer and passed on the stack by value (SysV MEMORY
// class), so the callee reads its own prefix of these bytes.
typedef struct { unsigned char bytes[1024]; } opaque_params;
// ggml_threadpool_params: bool cpumask[GGML_MAX_N_THREADS = 512]; int n_threads; prio; uint32_t poll; bool strict_cpu,
// paused. Only passed back by pointer, so the larger buffer is again safe.
typedef struct { unsigned char bytes[1024]; } threadpool_params;

static void * sym(void * lib, const char * name) {
    void * p = dlsym(lib, name);
    if (!p) { fprintf(stderr, "llamacpp_bench: %s not found in libllama: %s\n", name, dlerror()); exit(2); }
    return p;
}

static double now_s(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }

// Warnings and errors only (ggml: 3 WARN, 4 ERROR; 5 continues the previous line, as the loading dots do).
static void quiet_log(int level, const char * text, void * user) { (void)user; if (level == 3 || level == 4) fputs(text, stderr); }

int main(int argc, char ** argv) {
    if (argc != 7) { fprintf(stderr, "usage: llamacpp_bench LIBDIR MODEL.gguf THREADS PP TG REPS\n"); return 2; }
    const char * dir = argv[1], * model_path = argv[2];
    const int threads = atoi(argv[3]), pp = atoi(argv[4]), tg = atoi(argv[5]), reps = atoi(argv[6]);
    char path[4096];
    snprintf(path, sizeof path, "%s/libggml.so", dir);
    void * ggml = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
    snprintf(path, sizeof path, "%s/libllama.so", dir);
    void * lib = ggml ? dlopen(path, RTLD_NOW | RTLD_GLOBAL) : NULL;
    if (!lib) { fprintf(stderr, "llamacpp_bench: cannot load %s: %s\n", path, dlerror()); return 2; }

    void (*log_set)(void (*)(int, const char *, void *), void *) = sym(lib, "llama_log_set");
    void (*load_all_from_path)(const char *) = sym(ggml, "ggml_backend_load_all_from_path");
    void (*backend_init)(void) = sym(lib, "llama_backend_init");
    opaque_params (*model_defaults)(void) = sym(lib, "llama_model_default_params");
    opaque_params (*context_defaults)(void) = sym(lib, "llama_context_default_params");
    void * (*load_model)(const char *, opaque_params) = sym(lib, "llama_model_load_from_file");
    void * (*new_context)(void *, opaque_params) = sym(lib, "llama_init_from_model");
    void (*set_threads)(void *, int32_t, int32_t) = sym(lib, "llama_set_n_threads");
    void * (*get_vocab)(const void *) = sym(lib, "llama_model_get_vocab");
    int32_t (*n_vocab)(const void *) = sym(lib, "llama_vocab_n_tokens");
    llama_token (*bos)(const void *) = sym(lib, "llama_vocab_bos");
    llama_batch (*batch_one)(llama_token *, int32_t) = sym(lib, "llama_batch_get_one");
    int32_t (*decode)(void *, llama_batch) = sym(lib, "llama_decode");
    void (*synchronize)(void *) = sym(lib, "llama_synchronize");
    void * (*get_memory)(const void *) = sym(lib, "llama_get_memory");
    void (*memory_clear)(void *, int) = sym(lib, "llama_memory_clear");
    const char * (*system_info)(void) = sym(lib, "llama_print_system_info");
    void (*attach_threadpool)(void *, void *, void *) = sym(lib, "llama_attach_threadpool");
    threadpool_params (*threadpool_defaults)(int) = sym(ggml, "ggml_threadpool_params_default");
    void * (*dev_by_type)(int) = sym(ggml, "ggml_backend_dev_by_type");
    void * (*dev_reg)(void *) = sym(ggml, "ggml_backend_dev_backend_reg");
    void * (*reg_proc)(void *, const char *) = sym(ggml, "ggml_backend_reg_get_proc_address");

    log_set(quiet_log, NULL);
    load_all_from_path(dir);  // the CPU backend is a loadable module per instruction set; ggml picks the best one
    backend_init();
    void * model = load_model(model_path, model_defaults());
    if (!model) { fprintf(stderr, "llamacpp_bench: llama.cpp cannot load %s\n", model_path); return 1; }
    opaque_params cp = context_defaults();
    const uint32_t n_ctx = (uint32_t)(pp + tg + 16);
    memcpy(cp.bytes, &n_ctx, sizeof n_ctx);
    void * ctx = new_context(model, cp);
    if (!ctx) { fprintf(stderr, "llamacpp_bench: cannot create a context\n"); return 1; }
    set_threads(ctx, threads, threads);
    void * cpu = dev_by_type(0);  // GGML_BACKEND_DEVICE_TYPE_CPU
    void * (*threadpool_new)(threadpool_params *) = cpu ? reg_proc(dev_reg(cpu), "ggml_threadpool_new") : NULL;
    if (!threadpool_new) { fprintf(stderr, "llamacpp_bench: the CPU backend has no ggml_threadpool_new\n"); return 2; }
    threadpool_params tpp = threadpool_defaults(threads);
    void * pool = threadpool_new(&tpp);
    if (!pool) { fprintf(stderr, "llamacpp_bench: cannot start a threadpool\n"); return 1; }
    attach_threadpool(ctx, pool, NULL);
    const void * vocab = get_vocab(model);
    const int32_t V = n_vocab(vocab);
    printf("system_info %s\n", system_info());

    llama_token * toks = malloc(sizeof(llama_token) * (size_t)(pp > tg ? pp : tg > 0 ? tg : 1));
    unsigned seed = 1;
    for (int test = 0; test < 2; test++) {
        const int n = test == 0 ? pp : tg;
        if (n <= 0) continue;
        printf("%s%d", test == 0 ? "pp" : "tg", n);
        for (int r = -1; r < reps; r++) {  // r = -1: warm-up, as llama-bench does
            memory_clear(get_memory(ctx), 1);
            for (int i = 0; i < n; i++) toks[i] = (llama_token)((seed = seed * 1103515245u + 12345u) % (unsigned)V);
            toks[0] = bos(vocab);
            const double t0 = now_s();
            if (test == 0) {
                if (decode(ctx, batch_one(toks, n))) { fprintf(stderr, "llamacpp_bench: decode failed\n"); return 1; }
            } else {
                for (int i = 0; i < n; i++)
                    if (decode(ctx, batch_one(&toks[i], 1))) { fprintf(stderr, "llamacpp_bench: decode failed\n"); return 1; }
            }
            synchronize(ctx);
            if (r >= 0) printf(" %.2f", n / (now_s() - t0));
        }
        printf("\n");
        fflush(stdout);
    }
    return 0;
}
