// Shared internal definitions: the error type the loader throws (turned into status codes at the API boundary),
// half/bfloat conversions, and small helpers. Internal only; nothing here is part of the C API.
#pragma once

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

#include "mlxb.h"

#if defined(__GNUC__) || defined(__clang__)
#define MLXB_RESTRICT __restrict__
#else
#define MLXB_RESTRICT
#endif

namespace mlxb {

// Internal code throws Error; api.cpp catches it and turns it into a status code plus mlxb_last_error().
struct Error : std::runtime_error {
    mlxb_status status;
    Error(mlxb_status s, const std::string & msg) : std::runtime_error(msg), status(s) {}
};

[[noreturn]] inline void fail(mlxb_status s, const std::string & msg) { throw Error(s, msg); }

// IEEE half -> float without F16C, exact for every input (normals, subnormals, inf, NaN).
inline float fp16_to_fp32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ffu, bits;
    if (exp == 0) {
        if (mant == 0) bits = sign;
        else {  // subnormal: renormalise
            int e = -1;
            do { mant <<= 1; e++; } while (!(mant & 0x400u));
            bits = sign | (uint32_t)(127 - 15 - e) << 23 | (mant & 0x3ffu) << 13;
        }
    } else if (exp == 31) bits = sign | 0x7f800000u | mant << 13;
    else bits = sign | (exp + 127 - 15) << 23 | mant << 13;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

// float -> IEEE half, round to nearest even (same rounding as F16C's _cvtss_sh with mode 0).
inline uint16_t fp32_to_fp16(float f) {
    uint32_t x;
    std::memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t absx = x & 0x7fffffffu;
    if (absx >= 0x7f800000u) return (uint16_t)(sign | 0x7c00u | (absx > 0x7f800000u ? 0x200u : 0));
    if (absx >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u);  // rounds to >= 65520: overflow to inf
    if (absx < 0x38800000u) {                                     // result is subnormal or zero
        if (absx < 0x33000000u) return (uint16_t)sign;
        uint32_t mant = (absx & 0x7fffffu) | 0x800000u;
        int shift = 126 - (int)(absx >> 23);  // 14..24
        uint32_t half = mant >> shift, rem = mant & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1))) half++;
        return (uint16_t)(sign | half);
    }
    uint32_t h = ((absx >> 13) - ((127 - 15) << 10));
    uint32_t rem = absx & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) h++;
    return (uint16_t)(sign | h);
}

inline float bf16_to_fp32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

inline uint16_t fp32_to_bf16(float f) {  // round to nearest even; NaN stays NaN
    uint32_t x;
    std::memcpy(&x, &f, 4);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 64);
    return (uint16_t)((x + (0x7fffu + ((x >> 16) & 1))) >> 16);
}

}  // namespace mlxb
