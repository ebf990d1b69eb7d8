#include "mapped_file.h"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"

namespace mlxb {

MappedFile::MappedFile(const std::string & path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail(MLXB_ERR_IO, "cannot open '" + path + "': " + std::strerror(errno));
    struct stat st;
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        fail(MLXB_ERR_IO, "'" + path + "' is not a regular file");
    }
    size_ = (size_t)st.st_size;
    if (size_ > 0) {
        void * p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            ::close(fd);
            fail(MLXB_ERR_IO, "cannot map '" + path + "': " + std::strerror(e));
        }
        data_ = (const uint8_t *)p;
    }
    ::close(fd);  // the mapping keeps the file alive
}

void MappedFile::release(const void * p, size_t n) const {
    const uint8_t * b = (const uint8_t *)p;
    if (!data_ || b < data_ || n > size_ || b + n > data_ + size_) return;
    const uintptr_t page = (uintptr_t)::sysconf(_SC_PAGESIZE);
    const uintptr_t lo = ((uintptr_t)b + page - 1) & ~(page - 1), hi = ((uintptr_t)b + n) & ~(page - 1);
    if (hi > lo) ::madvise((void *)lo, hi - lo, MADV_DONTNEED);  // clean, read-only file pages: nothing is lost
}

MappedFile::~MappedFile() {
    if (data_) ::munmap((void *)data_, size_);
}

}  // namespace mlxb
