// Helpers shared by the AVX-512 translation units (kernels_avx512.cpp, mlx_affine_avx512.cpp), which both read
// weights in panels of 16 rows, one row per zmm lane. Include only from files compiled with the AVX-512 flags.
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

namespace mlxb::avx512 {

constexpr int P = 16;  // rows per panel

// Lanes of the first n rows of a panel (all 16 from n >= 16).
inline __mmask16 tail_mask(int64_t n) { return n >= 16 ? (__mmask16)0xffff : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1); }

// 4 int8 activations in every 32-bit lane (vpdpbusd's signed operand).
inline __m512i bcast4(const int8_t * p) {
    int32_t v;
    std::memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

// Token tiles of at most `most`, balanced (8 tokens: 4 + 4, not 6 + 2).
inline int64_t tile_size(int64_t n, int64_t most) {
    const int64_t tiles = (n + most - 1) / most;
    return (n + tiles - 1) / tiles;
}

}  // namespace mlxb::avx512
