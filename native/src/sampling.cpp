#include "sampling.h"

#include <algorithm>
#include <cmath>

namespace mlxb {

LogSoftmax::LogSoftmax(const float * logits, int32_t n) {
    max = -INFINITY;
    for (int32_t i = 0; i < n; i++) max = std::max(max, logits[i]);
    double sum = 0;
    for (int32_t i = 0; i < n; i++) sum += std::exp((double)(logits[i] - max));
    log_sum = (float)std::log(sum);
}

int32_t argmax(const float * logits, int32_t n) {
    int32_t best = 0;
    for (int32_t i = 1; i < n; i++)
        if (logits[i] > logits[best]) best = i;
    return best;
}

Sampler::Sampler(int32_t n_vocab, const mlxb_sampler_params & p) : p_(p) {
    cand_.resize((size_t)n_vocab);
    reseed(p.seed);
}

void Sampler::reseed(uint64_t seed) { state_ = seed; }

uint64_t Sampler::next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

int32_t Sampler::sample(const float * logits) {
    const int32_t n = (int32_t)cand_.size();
    if (!(p_.temperature > 0)) return argmax(logits, n);
    for (int32_t i = 0; i < n; i++) cand_[i] = {logits[i] / p_.temperature, i};
    auto by_prob = [](const std::pair<float, int32_t> & a, const std::pair<float, int32_t> & b) {
        return a.first > b.first || (a.first == b.first && a.second < b.second);
    };
    int32_t m = n;
    if (p_.top_k > 0 && p_.top_k < n) {
        std::partial_sort(cand_.begin(), cand_.begin() + p_.top_k, cand_.end(), by_prob);
        m = p_.top_k;
    } else {
        std::sort(cand_.begin(), cand_.end(), by_prob);
    }
    // Softmax over the survivors (sorted, so cand_[0] holds the max).
    const float mx = cand_[0].first;
    double sum = 0;
    for (int32_t i = 0; i < m; i++) sum += (cand_[i].first = std::exp(cand_[i].first - mx));
    if (p_.min_p > 0) {  // keep tokens with p >= min_p * p_max (p_max's weight is 1)
        int32_t keep = 1;
        while (keep < m && cand_[keep].first >= p_.min_p) keep++;
        for (int32_t i = keep; i < m; i++) sum -= cand_[i].first;
        m = keep;
    }
    if (p_.top_p < 1) {  // smallest prefix whose mass reaches top_p
        double cum = 0;
        int32_t keep = 0;
        while (keep < m) {
            cum += cand_[keep].first / sum;
            keep++;
            if (cum >= p_.top_p) break;
        }
        double kept = 0;
        for (int32_t i = 0; i < keep; i++) kept += cand_[i].first;
        sum = kept;
        m = keep;
    }
    double r = uniform() * sum;
    for (int32_t i = 0; i < m; i++) {
        r -= cand_[i].first;
        if (r < 0) return cand_[i].second;
    }
    return cand_[m - 1].second;
}

}  // namespace mlxb
