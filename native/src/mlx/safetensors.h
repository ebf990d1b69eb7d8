// safetensors reader (one file or the shards of model.safetensors.index.json) over read-only mappings, and a
// streaming writer. Layout: u64 little-endian header length N, N bytes of JSON
// {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}}, then the data
// section; offsets are relative to it. Every length, shape and offset is checked before use: a malformed or hostile
// file is an Error(MLXB_ERR_FORMAT / MLXB_ERR_UNSUPPORTED), never a crash.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "../mapped_file.h"

namespace mlxb {

enum class StDtype { F32, F16, BF16, U32, I32, U8, I8, F64, I64, U16, I16 };
const char * st_dtype_name(StDtype t);
size_t st_dtype_size(StDtype t);

struct StTensor {
    std::string name;
    StDtype dtype = StDtype::F32;
    std::vector<int64_t> shape;  // row-major: shape.back() varies fastest (PyTorch / MLX order)
    int64_t n_elements = 1;
    const uint8_t * data = nullptr;
    size_t n_bytes = 0;
    std::string file;            // the shard it came from (for messages)
};

// One .safetensors file.
class SafetensorsFile {
public:
    explicit SafetensorsFile(const std::string & path);  // maps and parses; throws Error
    SafetensorsFile(const uint8_t * data, size_t size, const std::string & name);  // caller-owned buffer (tests, fuzz)
    const std::map<std::string, StTensor> & tensors() const { return tensors_; }
    const std::map<std::string, std::string> & metadata() const { return metadata_; }
    // See MappedFile::release; a no-op for caller-owned buffers and bytes outside this file.
    void release(const void * p, size_t n) const {
        if (file_) file_->release(p, n);
    }

private:
    void parse(const uint8_t * data, size_t size, const std::string & name);
    std::unique_ptr<MappedFile> file_;
    std::map<std::string, StTensor> tensors_;
    std::map<std::string, std::string> metadata_;
};

// The weights of a model folder: model.safetensors.index.json and its shards when the index exists, else
// model.safetensors. Tensor names are unique across shards.
class SafetensorsSet {
public:
    explicit SafetensorsSet(const std::string & dir);  // throws Error
    const StTensor * find(const std::string & name) const;
    const std::map<std::string, const StTensor *> & all() const { return index_; }
    const std::map<std::string, std::string> & metadata() const { return files_.front()->metadata(); }
    void release(const void * p, size_t n) const {
        for (const auto & f : files_) f->release(p, n);
    }

private:
    std::vector<std::unique_ptr<SafetensorsFile>> files_;
    std::map<std::string, const StTensor *> index_;
};

// Streams tensors into one file: header (padded so the data section starts at a multiple of 64) then each
// tensor's bytes at a 64-byte aligned offset, produced by its callback. Written to a temporary file and renamed.
class SafetensorsWriter {
public:
    using Sink = std::function<void(const void *, size_t)>;
    using Fill = std::function<void(const Sink &)>;  // must write exactly the tensor's byte count
    void add(const std::string & name, StDtype dtype, std::vector<int64_t> shape, Fill fill);
    void metadata(const std::string & key, const std::string & value) { meta_[key] = value; }
    void write_file(const std::string & path) const;  // throws Error(MLXB_ERR_IO)
    std::vector<uint8_t> to_bytes() const;
    void write(const Sink & sink) const;

private:
    struct T { std::string name; StDtype dtype; std::vector<int64_t> shape; Fill fill; uint64_t off, bytes; };
    std::vector<T> tensors_;
    std::map<std::string, std::string> meta_;
    uint64_t size_ = 0;
};

}  // namespace mlxb
