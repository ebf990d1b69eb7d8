// GGUF v2/v3 reader over a memory-mapped file. Every count, length and offset is checked against the file size
// before use, so truncated or hostile files produce Error(MLXB_ERR_FORMAT / MLXB_ERR_UNSUPPORTED), never a crash.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "mapped_file.h"
#include "tensor_types.h"

namespace mlxb {

enum class GgufType : uint32_t {
    U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, BOOL = 7, STRING = 8, ARRAY = 9,
    U64 = 10, I64 = 11, F64 = 12,
};

struct GgufValue {
    GgufType type = GgufType::U8;
    // Scalars (integers/bools in i/u, floats in f; all three filled so callers may ask for any numeric view).
    int64_t i = 0;
    uint64_t u = 0;
    double f = 0;
    std::string_view str;  // STRING (points into the mapping)
    // ARRAY: element type and count; scalar elements stay in the mapping at `data`, strings are listed in `strs`.
    GgufType arr_type = GgufType::U8;
    uint64_t arr_count = 0;
    const uint8_t * data = nullptr;
    std::vector<std::string_view> strs;
};

struct GgufTensor {
    std::string name;
    uint32_t n_dims = 0;
    int64_t ne[4] = {1, 1, 1, 1};  // ne[0] is the fastest-varying dimension (row length)
    TensorType type = TensorType::F32;
    uint64_t offset = 0;           // relative to the data section
    int64_t n_elements = 0;
    int64_t n_bytes = 0;
    const uint8_t * data = nullptr;
};

class GgufFile {
public:
    // Maps and parses; throws Error on any problem.
    explicit GgufFile(const std::string & path);
    // Parses a caller-owned buffer (used by tests and fuzzing); the buffer must outlive this object.
    GgufFile(const uint8_t * data, size_t size);

    uint32_t version() const { return version_; }
    uint32_t alignment() const { return alignment_; }
    size_t data_offset() const { return data_offset_; }
    const std::map<std::string, GgufValue, std::less<>> & kv() const { return kv_; }
    const std::vector<GgufTensor> & tensors() const { return tensors_; }

    // See MappedFile::release; a no-op for caller-owned buffers.
    void release(const void * p, size_t n) const {
        if (file_) file_->release(p, n);
    }

    const GgufValue * find(std::string_view key) const;
    const GgufTensor * tensor(std::string_view name) const;

    // Typed getters; throw Error(MLXB_ERR_FORMAT) on a type mismatch, return the default when absent.
    std::string get_str(std::string_view key, const std::string & def = "") const;
    int64_t get_int(std::string_view key, int64_t def) const;     // any integer type
    double get_float(std::string_view key, double def) const;     // any numeric type
    bool get_bool(std::string_view key, bool def) const;
    bool has(std::string_view key) const { return find(key) != nullptr; }
    // Numeric array element as double / int64 (index must be < arr_count; the caller checks)
    static double arr_f(const GgufValue & v, uint64_t idx);
    static int64_t arr_i(const GgufValue & v, uint64_t idx);

private:
    void parse(const uint8_t * data, size_t size);

    std::unique_ptr<MappedFile> file_;
    uint32_t version_ = 0;
    uint32_t alignment_ = 32;
    size_t data_offset_ = 0;
    std::map<std::string, GgufValue, std::less<>> kv_;
    std::vector<GgufTensor> tensors_;
    std::map<std::string, size_t, std::less<>> tensor_index_;
};

size_t gguf_type_size(GgufType t);  // 0 for STRING/ARRAY/unknown

}  // namespace mlxb
