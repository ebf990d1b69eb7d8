#include "sampling.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

namespace mlxb {

namespace {

// 4 floats in GCC/Clang vector extensions: SSE2 on any x86-64, NEON on arm64, the same IEEE operations (no FMA:
// -ffp-contract=off) everywhere, so the value does not depend on the CPU or the kernel table.
typedef float f8 __attribute__((vector_size(16)));
typedef int32_t i8 __attribute__((vector_size(16)));
typedef uint32_t u8 __attribute__((vector_size(16)));

inline f8 splat(float v) { return f8{v, v, v, v}; }
inline f8 load4(const float * p) {
    f8 v;
    std::memcpy(&v, p, sizeof v);
    return v;
}
inline f8 select(i8 m, f8 a, f8 b) { return (f8)(((i8)a & m) | ((i8)b & ~m)); }  // m ? a : b, lane by lane

// e^x for x <= 0 (a logit minus the row's max). x = n ln2 + r, n = round(x / ln 2) by the 1.5 * 2^23 trick (exact),
// r by a two-part ln 2 (n * 0.693359375 is exact for |n| <= 126), |r| <= 0.347; e^r by its degree-6 Taylor
// polynomial: truncation 0.347^7 / 7! < 1.3e-7, plus a few float roundings, so a relative error below 4e-7 per term.
// x is clamped to -87 (2^n stays a normal float): a term below e^-87 = 1.6e-38 becomes 1.6e-38, nothing next to
// the max term's exact 1. NaN stays NaN (the clamp's comparison is false for it).
inline f8 exp_nonpos(f8 x) {
    const f8 lo = splat(-87.0f), magic = splat(12582912.0f);
    x = select(x < lo, lo, x);
    const f8 t = x * splat(1.44269504088896341f) + magic;
    const f8 nf = t - magic;
    f8 r = x - nf * splat(0.693359375f);
    r = r - nf * splat(-2.12194440e-4f);
    f8 p = splat(1.0f / 720);
    p = p * r + splat(1.0f / 120);
    p = p * r + splat(1.0f / 24);
    p = p * r + splat(1.0f / 6);
    p = p * r + splat(0.5f);
    p = p * r + splat(1.0f);
    p = p * r + splat(1.0f);
    const u8 sb = ((u8)t - 0x4B400000u + 127u) << 23;  // 2^n: n sits in t's low mantissa bits
    return p * (f8)sb;
}

}  // namespace

// The sum of e^(l - max): 8 float partial sums over 64 terms at a time (each adds 8 terms <= 1:
// relative rounding error <= 8 * 2^-24 = 4.8e-7 of the chunk), the chunk sums added in double. With the exp error
// above, log_sum is off by < 1e-6 (absolute; a float ulp of log_sum is ~1e-6 for a 32k vocabulary); the former
// scalar loop spent 2-3 us a row on double std::exp. The order depends only on the row, so every API call
// (mlxb_get_logprobs, _token_logprob, _top_logprobs) gets the same bits.
LogSoftmax::LogSoftmax(const float * logits, int32_t n) {
    int32_t i = 0;
    f8 m8 = splat(-INFINITY);
    for (; i + 4 <= n; i += 4) {
        const f8 v = load4(logits + i);
        m8 = select(m8 < v, v, m8);  // std::max's rule per lane: a NaN logit is skipped
    }
    float mx = -INFINITY;
    for (int l = 0; l < 4; l++) mx = std::max(mx, m8[l]);
    for (; i < n; i++) mx = std::max(mx, logits[i]);
    constexpr int32_t C = 64;
    const f8 vmx = splat(mx);
    double sum = 0;
    for (i = 0; i + C <= n; i += C) {
        f8 p0 = splat(0.0f), p1 = p0;  // the 8 partial sums: p0 lanes 0-3, p1 lanes 4-7
        for (int32_t k = 0; k < C; k += 8) {
            p0 += exp_nonpos(load4(logits + i + k) - vmx);
            p1 += exp_nonpos(load4(logits + i + k + 4) - vmx);
        }
        sum += (double)(((p0[0] + p1[0]) + (p0[1] + p1[1])) + ((p0[2] + p1[2]) + (p0[3] + p1[3])));
    }
    for (; i < n; i++) {
        f8 v = splat(-INFINITY);
        v[0] = logits[i] - mx;
        sum += (double)exp_nonpos(v)[0];
    }
    max = mx;
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
