// Tensor element types we understand, with ggml's numbering (GGUF stores these ids) and block geometry.
#pragma once

#include <cstdint>

namespace mlxb {

enum class TensorType : uint32_t { F32 = 0, F16 = 1, Q4_0 = 2, Q8_0 = 8, BF16 = 30 };
// MLX affine group quantization (Weight::mlx describes it). Not a ggml id, so GGUF files never carry it, and not an
// enumerator, so the ggml-type switches of the kernel tables are not asked to handle it: it is dispatched first.
constexpr TensorType k_mlx_affine = (TensorType)0x4d4c5800u;

// 32 weights share one fp16 scale. Layouts are ggml's, bit for bit, so GGUF data is used as mapped.
constexpr int QK = 32;
#pragma pack(push, 1)
struct BlockQ8_0 { uint16_t d; int8_t qs[QK]; };       // w = qs[i] * d
struct BlockQ4_0 { uint16_t d; uint8_t qs[QK / 2]; };  // low nibble = element j, high = j+16; w = (q - 8) * d
#pragma pack(pop)
static_assert(sizeof(BlockQ8_0) == 34, "Q8_0 block is 34 bytes");
static_assert(sizeof(BlockQ4_0) == 18, "Q4_0 block is 18 bytes");

// Returns false for ids we do not support (other ggml types, removed ids, garbage).
inline bool tensor_type_info(uint32_t id, int64_t * block_elems, int64_t * block_bytes, const char ** name) {
    switch (id) {
    case 0: *block_elems = 1; *block_bytes = 4; *name = "F32"; return true;
    case 1: *block_elems = 1; *block_bytes = 2; *name = "F16"; return true;
    case 2: *block_elems = QK; *block_bytes = sizeof(BlockQ4_0); *name = "Q4_0"; return true;
    case 8: *block_elems = QK; *block_bytes = sizeof(BlockQ8_0); *name = "Q8_0"; return true;
    case 30: *block_elems = 1; *block_bytes = 2; *name = "BF16"; return true;
    default: return false;
    }
}

inline const char * tensor_type_name(TensorType t) {
    if (t == k_mlx_affine) return "MLX";
    int64_t a, b;
    const char * n = "?";
    tensor_type_info((uint32_t)t, &a, &b, &n);
    return n;
}

// Bytes of one row of n elements (n must be a multiple of the block size).
inline int64_t row_bytes(TensorType t, int64_t n) {
    int64_t be = 1, bb = 4;
    const char * nm;
    tensor_type_info((uint32_t)t, &be, &bb, &nm);
    return n / be * bb;
}

}  // namespace mlxb
