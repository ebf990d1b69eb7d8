// Token sampling from one row of logits: greedy, or temperature with top-k, top-p and min-p filtering.
#pragma once

#include <cstdint>
#include <vector>

#include "mlxb.h"

namespace mlxb {

// Log-softmax pieces computed one way everywhere so a token's log-probability is bit-identical whichever call
// produced it (lm-eval compares top-1 and chosen values with ==).
struct LogSoftmax {
    float max = 0, log_sum = 0;  // logprob(i) = (logit[i] - max) - log_sum
    LogSoftmax(const float * logits, int32_t n);
    float operator()(float logit) const { return (logit - max) - log_sum; }
};

int32_t argmax(const float * logits, int32_t n);  // lowest id on ties

class Sampler {
public:
    Sampler(int32_t n_vocab, const mlxb_sampler_params & p);
    void reseed(uint64_t seed);
    int32_t sample(const float * logits);

private:
    uint64_t next();  // splitmix64: small, fast, fully deterministic across platforms
    double uniform() { return (next() >> 11) * (1.0 / 9007199254740992.0); }

    mlxb_sampler_params p_;
    uint64_t state_ = 0;
    std::vector<std::pair<float, int32_t>> cand_;  // sized n_vocab once
};

}  // namespace mlxb
