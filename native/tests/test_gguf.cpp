// The GGUF loader on well-formed and deliberately broken files: every broken file gives a status code and a
// message, never a crash (tests/fuzz_gguf.cpp pushes random mutations through the same path under sanitizers).
#include <cstring>

#include "common.h"
#include "gguf.h"
#include "gguf_writer.h"
#include "test_util.h"

using namespace mlxb_test;

namespace {

std::vector<uint8_t> tiny_bytes(mlxb::TensorType t = mlxb::TensorType::F32) {
    return mlxb::random_model(tiny_shape(), t, 3).to_bytes();
}

// Loads bytes through the public API (a real file, mmapped), returning the status and leaving the message.
int32_t load_bytes(const std::vector<uint8_t> & bytes, std::string * msg = nullptr, bool vocab_only = false) {
    TempFile f;
    write_file(f.path, bytes.data(), bytes.size());
    mlxb_model_params p = mlxb_model_default_params();
    p.vocab_only = vocab_only;
    mlxb_model * m = nullptr;
    int32_t rc = mlxb_model_load(f.path.c_str(), &p, &m);
    if (msg) *msg = mlxb_last_error();
    if (rc == MLXB_OK) EXPECT_NE(m, nullptr);
    else EXPECT_EQ(m, nullptr);
    mlxb_model_free(m);
    return rc;
}

// Offset of the tensor-info record of `name` (its uint64 name length).
size_t tensor_info_at(const std::vector<uint8_t> & b, const std::string & name) {
    for (size_t i = 0; i + 8 + name.size() <= b.size(); i++) {
        uint64_t len;
        std::memcpy(&len, &b[i], 8);
        if (len == name.size() && std::memcmp(&b[i + 8], name.data(), name.size()) == 0) return i;
    }
    ADD_FAILURE() << "tensor info for " << name << " not found";
    return 0;
}

template <class T> void poke(std::vector<uint8_t> & b, size_t at, T v) { std::memcpy(&b[at], &v, sizeof v); }

// Field offsets inside a 2-D tensor-info record at `at` for a name of length n.
size_t dims_at(size_t at, size_t n) { return at + 8 + n + 4; }
size_t type_at(size_t at, size_t n, uint32_t nd = 2) { return dims_at(at, n) + 8 * nd; }
size_t offset_at(size_t at, size_t n) { return type_at(at, n) + 4; }

// A minimal GGUF by hand: header + the given kv bytes (count n_kv), no tensors.
std::vector<uint8_t> header(uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    std::vector<uint8_t> b = {'G', 'G', 'U', 'F'};
    b.resize(24);
    poke(b, 4, version);
    poke(b, 8, n_tensors);
    poke(b, 16, n_kv);
    return b;
}
void put_str(std::vector<uint8_t> & b, const std::string & s) {
    size_t at = b.size();
    b.resize(at + 8 + s.size());
    poke<uint64_t>(b, at, s.size());
    std::memcpy(&b[at + 8], s.data(), s.size());
}
template <class T> void put(std::vector<uint8_t> & b, T v) {
    size_t at = b.size();
    b.resize(at + sizeof v);
    poke(b, at, v);
}

}  // namespace

TEST(Gguf, GeneratedModelParsesWithEveryValueType) {
    // One key of each metadata type, nested arrays included, read back through the typed getters.
    std::vector<uint8_t> b = header(3, 0, 14);
    auto key = [&](const std::string & k, uint32_t type) { put_str(b, k); put(b, type); };
    key("u8", 0); put<uint8_t>(b, 200);
    key("i8", 1); put<int8_t>(b, -100);
    key("u16", 2); put<uint16_t>(b, 60000);
    key("i16", 3); put<int16_t>(b, -30000);
    key("u32", 4); put<uint32_t>(b, 4000000000u);
    key("i32", 5); put<int32_t>(b, -2000000000);
    key("f32", 6); put<float>(b, 1.5f);
    key("bool", 7); put<uint8_t>(b, 1);
    key("str", 8); put_str(b, "hello");
    key("arr", 9); put<uint32_t>(b, 5); put<uint64_t>(b, 3); put<int32_t>(b, 1); put<int32_t>(b, -2); put<int32_t>(b, 3);
    key("u64", 10); put<uint64_t>(b, 1ull << 40);
    key("i64", 11); put<int64_t>(b, -(1ll << 40));
    key("f64", 12); put<double>(b, -0.25);
    key("nested", 9); put<uint32_t>(b, 9); put<uint64_t>(b, 2);
    put<uint32_t>(b, 8); put<uint64_t>(b, 1); put_str(b, "x");
    put<uint32_t>(b, 0); put<uint64_t>(b, 2); put<uint8_t>(b, 1); put<uint8_t>(b, 2);
    mlxb::GgufFile f(b.data(), b.size());
    EXPECT_EQ(f.version(), 3u);
    EXPECT_EQ(f.get_int("u8", 0), 200);
    EXPECT_EQ(f.get_int("i8", 0), -100);
    EXPECT_EQ(f.get_int("u16", 0), 60000);
    EXPECT_EQ(f.get_int("i16", 0), -30000);
    EXPECT_EQ(f.get_int("u32", 0), 4000000000ll);
    EXPECT_EQ(f.get_int("i32", 0), -2000000000);
    EXPECT_EQ(f.get_float("f32", 0), 1.5);
    EXPECT_TRUE(f.get_bool("bool", false));
    EXPECT_EQ(f.get_str("str"), "hello");
    EXPECT_EQ(f.find("arr")->arr_count, 3u);
    EXPECT_EQ(mlxb::GgufFile::arr_i(*f.find("arr"), 1), -2);
    EXPECT_EQ(f.get_int("u64", 0), 1ll << 40);
    EXPECT_EQ(f.get_int("i64", 0), -(1ll << 40));
    EXPECT_EQ(f.get_float("f64", 0), -0.25);
    EXPECT_EQ(f.find("nested")->arr_count, 2u);
    EXPECT_THROW(f.get_int("str", 0), mlxb::Error);  // wrong type asked for
    EXPECT_EQ(f.get_int("absent", 42), 42);

    // v2 has the same layout.
    poke<uint32_t>(b, 4, 2);
    EXPECT_EQ(mlxb::GgufFile(b.data(), b.size()).version(), 2u);
}

TEST(Gguf, Stories260KLayoutAndTheMisspelledKey) {
    MLXB_REQUIRE_SHARED(path, "models/stories260K.gguf");
    mlxb::GgufFile f(path);
    EXPECT_EQ(f.version(), 3u);
    EXPECT_EQ(f.tensors().size(), 48u);
    EXPECT_EQ(f.kv().size(), 19u);
    EXPECT_EQ(f.alignment(), 32u);
    EXPECT_EQ(f.data_offset(), 14176u);
    EXPECT_TRUE(f.has("tokenizer.ggml.seperator_token_id"));  // tolerated, unused
    const mlxb::GgufTensor * t = f.tensor("token_embd.weight");
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(t->ne[0], 64);
    EXPECT_EQ(t->ne[1], 512);
    // Mapped, not copied: the tensor data points into the file mapping at data_offset + offset.
    const mlxb::GgufTensor * first = &f.tensors()[0];
    EXPECT_EQ(t->data - first->data, (ptrdiff_t)(t->offset - first->offset));
}

TEST(Gguf, EveryTruncationIsRejected) {
    const std::vector<uint8_t> b = tiny_bytes();
    ASSERT_EQ(load_bytes(b), MLXB_OK) << mlxb_last_error();
    // Every prefix through the header and tensor infos, then coarser steps through the data.
    size_t header_end = mlxb::GgufFile(b.data(), b.size()).data_offset();
    int checked = 0;
    for (size_t n = 0; n < b.size(); n += n < header_end + 64 ? 1 : 997) {
        std::vector<uint8_t> cut(b.begin(), b.begin() + n);
        try {
            mlxb::GgufFile f(cut.data(), cut.size());
            ADD_FAILURE() << "prefix of " << n << " bytes parsed";
        } catch (const mlxb::Error & e) {
            EXPECT_EQ(e.status, MLXB_ERR_FORMAT) << n << ": " << e.what();
        }
        checked++;
    }
    EXPECT_GT(checked, 1000);
    std::string msg;
    EXPECT_EQ(load_bytes(std::vector<uint8_t>(b.begin(), b.end() - 1), &msg), MLXB_ERR_FORMAT);
    EXPECT_NE(msg.find("outside the file"), std::string::npos) << msg;
    EXPECT_EQ(load_bytes(std::vector<uint8_t>(b.begin(), b.begin() + 1000), &msg), MLXB_ERR_FORMAT);
    EXPECT_TRUE(msg.find("truncated") != std::string::npos || msg.find("exceeds file size") != std::string::npos) << msg;
    EXPECT_EQ(load_bytes({}, &msg), MLXB_ERR_FORMAT);
}

TEST(Gguf, BadMagicAndVersions) {
    std::vector<uint8_t> b = tiny_bytes();
    std::string msg;
    b[0] = 'X';
    EXPECT_EQ(load_bytes(b, &msg), MLXB_ERR_FORMAT);
    EXPECT_NE(msg.find("magic"), std::string::npos) << msg;
    b[0] = 'G';
    poke<uint32_t>(b, 4, 1);
    EXPECT_EQ(load_bytes(b, &msg), MLXB_ERR_UNSUPPORTED);
    EXPECT_NE(msg.find("version 1"), std::string::npos) << msg;
    poke<uint32_t>(b, 4, 99);
    EXPECT_EQ(load_bytes(b, &msg), MLXB_ERR_FORMAT);
    poke<uint32_t>(b, 4, 3);
    poke<uint64_t>(b, 8, ~0ull);  // tensor count
    EXPECT_EQ(load_bytes(b, &msg), MLXB_ERR_FORMAT);
    poke<uint64_t>(b, 8, 0);
    poke<uint64_t>(b, 16, 1ull << 60);  // kv count
    EXPECT_EQ(load_bytes(b, &msg), MLXB_ERR_FORMAT);
}

TEST(Gguf, TensorOutOfBoundsOrMisaligned) {
    const std::vector<uint8_t> good = tiny_bytes();
    const std::string name = "blk.1.ffn_down.weight";
    const size_t at = tensor_info_at(good, name);
    std::string msg;
    std::vector<uint8_t> b = good;
    poke<uint64_t>(b, offset_at(at, name.size()), 1ull << 40);
    EXPECT_EQ(load_bytes(b, &msg), MLXB_ERR_FORMAT);
    EXPECT_NE(msg.find(name), std::string::npos) << msg;
    b = good;
    poke<uint64_t>(b, offset_at(at, name.size()), ~0ull - 31);  // offset + size wraps around
    EXPECT_EQ(load_bytes(b, &msg), MLXB_ERR_FORMAT);
    b = good;
    poke<uint64_t>(b, offset_at(at, name.size()), 4);  // not a multiple of the alignment
    EXPECT_EQ(load_bytes(b, &msg), MLXB_ERR_FORMAT);
    EXPECT_NE(msg.find("aligned"), std::string::npos) << msg;
    b = good;
    poke<uint64_t>(b, dims_at(at, name.size()), 1ull << 62);  // element count overflows
    EXPECT_EQ(load_bytes(b, &msg), MLXB_ERR_FORMAT);
    b = good;  // 2^61 x 1 elements: passes the element-count check, but 4 bytes each would overflow int64
    poke<uint64_t>(b, dims_at(at, name.size()), 1ull << 61);
    poke<uint64_t>(b, dims_at(at, name.size()) + 8, 1);
    EXPECT_EQ(load_bytes(b, &msg), MLXB_ERR_FORMAT);
    EXPECT_NE(msg.find("do not fit"), std::string::npos) << msg;
    b = good;
    poke<uint64_t>(b, dims_at(at, name.size()), 0);
    EXPECT_EQ(load_bytes(b, &msg), MLXB_ERR_FORMAT);
    b = good;
    poke<uint32_t>(b, at + 8 + name.size(), 5);  // n_dims
    EXPECT_EQ(load_bytes(b, &msg), MLXB_ERR_FORMAT);
    b = good;
    poke<uint64_t>(b, at, 1ull << 40);  // tensor name length
    EXPECT_EQ(load_bytes(b, &msg), MLXB_ERR_FORMAT);
}

TEST(Gguf, WrongTypesAreRejectedWithTheirName) {
    const std::vector<uint8_t> good = tiny_bytes();
    const std::string name = "blk.0.attn_q.weight";
    const size_t at = tensor_info_at(good, name);
    std::string msg;
    std::vector<uint8_t> b = good;
    poke<uint32_t>(b, type_at(at, name.size()), 3);  // Q4_1: valid ggml type we do not implement
    EXPECT_EQ(load_bytes(b, &msg), MLXB_ERR_UNSUPPORTED);
    EXPECT_NE(msg.find(name), std::string::npos) << msg;
    poke<uint32_t>(b, type_at(at, name.size()), 4000);  // garbage
    EXPECT_EQ(load_bytes(b, &msg), MLXB_ERR_FORMAT);
    // A norm stored as F16: the file is consistent but the architecture wants F32 norms.
    const std::string norm = "blk.0.attn_norm.weight";
    b = good;
    poke<uint32_t>(b, type_at(tensor_info_at(good, norm), norm.size(), 1), 1);
    EXPECT_NE(load_bytes(b, &msg), MLXB_OK);
    EXPECT_NE(msg.find(norm), std::string::npos) << msg;
    // Q8_0 row length that is not a multiple of 32.
    b = good;
    poke<uint32_t>(b, type_at(at, name.size()), 8);
    poke<uint64_t>(b, dims_at(at, name.size()), 48);
    EXPECT_EQ(load_bytes(b, &msg), MLXB_ERR_FORMAT);
}

TEST(Gguf, MetadataOfTheWrongTypeOrShape) {
    auto model_with = [](const std::function<void(mlxb::GgufWriter &)> & edit, bool drop_embd_len = false) {
        mlxb::GgufWriter w = mlxb::random_model(tiny_shape(), mlxb::TensorType::F32, 3);
        edit(w);
        return w.to_bytes();
    };
    std::string msg;
    // Duplicate key (the generator already wrote llama.block_count).
    EXPECT_EQ(load_bytes(model_with([](mlxb::GgufWriter & w) { w.kv_u32("llama.block_count", 2); }), &msg), MLXB_ERR_FORMAT);
    EXPECT_NE(msg.find("duplicate"), std::string::npos) << msg;
    // Unknown keys are fine, whatever their type.
    EXPECT_EQ(load_bytes(model_with([](mlxb::GgufWriter & w) { w.kv_str("vendor.something", "x"); w.kv_u32("tokenizer.ggml.seperator_token_id", 0xFFFFFFFFu); }), &msg), MLXB_OK) << msg;

    // Hand-made files for the metadata checks that need a specific value type.
    auto vocab_file = [](const std::string & model_key_type) {
        std::vector<uint8_t> b = header(3, 0, 3);
        put_str(b, "general.architecture"); put<uint32_t>(b, 8); put_str(b, "llama");
        put_str(b, "tokenizer.ggml.model");
        if (model_key_type == "int") { put<uint32_t>(b, 4); put<uint32_t>(b, 1); }
        else { put<uint32_t>(b, 8); put_str(b, model_key_type); }
        put_str(b, "tokenizer.ggml.tokens"); put<uint32_t>(b, 9); put<uint32_t>(b, 8); put<uint64_t>(b, 3);
        put_str(b, "<unk>"); put_str(b, "<s>"); put_str(b, "</s>");
        return b;
    };
    EXPECT_EQ(load_bytes(vocab_file("llama"), &msg, true), MLXB_OK) << msg;
    EXPECT_EQ(load_bytes(vocab_file("int"), &msg, true), MLXB_ERR_FORMAT);
    EXPECT_NE(msg.find("tokenizer.ggml.model"), std::string::npos) << msg;
    EXPECT_EQ(load_bytes(vocab_file("bert-wordpiece"), &msg, true), MLXB_ERR_UNSUPPORTED);
    // vocab_only file loaded as a full model: tensors are missing.
    EXPECT_EQ(load_bytes(vocab_file("llama"), &msg, false), MLXB_ERR_FORMAT);
    EXPECT_NE(msg.find("missing"), std::string::npos) << msg;

    // Unknown metadata value type and unknown array element type.
    std::vector<uint8_t> b = header(3, 0, 1);
    put_str(b, "k"); put<uint32_t>(b, 13); put<uint32_t>(b, 0);
    EXPECT_EQ(load_bytes(b, &msg, true), MLXB_ERR_FORMAT);
    b = header(3, 0, 1);
    put_str(b, "k"); put<uint32_t>(b, 9); put<uint32_t>(b, 77); put<uint64_t>(b, 1);
    EXPECT_EQ(load_bytes(b, &msg, true), MLXB_ERR_FORMAT);
    // Arrays nested without end.
    b = header(3, 0, 1);
    put_str(b, "k"); put<uint32_t>(b, 9);
    for (int i = 0; i < 64; i++) { put<uint32_t>(b, 9); put<uint64_t>(b, 1); }
    EXPECT_EQ(load_bytes(b, &msg, true), MLXB_ERR_FORMAT);
}

TEST(Gguf, HyperParametersInconsistentWithTensors) {
    std::string msg;
    // Shape mismatch: heads that do not divide the tensors the file has.
    mlxb::ModelShape s = tiny_shape();
    mlxb::GgufWriter w = mlxb::random_model(s, mlxb::TensorType::F32, 3);
    std::vector<uint8_t> b = w.to_bytes();
    // Patch llama.embedding_length (uint32 value right after its key and type) to 65.
    const std::string key = "llama.embedding_length";
    size_t at = tensor_info_at(b, key);
    poke<uint32_t>(b, at + 8 + key.size() + 4, 65);
    EXPECT_EQ(load_bytes(b, &msg), MLXB_ERR_FORMAT);
    EXPECT_NE(msg.find("shape"), std::string::npos) << msg;
    poke<uint32_t>(b, at + 8 + key.size() + 4, 0);
    EXPECT_EQ(load_bytes(b, &msg), MLXB_ERR_FORMAT);
    // head_count_kv that does not divide head_count.
    b = w.to_bytes();
    const std::string kv = "llama.attention.head_count_kv";
    at = tensor_info_at(b, kv);
    poke<uint32_t>(b, at + 8 + kv.size() + 4, 3);
    EXPECT_EQ(load_bytes(b, &msg), MLXB_ERR_FORMAT);
}
