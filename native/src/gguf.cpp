#include "gguf.h"

#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "common.h"

namespace mlxb {

namespace {

constexpr uint32_t k_max_name = 256;        // ggml allows 64; be lenient but bounded
constexpr int k_max_array_depth = 4;        // nested arrays deeper than this are surely garbage

[[noreturn]] void bad(const std::string & msg) { fail(MLXB_ERR_FORMAT, "GGUF: " + msg); }

// Bounds-checked little-endian cursor over the mapping.
struct Cursor {
    const uint8_t * p;
    size_t size;
    size_t pos = 0;

    size_t remaining() const { return size - pos; }
    void need(size_t n, const char * what) {
        if (n > remaining()) {
            char buf[160];
            std::snprintf(buf, sizeof buf, "file truncated reading %s at byte %zu (need %zu, have %zu)", what, pos, n,
                          remaining());
            bad(buf);
        }
    }
    template <class T> T read(const char * what) {
        need(sizeof(T), what);
        T v;
        std::memcpy(&v, p + pos, sizeof(T));
        pos += sizeof(T);
        return v;
    }
    std::string_view str(const char * what, uint64_t max_len = UINT64_MAX) {
        uint64_t len = read<uint64_t>(what);
        if (len > max_len) bad(std::string(what) + ": string length " + std::to_string(len) + " too long");
        need(len, what);
        std::string_view s((const char *)p + pos, (size_t)len);
        pos += (size_t)len;
        return s;
    }
};

void fill_numeric(GgufValue & v, const uint8_t * src) {
    switch (v.type) {
    case GgufType::U8: v.u = *src; v.i = (int64_t)v.u; break;
    case GgufType::I8: v.i = (int8_t)*src; v.u = (uint64_t)v.i; break;
    case GgufType::BOOL: v.u = *src != 0; v.i = (int64_t)v.u; break;
    case GgufType::U16: { uint16_t x; std::memcpy(&x, src, 2); v.u = x; v.i = x; break; }
    case GgufType::I16: { int16_t x; std::memcpy(&x, src, 2); v.i = x; v.u = (uint64_t)x; break; }
    case GgufType::U32: { uint32_t x; std::memcpy(&x, src, 4); v.u = x; v.i = x; break; }
    case GgufType::I32: { int32_t x; std::memcpy(&x, src, 4); v.i = x; v.u = (uint64_t)x; break; }
    case GgufType::U64: { uint64_t x; std::memcpy(&x, src, 8); v.u = x; v.i = (int64_t)x; break; }
    case GgufType::I64: { int64_t x; std::memcpy(&x, src, 8); v.i = x; v.u = (uint64_t)x; break; }
    case GgufType::F32: { float x; std::memcpy(&x, src, 4); v.f = x; return; }
    case GgufType::F64: { double x; std::memcpy(&x, src, 8); v.f = x; return; }
    default: return;
    }
    v.f = (double)v.i;
}

// Skips (validating) one array element sequence; used for nested arrays, which we keep only as raw bytes.
void skip_array(Cursor & c, GgufType et, uint64_t count, int depth) {
    if (depth > k_max_array_depth) bad("arrays nested too deeply");
    size_t es = gguf_type_size(et);
    if (es) {
        if (count > c.remaining() / es) bad("array count " + std::to_string(count) + " exceeds file size");
        c.pos += (size_t)(count * es);
        return;
    }
    if (et == GgufType::STRING) {
        if (count > c.remaining() / 8) bad("string array count exceeds file size");
        for (uint64_t k = 0; k < count; k++) c.str("array string");
        return;
    }
    if (et == GgufType::ARRAY) {
        if (count > c.remaining() / 12) bad("array-of-arrays count exceeds file size");
        for (uint64_t k = 0; k < count; k++) {
            uint32_t t = c.read<uint32_t>("nested array type");
            if (t > 12) bad("unknown nested array element type " + std::to_string(t));
            uint64_t n = c.read<uint64_t>("nested array count");
            skip_array(c, (GgufType)t, n, depth + 1);
        }
        return;
    }
    bad("unknown array element type");
}

}  // namespace

size_t gguf_type_size(GgufType t) {
    switch (t) {
    case GgufType::U8: case GgufType::I8: case GgufType::BOOL: return 1;
    case GgufType::U16: case GgufType::I16: return 2;
    case GgufType::U32: case GgufType::I32: case GgufType::F32: return 4;
    case GgufType::U64: case GgufType::I64: case GgufType::F64: return 8;
    default: return 0;
    }
}

GgufFile::GgufFile(const std::string & path) : file_(std::make_unique<MappedFile>(path)) {
    try {
        parse(file_->data(), file_->size());
    } catch (const Error & e) {
        throw Error(e.status, std::string(e.what()) + " (" + path + ")");
    }
}

GgufFile::GgufFile(const uint8_t * data, size_t size) { parse(data, size); }

void GgufFile::parse(const uint8_t * data, size_t size) {
    Cursor c{data, size};
    if (size < 4 || std::memcmp(data, "GGUF", 4) != 0) bad("bad magic (not a GGUF file)");
    c.pos = 4;
    version_ = c.read<uint32_t>("version");
    if (version_ == 1) fail(MLXB_ERR_UNSUPPORTED, "GGUF: version 1 is not supported (re-convert the model)");
    if (version_ != 2 && version_ != 3) bad("unknown version " + std::to_string(version_));
    uint64_t n_tensors = c.read<uint64_t>("tensor count");
    uint64_t n_kv = c.read<uint64_t>("metadata count");
    // Each kv needs >= 8+1+4+1 bytes and each tensor info >= 8+1+4+8+4+8: cheap early rejection of huge counts.
    if (n_kv > c.remaining() / 14) bad("metadata count " + std::to_string(n_kv) + " exceeds file size");
    if (n_tensors > c.remaining() / 33) bad("tensor count " + std::to_string(n_tensors) + " exceeds file size");

    for (uint64_t k = 0; k < n_kv; k++) {
        std::string key(c.str("metadata key", 65535));
        GgufValue v;
        uint32_t t = c.read<uint32_t>("metadata type");
        if (t > 12) bad("key '" + key + "': unknown value type " + std::to_string(t));
        v.type = (GgufType)t;
        if (v.type == GgufType::STRING) {
            v.str = c.str("metadata string");
        } else if (v.type == GgufType::ARRAY) {
            uint32_t et = c.read<uint32_t>("array type");
            if (et > 12) bad("key '" + key + "': unknown array element type " + std::to_string(et));
            v.arr_type = (GgufType)et;
            v.arr_count = c.read<uint64_t>("array count");
            v.data = c.p + c.pos;
            if (v.arr_type == GgufType::STRING) {
                if (v.arr_count > c.remaining() / 8) bad("key '" + key + "': array count exceeds file size");
                v.strs.reserve((size_t)v.arr_count);
                for (uint64_t j = 0; j < v.arr_count; j++) v.strs.push_back(c.str("array string"));
            } else {
                skip_array(c, v.arr_type, v.arr_count, 1);
            }
        } else {
            size_t es = gguf_type_size(v.type);
            c.need(es, "metadata value");
            fill_numeric(v, c.p + c.pos);
            c.pos += es;
        }
        if (kv_.count(key)) bad("duplicate key '" + key + "'");
        kv_.emplace(std::move(key), std::move(v));
    }

    if (const GgufValue * a = find("general.alignment")) {
        if (a->type != GgufType::U32 && a->type != GgufType::I32 && a->type != GgufType::U64)
            bad("general.alignment has wrong type");
        if (a->u == 0 || a->u > (1u << 20) || (a->u & (a->u - 1))) bad("general.alignment must be a power of two");
        alignment_ = (uint32_t)a->u;
    }

    tensors_.reserve((size_t)n_tensors);
    for (uint64_t k = 0; k < n_tensors; k++) {
        GgufTensor ti;
        ti.name = std::string(c.str("tensor name", k_max_name));
        ti.n_dims = c.read<uint32_t>("tensor dims");
        if (ti.n_dims < 1 || ti.n_dims > 4)
            bad("tensor '" + ti.name + "': bad number of dimensions " + std::to_string(ti.n_dims));
        int64_t n = 1;
        for (uint32_t d = 0; d < ti.n_dims; d++) {
            uint64_t x = c.read<uint64_t>("tensor dim");
            if (x == 0 || x > (uint64_t)INT64_MAX / 2 || (uint64_t)n > (uint64_t)INT64_MAX / 2 / x)
                bad("tensor '" + ti.name + "': bad dimension " + std::to_string(x));
            ti.ne[d] = (int64_t)x;
            n *= (int64_t)x;
        }
        ti.n_elements = n;
        uint32_t type = c.read<uint32_t>("tensor type");
        int64_t be, bb;
        const char * tn;
        if (!tensor_type_info(type, &be, &bb, &tn)) {
            if (type < 40) fail(MLXB_ERR_UNSUPPORTED, "GGUF: tensor '" + ti.name + "' has unsupported type " +
                                                      std::to_string(type) + " (supported: F32 F16 BF16 Q8_0 Q4_0)");
            bad("tensor '" + ti.name + "': unknown type " + std::to_string(type));
        }
        ti.type = (TensorType)type;
        if (ti.ne[0] % be != 0) bad("tensor '" + ti.name + "': row length not a multiple of the block size");
        // No tensor is larger than the file: checking that first also keeps the byte count from overflowing.
        if (n / be > (int64_t)(size / (size_t)bb))
            bad("tensor '" + ti.name + "': " + std::to_string(n) + " elements do not fit in a file of " + std::to_string(size) + " bytes");
        ti.n_bytes = n / be * bb;
        ti.offset = c.read<uint64_t>("tensor offset");
        if (ti.offset % alignment_ != 0) bad("tensor '" + ti.name + "': offset not aligned");
        if (tensor_index_.count(ti.name)) bad("duplicate tensor '" + ti.name + "'");
        tensor_index_.emplace(ti.name, tensors_.size());
        tensors_.push_back(std::move(ti));
    }

    size_t data_start = (c.pos + alignment_ - 1) / alignment_ * alignment_;
    if (n_tensors > 0 && data_start > size) bad("data section starts beyond end of file");
    data_offset_ = data_start;
    uint64_t data_size = size > data_start ? size - data_start : 0;
    for (GgufTensor & t : tensors_) {
        if (t.offset > data_size || (uint64_t)t.n_bytes > data_size - t.offset)
            bad("tensor '" + t.name + "' lies outside the file (offset " + std::to_string(t.offset) + ", " +
                std::to_string(t.n_bytes) + " bytes, data section " + std::to_string(data_size) + " bytes)");
        t.data = data + data_start + t.offset;
    }
}

const GgufValue * GgufFile::find(std::string_view key) const {
    auto it = kv_.find(key);
    return it == kv_.end() ? nullptr : &it->second;
}

const GgufTensor * GgufFile::tensor(std::string_view name) const {
    auto it = tensor_index_.find(name);
    return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

static bool is_int(GgufType t) {
    return t == GgufType::U8 || t == GgufType::I8 || t == GgufType::U16 || t == GgufType::I16 ||
           t == GgufType::U32 || t == GgufType::I32 || t == GgufType::U64 || t == GgufType::I64 ||
           t == GgufType::BOOL;
}

std::string GgufFile::get_str(std::string_view key, const std::string & def) const {
    const GgufValue * v = find(key);
    if (!v) return def;
    if (v->type != GgufType::STRING) bad("key '" + std::string(key) + "' is not a string");
    return std::string(v->str);
}

int64_t GgufFile::get_int(std::string_view key, int64_t def) const {
    const GgufValue * v = find(key);
    if (!v) return def;
    if (!is_int(v->type)) bad("key '" + std::string(key) + "' is not an integer");
    return v->i;
}

double GgufFile::get_float(std::string_view key, double def) const {
    const GgufValue * v = find(key);
    if (!v) return def;
    if (!is_int(v->type) && v->type != GgufType::F32 && v->type != GgufType::F64)
        bad("key '" + std::string(key) + "' is not a number");
    return v->f;
}

bool GgufFile::get_bool(std::string_view key, bool def) const {
    const GgufValue * v = find(key);
    if (!v) return def;
    if (!is_int(v->type)) bad("key '" + std::string(key) + "' is not a bool");
    return v->u != 0;
}

double GgufFile::arr_f(const GgufValue & v, uint64_t idx) {
    GgufValue e;
    e.type = v.arr_type;
    fill_numeric(e, v.data + idx * gguf_type_size(v.arr_type));
    return e.f;
}

int64_t GgufFile::arr_i(const GgufValue & v, uint64_t idx) {
    GgufValue e;
    e.type = v.arr_type;
    fill_numeric(e, v.data + idx * gguf_type_size(v.arr_type));
    return e.type == GgufType::F32 || e.type == GgufType::F64 ? (int64_t)e.f : e.i;
}

}  // namespace mlxb
