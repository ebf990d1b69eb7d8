// Minimal GGUF v3 writer: used by `mlxbench-engine gen-model` and by tests that build small or deliberately broken
// models. Tensor data is produced row by row through a callback and streamed, so multi-GB files never sit in memory.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tensor_types.h"

namespace mlxb {

class GgufWriter {
public:
    using Sink = std::function<void(const void *, size_t)>;
    using RowFn = std::function<void(int64_t row, float * dst)>;  // fills one row of ne[0] floats

    void kv_u32(const std::string & k, uint32_t v);
    void kv_i32(const std::string & k, int32_t v);
    void kv_f32(const std::string & k, float v);
    void kv_bool(const std::string & k, bool v);
    void kv_str(const std::string & k, const std::string & v);
    void kv_arr_str(const std::string & k, const std::vector<std::string> & v);
    void kv_arr_f32(const std::string & k, const std::vector<float> & v);
    void kv_arr_i32(const std::string & k, const std::vector<int32_t> & v);
    // Tensor with dims ne (ne[0] = row length); each row is produced as floats then converted to `type`.
    void tensor(const std::string & name, TensorType type, std::vector<int64_t> ne, RowFn rows);

    void write(const Sink & sink) const;
    void write_file(const std::string & path) const;  // throws Error(MLXB_ERR_IO)
    std::vector<uint8_t> to_bytes() const;
    // The same file without its tensors (metadata only), and the tensors one by one: how `convert` and
    // `gen-model --format mlx` turn a model being built into an MLX folder without writing the GGUF first.
    std::vector<uint8_t> metadata_bytes() const;
    template <class F> void for_each_tensor(F && f) const {
        for (const T & t : tensors_) f(t.name, t.type, t.ne, t.rows);
    }

private:
    struct T {
        std::string name;
        TensorType type;
        std::vector<int64_t> ne;
        RowFn rows;
        uint64_t offset, bytes;
    };
    std::vector<uint8_t> kv_;  // serialized key/value pairs
    uint64_t n_kv_ = 0;
    std::vector<T> tensors_;
    uint64_t data_size_ = 0;
};

}  // namespace mlxb
