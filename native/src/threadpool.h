// Persistent worker pool: threads are created once per context and reused for every parallel loop of every token.
//
// A job is f(ith, nth) for ith = 0..nth-1 (static partitions: results never depend on which thread ran a part).
// Parts are claimed from one atomic counter, and the caller claims parts too: when a worker is late (descheduled on
// a busy machine, or asleep) the caller simply runs its part, so a job never waits for a thread that is not running.
// Waits spin briefly (jobs come microseconds apart during a forward pass), then block on a condition variable, so
// an idle engine costs no CPU.
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

    // Calls f(ith, nth) for every ith in [0, nth) across the threads and returns when all have returned.
    template <class F> void run(const F & f) {
        if (n_ == 1) { f(0, 1); return; }
        run_raw([](void * c, int ith, int nth) { (*(const F *)c)(ith, nth); }, (void *)&f);
    }

    // Splits [0, n) into contiguous chunks, one per part, each a multiple of `align` (except the last).
    static void split(int64_t n, int ith, int nth, int64_t align, int64_t * begin, int64_t * end) {
        int64_t per = (n + nth - 1) / nth;
        per = (per + align - 1) / align * align;
        *begin = per * ith < n ? per * ith : n;
        *end = *begin + per < n ? *begin + per : n;
    }

private:
    using Fn = void (*)(void *, int, int);
    void run_raw(Fn fn, void * ctx);
    void worker();
    bool run_parts();  // claims and runs parts of the current job until none is left; true if it ran any

    int n_;
    std::vector<std::thread> threads_;
    Fn fn_ = nullptr;
    void * ctx_ = nullptr;
    // (generation << 32) | next part: one word, so a claim can never take a part of an older job.
    alignas(64) std::atomic<uint64_t> job_{0};
    alignas(64) std::atomic<int> done_{0};
    alignas(64) std::atomic<int> sleepers_{0};
    std::atomic<bool> caller_waiting_{false};
    std::atomic<bool> stop_{false};
    std::mutex mu_;
    std::condition_variable cv_;       // workers: a new job (or stop)
    std::condition_variable done_cv_;  // caller: the last part finished
};

}  // namespace mlxb
