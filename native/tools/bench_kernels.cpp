// Kernel microbenchmark (developer tool, not installed): every kernel table on this CPU, every weight type, a
// GEMV (one token: memory-bound) and a GEMM (a prompt batch: compute-bound), single thread. Reports thread CPU
// time, so a busy machine distorts it less than wall time; the end-to-end numbers come from `mlxbench-engine bench`.
#include <time.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

#include "kernels/kernels.h"

using namespace mlxb;

static double cpu_now() {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char ** argv) {
    const int64_t rows = argc > 1 ? atol(argv[1]) : 2048, cols = argc > 2 ? atol(argv[2]) : 2048;
    const int64_t ntok = argc > 3 ? atol(argv[3]) : 128;
    std::vector<float> w((size_t)(rows * cols)), x((size_t)(ntok * cols));
    for (size_t i = 0; i < w.size(); i++) w[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    for (size_t i = 0; i < x.size(); i++) x[i] = (float)((i * 40503u) % 1000) / 1000.0f - 0.5f;
    std::vector<float> y((size_t)(ntok * rows));
    for (const Kernels * K : kernels_available()) {
        for (TensorType t : {TensorType::F32, TensorType::F16, TensorType::BF16, TensorType::Q8_0, TensorType::Q4_0}) {
            const int64_t rb = row_bytes(t, cols);
            std::vector<uint8_t> q((size_t)(rows * rb));
            for (int64_t r = 0; r < rows; r++) quantize_row(t, &w[r * cols], &q[r * rb], cols);
            std::vector<BlockQ8x> xq((size_t)(ntok * cols / 32));
            for (int64_t i = 0; i < ntok; i++) K->quantize_q8x(&x[i * cols], &xq[i * cols / 32], cols);
            void * packed = nullptr;  // the table's own layout, as the backend packs it at context creation
            if (K->panel_rows > 1) {
                packed = std::aligned_alloc(64, (K->packed_bytes(t, rows, cols) + 63) / 64 * 64);
                K->pack(t, q.data(), rows, cols, 0, (rows + K->panel_rows - 1) / K->panel_rows, packed);
            }
            const void * wd = packed ? packed : q.data();
            auto run = [&](int64_t n) { K->gemm(t, wd, x.data(), xq.data(), y.data(), rows, cols, n, 0, rows, rows); };
            run(1);
            int reps = 0;
            double t0 = cpu_now(), dt;
            do { run(1); reps++; } while ((dt = cpu_now() - t0) < 0.3);
            const double gbs = (double)q.size() * reps / dt / 1e9;
            run(ntok);
            reps = 0;
            t0 = cpu_now();
            do { run(ntok); reps++; } while ((dt = cpu_now() - t0) < 0.5);
            const double gflops = 2.0 * rows * cols * ntok * reps / dt / 1e9;
            std::printf("%-8s %-5s gemv %7.1f GB/s   gemm(n=%lld) %7.1f GFLOP/s\n", K->name, tensor_type_name(t), gbs,
                        (long long)ntok, gflops);
            std::free(packed);
        }
    }
}
