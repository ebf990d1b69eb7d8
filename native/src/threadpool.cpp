#include "threadpool.h"

#include <chrono>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define MLXB_PAUSE() _mm_pause()
#elif defined(__aarch64__)
#define MLXB_PAUSE() __asm__ __volatile__("yield")
#else
#define MLXB_PAUSE() ((void)0)
#endif

namespace mlxb {

namespace {
// How long an idle worker spins before sleeping: longer than the gap between two jobs of one token (sampling,
// bookkeeping), far shorter than a human-visible pause.
constexpr auto k_spin = std::chrono::microseconds(2000);
// Pause-spins (~10-40 ns each) before a waiting thread starts yielding its core: ~20-80 us, longer than most jobs.
constexpr int k_spins_before_yield = 2048;
}

ThreadPool::ThreadPool(int n_threads) : n_(n_threads < 1 ? 1 : n_threads) {
    threads_.reserve(n_ - 1);
    for (int i = 1; i < n_; i++) threads_.emplace_back([this, i] { worker(i); });
}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard<std::mutex> lk(mu_);
        stop_.store(true);
        epoch_.fetch_add(1);
    }
    cv_.notify_all();
    for (auto & t : threads_) t.join();
}

void ThreadPool::run_raw(Fn fn, void * ctx) {
    fn_ = fn;
    ctx_ = ctx;
    pending_.store(n_ - 1, std::memory_order_relaxed);
    epoch_.fetch_add(1, std::memory_order_seq_cst);  // seq_cst: pairs with sleepers_ (Dekker)
    if (sleepers_.load(std::memory_order_seq_cst) > 0) {
        std::lock_guard<std::mutex> lk(mu_);
        cv_.notify_all();
    }
    fn(ctx, 0, n_);
    // On an oversubscribed machine a worker may have been descheduled: after a short spin, give the core away
    // instead of burning the slice it needs to finish.
    for (int spins = 0; pending_.load(std::memory_order_acquire) != 0; spins++) {
        if (spins < k_spins_before_yield) MLXB_PAUSE();
        else std::this_thread::yield();
    }
}

void ThreadPool::worker(int ith) {
    uint64_t seen = 0;
    for (;;) {
        uint64_t e = epoch_.load(std::memory_order_acquire);
        if (e == seen) {
            auto t0 = std::chrono::steady_clock::now();
            for (int spins = 0; (e = epoch_.load(std::memory_order_acquire)) == seen; spins++) {
                if (spins < k_spins_before_yield) MLXB_PAUSE();
                else std::this_thread::yield();
                if ((spins & 1023) == 1023 && std::chrono::steady_clock::now() - t0 > k_spin) {
                    std::unique_lock<std::mutex> lk(mu_);
                    sleepers_.fetch_add(1, std::memory_order_seq_cst);
                    cv_.wait(lk, [&] { return epoch_.load(std::memory_order_seq_cst) != seen; });
                    sleepers_.fetch_sub(1, std::memory_order_relaxed);
                    t0 = std::chrono::steady_clock::now();
                }
            }
        }
        seen = e;
        if (stop_.load(std::memory_order_acquire)) return;
        fn_(ctx_, ith, n_);
        pending_.fetch_sub(1, std::memory_order_acq_rel);
    }
}

}  // namespace mlxb
