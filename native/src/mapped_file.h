// Read-only memory mapping of a whole file: weights are used in place, never copied.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace mlxb {

class MappedFile {
public:
    explicit MappedFile(const std::string & path);  // throws Error(MLXB_ERR_IO)
    ~MappedFile();
    MappedFile(const MappedFile &) = delete;
    MappedFile & operator=(const MappedFile &) = delete;

    const uint8_t * data() const { return data_; }
    size_t size() const { return size_; }
    // Drops the pages wholly inside [p, p + n) from this process (they come back from the file if read again):
    // for weights a backend has copied into another layout. Ranges outside the mapping are ignored.
    void release(const void * p, size_t n) const;

private:
    const uint8_t * data_ = nullptr;
    size_t size_ = 0;
};

}  // namespace mlxb
