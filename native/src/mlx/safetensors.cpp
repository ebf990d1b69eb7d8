#include "safetensors.h"

#include <cstdio>
#include <cstring>
#include <limits>

#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "../common.h"

namespace mlxb {

using nlohmann::json;

namespace {

struct DtypeInfo { const char * name; StDtype t; size_t size; };
const DtypeInfo k_dtypes[] = {
    {"F32", StDtype::F32, 4}, {"F16", StDtype::F16, 2}, {"BF16", StDtype::BF16, 2}, {"U32", StDtype::U32, 4},
    {"I32", StDtype::I32, 4}, {"U8", StDtype::U8, 1},   {"I8", StDtype::I8, 1},     {"F64", StDtype::F64, 8},
    {"I64", StDtype::I64, 8}, {"U16", StDtype::U16, 2}, {"I16", StDtype::I16, 2},
};

[[noreturn]] void bad(const std::string & file, const std::string & m) { fail(MLXB_ERR_FORMAT, "safetensors '" + file + "': " + m); }

constexpr uint64_t k_max_header = 100u << 20;  // the reference implementation's limit

bool file_exists(const std::string & p) {
    struct stat st;
    return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

}  // namespace

const char * st_dtype_name(StDtype t) {
    for (const DtypeInfo & d : k_dtypes)
        if (d.t == t) return d.name;
    return "?";
}

size_t st_dtype_size(StDtype t) {
    for (const DtypeInfo & d : k_dtypes)
        if (d.t == t) return d.size;
    return 0;
}

SafetensorsFile::SafetensorsFile(const std::string & path) : file_(std::make_unique<MappedFile>(path)) {
    parse(file_->data(), file_->size(), path);
}

SafetensorsFile::SafetensorsFile(const uint8_t * data, size_t size, const std::string & name) { parse(data, size, name); }

void SafetensorsFile::parse(const uint8_t * data, size_t size, const std::string & name) {
    if (size < 8) bad(name, "file is " + std::to_string(size) + " bytes, shorter than the 8-byte header length");
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | data[i];
    if (hlen > k_max_header) bad(name, "header length " + std::to_string(hlen) + " exceeds 100 MiB");
    if (hlen > size - 8) bad(name, "header length " + std::to_string(hlen) + " runs past the end of the file (" + std::to_string(size) + " bytes)");
    const char * h = (const char *)data + 8;
    json doc = json::parse(h, h + hlen, nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded()) bad(name, "header is not valid JSON");
    if (!doc.is_object()) bad(name, "header is not a JSON object");
    const uint8_t * base = data + 8 + hlen;
    const uint64_t data_size = size - 8 - hlen;
    for (auto it = doc.begin(); it != doc.end(); ++it) {
        const std::string & key = it.key();
        const json & v = it.value();
        if (key == "__metadata__") {
            if (!v.is_object()) bad(name, "__metadata__ is not an object");
            for (auto m = v.begin(); m != v.end(); ++m) {
                if (!m.value().is_string()) bad(name, "__metadata__ value '" + m.key() + "' is not a string");
                metadata_[m.key()] = m.value().get<std::string>();
            }
            continue;
        }
        const std::string where = "tensor '" + key + "'";
        if (!v.is_object()) bad(name, where + " is not an object");
        auto dt = v.find("dtype"), sh = v.find("shape"), off = v.find("data_offsets");
        if (dt == v.end() || !dt->is_string()) bad(name, where + ": dtype missing or not a string");
        if (sh == v.end() || !sh->is_array()) bad(name, where + ": shape missing or not an array");
        if (off == v.end() || !off->is_array() || off->size() != 2) bad(name, where + ": data_offsets must be [begin, end]");
        StTensor t;
        t.name = key;
        t.file = name;
        const std::string dts = dt->get<std::string>();
        const DtypeInfo * info = nullptr;
        for (const DtypeInfo & d : k_dtypes)
            if (dts == d.name) info = &d;
        if (!info) fail(MLXB_ERR_UNSUPPORTED, "safetensors '" + name + "': " + where + " has unsupported dtype '" + dts + "'");
        t.dtype = info->t;
        if (sh->size() > 8) bad(name, where + ": more than 8 dimensions");
        uint64_t n = 1;
        for (const json & d : *sh) {
            if (!d.is_number_unsigned()) bad(name, where + ": shape entries must be non-negative integers");
            const uint64_t e = d.get<uint64_t>();
            if (e > (uint64_t)INT64_MAX || (e && n > (uint64_t)INT64_MAX / e)) bad(name, where + ": element count overflows");
            n *= e;
            t.shape.push_back((int64_t)e);
        }
        if (n > std::numeric_limits<uint64_t>::max() / info->size) bad(name, where + ": byte size overflows");
        const json & b = (*off)[0], & e = (*off)[1];
        if (!b.is_number_unsigned() || !e.is_number_unsigned()) bad(name, where + ": data_offsets must be non-negative integers");
        const uint64_t ob = b.get<uint64_t>(), oe = e.get<uint64_t>();
        if (ob > oe || oe > data_size)
            bad(name, where + ": data_offsets [" + std::to_string(ob) + ", " + std::to_string(oe) +
                          "] outside the data section of " + std::to_string(data_size) + " bytes");
        if (oe - ob != n * info->size)
            bad(name, where + ": data_offsets span " + std::to_string(oe - ob) + " bytes, the shape and dtype need " +
                          std::to_string(n * info->size));
        t.n_elements = (int64_t)n;
        t.n_bytes = (size_t)(oe - ob);
        t.data = base + ob;
        tensors_.emplace(key, std::move(t));
    }
}

SafetensorsSet::SafetensorsSet(const std::string & dir) {
    const std::string index = dir + "/model.safetensors.index.json";
    if (file_exists(index)) {
        MappedFile f(index);
        json doc = json::parse((const char *)f.data(), (const char *)f.data() + f.size(), nullptr, false);
        if (doc.is_discarded() || !doc.is_object()) fail(MLXB_ERR_FORMAT, "'" + index + "' is not a JSON object");
        auto wm = doc.find("weight_map");
        if (wm == doc.end() || !wm->is_object() || wm->empty()) fail(MLXB_ERR_FORMAT, "'" + index + "': weight_map missing or empty");
        std::map<std::string, size_t> shard_of_file;
        for (auto it = wm->begin(); it != wm->end(); ++it) {
            if (!it.value().is_string()) fail(MLXB_ERR_FORMAT, "'" + index + "': weight_map['" + it.key() + "'] is not a string");
            const std::string shard = it.value().get<std::string>();
            if (shard.empty() || shard.find('/') != std::string::npos || shard == "." || shard == "..")
                fail(MLXB_ERR_FORMAT, "'" + index + "': shard name '" + shard + "' must be a file name in the model folder");
            if (!shard_of_file.count(shard)) {
                shard_of_file[shard] = files_.size();
                files_.push_back(std::make_unique<SafetensorsFile>(dir + "/" + shard));
            }
            const SafetensorsFile & sf = *files_[shard_of_file[shard]];
            auto t = sf.tensors().find(it.key());
            if (t == sf.tensors().end())
                fail(MLXB_ERR_FORMAT, "'" + index + "' maps tensor '" + it.key() + "' to '" + shard + "', which does not hold it");
            index_[it.key()] = &t->second;
        }
        // Tensors a shard holds but the index omits would silently go unused: a sign of a mismatched index.
        for (const auto & f2 : files_)
            for (const auto & kv : f2->tensors())
                if (!index_.count(kv.first)) fail(MLXB_ERR_FORMAT, "'" + index + "' does not list tensor '" + kv.first + "' of '" + kv.second.file + "'");
    } else {
        const std::string one = dir + "/model.safetensors";
        if (!file_exists(one)) fail(MLXB_ERR_IO, "'" + dir + "' has neither model.safetensors nor model.safetensors.index.json");
        files_.push_back(std::make_unique<SafetensorsFile>(one));
        for (const auto & kv : files_.back()->tensors()) index_[kv.first] = &kv.second;
    }
}

const StTensor * SafetensorsSet::find(const std::string & name) const {
    auto it = index_.find(name);
    return it == index_.end() ? nullptr : it->second;
}

void SafetensorsWriter::add(const std::string & name, StDtype dtype, std::vector<int64_t> shape, Fill fill) {
    uint64_t n = 1;
    for (int64_t d : shape) n *= (uint64_t)d;
    size_ = (size_ + 63) & ~(uint64_t)63;
    tensors_.push_back({name, dtype, std::move(shape), std::move(fill), size_, n * st_dtype_size(dtype)});
    size_ += tensors_.back().bytes;
}

void SafetensorsWriter::write(const Sink & sink) const {
    json h = json::object();
    if (!meta_.empty()) h["__metadata__"] = meta_;
    for (const T & t : tensors_) h[t.name] = {{"dtype", st_dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {t.off, t.off + t.bytes}}};
    std::string hs = h.dump();
    while ((8 + hs.size()) % 64) hs.push_back(' ');  // the format allows trailing spaces; aligns the data section
    uint8_t len[8];
    for (int i = 0; i < 8; i++) len[i] = (uint8_t)((uint64_t)hs.size() >> (8 * i));
    sink(len, 8);
    sink(hs.data(), hs.size());
    static const uint8_t zeros[64] = {};
    uint64_t pos = 0;
    for (const T & t : tensors_) {
        if (t.off > pos) sink(zeros, (size_t)(t.off - pos));
        uint64_t written = 0;
        t.fill([&](const void * p, size_t n) { written += n; sink(p, n); });
        if (written != t.bytes) fail(MLXB_ERR_INTERNAL, "safetensors writer: tensor '" + t.name + "' produced " + std::to_string(written) + " bytes, not " + std::to_string(t.bytes));
        pos = t.off + t.bytes;
    }
}

void SafetensorsWriter::write_file(const std::string & path) const {
    const std::string tmp = path + ".tmp";
    std::FILE * f = std::fopen(tmp.c_str(), "wb");
    if (!f) fail(MLXB_ERR_IO, "cannot create '" + tmp + "'");
    bool ok = true;
    try {
        write([&](const void * p, size_t n) { ok = ok && std::fwrite(p, 1, n, f) == n; });
    } catch (...) {
        std::fclose(f);
        std::remove(tmp.c_str());
        throw;
    }
    ok = std::fclose(f) == 0 && ok;
    if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
        std::remove(tmp.c_str());
        fail(MLXB_ERR_IO, "error writing '" + path + "'");
    }
}

std::vector<uint8_t> SafetensorsWriter::to_bytes() const {
    std::vector<uint8_t> out;
    write([&](const void * p, size_t n) { out.insert(out.end(), (const uint8_t *)p, (const uint8_t *)p + n); });
    return out;
}

}  // namespace mlxb
