// Tokenizers built from GGUF metadata, matching llama.cpp token for token:
//   SPM: SentencePiece-style BPE by piece score with byte fallback (tokenizer.ggml.model = "llama");
//   BPE: byte-level BPE by merge rank (tokenizer.ggml.model = "gpt2") with the gpt2, llama-bpe and qwen2
//        pre-tokenizers (tokenizer.ggml.pre).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "gguf.h"

namespace mlxb {

enum class TokenAttr : int32_t { NORMAL = 1, UNKNOWN = 2, CONTROL = 3, USER_DEFINED = 4, UNUSED = 5, BYTE = 6 };

class Tokenizer {
public:
    enum class Kind { SPM, BPE };
    enum class Pre { GPT2, LLAMA3, QWEN2 };

    explicit Tokenizer(const GgufFile & f);  // throws Error

    std::vector<int32_t> encode(std::string_view text, bool add_bos, bool parse_special) const;
    // Raw bytes of a token. render_special: control tokens give their text instead of "".
    std::string piece(int32_t id, bool render_special) const;
    std::string decode(const int32_t * ids, size_t n, bool render_special, bool strip_leading) const;

    int32_t n_vocab() const { return (int32_t)tokens_.size(); }
    int32_t bos() const { return bos_; }
    int32_t eos() const { return eos_; }
    bool add_bos() const { return add_bos_; }
    bool is_eog(int32_t id) const;
    bool is_control(int32_t id) const { return id >= 0 && id < n_vocab() && attr_[id] == TokenAttr::CONTROL; }
    Kind kind() const { return kind_; }
    const std::string & text(int32_t id) const { return tokens_[id]; }

private:
    struct Fragment { bool is_token; int32_t token; size_t off, len; };
    std::vector<Fragment> partition(std::string_view text, bool parse_special) const;
    void encode_spm(std::string_view text, std::vector<int32_t> & out) const;
    void encode_bpe_word(const std::string & word_bytes, std::vector<int32_t> & out) const;
    std::vector<std::string_view> pre_split(std::string_view text) const;
    int32_t find(std::string_view s) const;
    int32_t byte_token(uint8_t b) const;

    Kind kind_ = Kind::SPM;
    Pre pre_ = Pre::GPT2;
    std::vector<std::string> tokens_;
    std::vector<float> scores_;
    std::vector<TokenAttr> attr_;
    std::unordered_map<std::string, int32_t> index_;
    std::unordered_map<std::string, int32_t> merge_rank_;  // "left right" -> rank
    std::vector<int32_t> special_;                         // partition candidates, longest text first
    std::vector<int32_t> eog_;
    int32_t byte_tok_[256];
    int32_t bos_ = -1, eos_ = -1, unk_ = -1;
    bool add_bos_ = false, add_space_prefix_ = true, ignore_merges_ = false;
};

}  // namespace mlxb
