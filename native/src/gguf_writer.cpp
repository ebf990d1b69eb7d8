#include "gguf_writer.h"

#include <cstdio>
#include <cstring>

#include "common.h"
#include "kernels/kernels.h"

namespace mlxb {

namespace {
constexpr uint64_t k_align = 32;
template <class V> void put(std::vector<uint8_t> & b, V v) {
    const uint8_t * p = (const uint8_t *)&v;
    b.insert(b.end(), p, p + sizeof(V));
}
void put_str(std::vector<uint8_t> & b, const std::string & s) {
    put<uint64_t>(b, s.size());
    b.insert(b.end(), s.begin(), s.end());
}
}  // namespace

void GgufWriter::kv_u32(const std::string & k, uint32_t v) { put_str(kv_, k); put<uint32_t>(kv_, 4); put(kv_, v); n_kv_++; }
void GgufWriter::kv_i32(const std::string & k, int32_t v) { put_str(kv_, k); put<uint32_t>(kv_, 5); put(kv_, v); n_kv_++; }
void GgufWriter::kv_f32(const std::string & k, float v) { put_str(kv_, k); put<uint32_t>(kv_, 6); put(kv_, v); n_kv_++; }
void GgufWriter::kv_bool(const std::string & k, bool v) { put_str(kv_, k); put<uint32_t>(kv_, 7); put<uint8_t>(kv_, v); n_kv_++; }
void GgufWriter::kv_str(const std::string & k, const std::string & v) { put_str(kv_, k); put<uint32_t>(kv_, 8); put_str(kv_, v); n_kv_++; }
void GgufWriter::kv_arr_str(const std::string & k, const std::vector<std::string> & v) {
    put_str(kv_, k); put<uint32_t>(kv_, 9); put<uint32_t>(kv_, 8); put<uint64_t>(kv_, v.size());
    for (const auto & s : v) put_str(kv_, s);
    n_kv_++;
}
void GgufWriter::kv_arr_f32(const std::string & k, const std::vector<float> & v) {
    put_str(kv_, k); put<uint32_t>(kv_, 9); put<uint32_t>(kv_, 6); put<uint64_t>(kv_, v.size());
    for (float x : v) put(kv_, x);
    n_kv_++;
}
void GgufWriter::kv_arr_i32(const std::string & k, const std::vector<int32_t> & v) {
    put_str(kv_, k); put<uint32_t>(kv_, 9); put<uint32_t>(kv_, 5); put<uint64_t>(kv_, v.size());
    for (int32_t x : v) put(kv_, x);
    n_kv_++;
}

void GgufWriter::tensor(const std::string & name, TensorType type, std::vector<int64_t> ne, RowFn rows) {
    int64_t n = 1;
    for (int64_t d : ne) n *= d;
    uint64_t bytes = (uint64_t)(n / ne[0]) * (uint64_t)row_bytes(type, ne[0]);
    tensors_.push_back({name, type, std::move(ne), std::move(rows), data_size_, bytes});
    data_size_ += (bytes + k_align - 1) / k_align * k_align;
}

void GgufWriter::write(const Sink & sink) const {
    std::vector<uint8_t> h;
    h.insert(h.end(), {'G', 'G', 'U', 'F'});
    put<uint32_t>(h, 3);
    put<uint64_t>(h, tensors_.size());
    put<uint64_t>(h, n_kv_);
    h.insert(h.end(), kv_.begin(), kv_.end());
    for (const T & t : tensors_) {
        put_str(h, t.name);
        put<uint32_t>(h, (uint32_t)t.ne.size());
        for (int64_t d : t.ne) put<uint64_t>(h, (uint64_t)d);
        put<uint32_t>(h, (uint32_t)t.type);
        put<uint64_t>(h, t.offset);
    }
    h.resize((h.size() + k_align - 1) / k_align * k_align, 0);
    sink(h.data(), h.size());
    std::vector<float> row;
    std::vector<uint8_t> q;
    const uint8_t zeros[k_align] = {};
    for (const T & t : tensors_) {
        const int64_t cols = t.ne[0], nrows = (int64_t)(t.bytes / row_bytes(t.type, cols));
        row.resize(cols);
        q.resize(row_bytes(t.type, cols));
        for (int64_t r = 0; r < nrows; r++) {
            t.rows(r, row.data());
            quantize_row(t.type, row.data(), q.data(), cols);
            sink(q.data(), q.size());
        }
        uint64_t pad = (k_align - t.bytes % k_align) % k_align;
        if (pad) sink(zeros, pad);
    }
}

void GgufWriter::write_file(const std::string & path) const {
    std::FILE * f = std::fopen(path.c_str(), "wb");
    if (!f) fail(MLXB_ERR_IO, "cannot create '" + path + "'");
    bool ok = true;
    write([&](const void * p, size_t n) { ok = ok && std::fwrite(p, 1, n, f) == n; });
    ok = std::fclose(f) == 0 && ok;
    if (!ok) fail(MLXB_ERR_IO, "error writing '" + path + "'");
}

std::vector<uint8_t> GgufWriter::metadata_bytes() const {
    GgufWriter m;
    m.kv_ = kv_;
    m.n_kv_ = n_kv_;
    return m.to_bytes();
}

std::vector<uint8_t> GgufWriter::to_bytes() const {
    std::vector<uint8_t> out;
    write([&](const void * p, size_t n) { out.insert(out.end(), (const uint8_t *)p, (const uint8_t *)p + n); });
    return out;
}

}  // namespace mlxb
