// The little Unicode the tokenizers need: UTF-8 decoding and the \p{L}, \p{N}, \s classes (llama.cpp's definitions).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mlxb {

enum : uint8_t { CPT_LETTER = 1, CPT_NUMBER = 2, CPT_WHITESPACE = 4 };

uint8_t unicode_flags(uint32_t cpt);
// Byte length of the UTF-8 sequence starting with byte c (1 for invalid lead bytes).
inline int utf8_len(uint8_t c) { return c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1; }
// Decodes text to code points; each malformed byte becomes U+FFFD of length 1. lens (optional) gets the byte length
// of each code point so callers can map code point offsets back to byte offsets.
std::vector<uint32_t> utf8_to_cpts(std::string_view text, std::vector<uint8_t> * lens = nullptr);
void append_utf8(std::string & out, uint32_t cpt);

}  // namespace mlxb
