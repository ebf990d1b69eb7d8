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
// How long a waiter spins before it blocks: longer than the gap between two jobs of one token (sampling,
// bookkeeping) and than the usual imbalance at the end of a job, far shorter than a scheduler time slice.
constexpr auto k_spin = std::chrono::microseconds(200);

bool spun_out(int spins, std::chrono::steady_clock::time_point t0) {
    return (spins & 255) == 255 && std::chrono::steady_clock::now() - t0 > k_spin;
}

uint32_t generation(uint64_t job) { return (uint32_t)(job >> 32); }
}  // namespace

ThreadPool::ThreadPool(int n_threads) : n_(n_threads < 1 ? 1 : n_threads) {
    threads_.reserve(n_ - 1);
    for (int i = 1; i < n_; i++) threads_.emplace_back([this] { worker(); });
}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard<std::mutex> lk(mu_);
        stop_.store(true);
        job_.fetch_add(1ull << 32);
    }
    cv_.notify_all();
    for (auto & t : threads_) t.join();
}

bool ThreadPool::run_parts() {
    bool ran = false;
    for (;;) {
        const uint64_t claim = job_.fetch_add(1, std::memory_order_acq_rel);
        const int ith = (int)(uint32_t)claim;
        if (ith >= n_) return ran;
        fn_(ctx_, ith, n_);  // written before the job word that handed out this part: visible here
        ran = true;
        if (done_.fetch_add(1, std::memory_order_seq_cst) + 1 == n_ && caller_waiting_.load(std::memory_order_seq_cst)) {
            std::lock_guard<std::mutex> lk(mu_);
            done_cv_.notify_one();
        }
    }
}

void ThreadPool::run_raw(Fn fn, void * ctx) {
    fn_ = fn;
    ctx_ = ctx;
    done_.store(0, std::memory_order_relaxed);
    const uint64_t gen = generation(job_.load(std::memory_order_relaxed)) + 1;
    job_.store(gen << 32, std::memory_order_seq_cst);  // release fn_/ctx_/done_; seq_cst pairs with sleepers_
    if (sleepers_.load(std::memory_order_seq_cst) > 0) {
        std::lock_guard<std::mutex> lk(mu_);
        cv_.notify_all();
    }
    run_parts();
    const auto t0 = std::chrono::steady_clock::now();
    for (int spins = 0; done_.load(std::memory_order_acquire) != n_; spins++) {
        MLXB_PAUSE();
        if (spun_out(spins, t0)) {  // a worker holds a part and is not running: sleep until it is done
            std::unique_lock<std::mutex> lk(mu_);
            caller_waiting_.store(true, std::memory_order_seq_cst);
            done_cv_.wait(lk, [&] { return done_.load(std::memory_order_seq_cst) == n_; });
            caller_waiting_.store(false, std::memory_order_relaxed);
            break;
        }
    }
}

void ThreadPool::worker() {
    uint32_t seen = 0;
    for (;;) {
        uint32_t g = generation(job_.load(std::memory_order_acquire));
        if (g == seen) {
            auto t0 = std::chrono::steady_clock::now();
            for (int spins = 0; (g = generation(job_.load(std::memory_order_acquire))) == seen; spins++) {
                MLXB_PAUSE();
                if (spun_out(spins, t0)) {
                    std::unique_lock<std::mutex> lk(mu_);
                    sleepers_.fetch_add(1, std::memory_order_seq_cst);
                    cv_.wait(lk, [&] { return generation(job_.load(std::memory_order_seq_cst)) != seen; });
                    sleepers_.fetch_sub(1, std::memory_order_relaxed);
                    t0 = std::chrono::steady_clock::now();
                }
            }
        }
        seen = g;
        if (stop_.load(std::memory_order_acquire)) return;
        run_parts();
    }
}

}  // namespace mlxb
