// Persistent worker pool: threads are created once per context and reused for every parallel loop of every token.
// Workers spin briefly between jobs (a forward pass issues dozens of jobs per token, microseconds apart), then sleep
// on a condition variable so an idle engine costs no CPU.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace mlxb {

class ThreadPool {
public:
    explicit ThreadPool(int n_threads);  // n_threads includes the calling thread
    ~ThreadPool();
    ThreadPool(const ThreadPool &) = delete;
    ThreadPool & operator=(const ThreadPool &) = delete;

    int size() const { return n_; }

    // Calls f(ith, nth) on every thread (the caller is ith = 0) and returns when all are done.
    template <class F> void run(const F & f) {
        if (n_ == 1) { f(0, 1); return; }
        run_raw([](void * c, int ith, int nth) { (*(const F *)c)(ith, nth); }, (void *)&f);
    }

    // Splits [0, n) into contiguous chunks, one per thread, each a multiple of `align` (except the last).
    static void split(int64_t n, int ith, int nth, int64_t align, int64_t * begin, int64_t * end) {
        int64_t per = (n + nth - 1) / nth;
        per = (per + align - 1) / align * align;
        *begin = per * ith < n ? per * ith : n;
        *end = *begin + per < n ? *begin + per : n;
    }

private:
    using Fn = void (*)(void *, int, int);
    void run_raw(Fn fn, void * ctx);
    void worker(int ith);

    int n_;
    std::vector<std::thread> threads_;
    Fn fn_ = nullptr;
    void * ctx_ = nullptr;
    alignas(64) std::atomic<uint64_t> epoch_{0};
    alignas(64) std::atomic<int> pending_{0};
    alignas(64) std::atomic<int> sleepers_{0};
    std::atomic<bool> stop_{false};
    std::mutex mu_;
    std::condition_variable cv_;
};

}  // namespace mlxb
