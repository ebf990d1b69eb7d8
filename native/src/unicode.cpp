#include "unicode.h"

#include <algorithm>

namespace mlxb {

namespace {
#include "unicode_tables.inc"

template <size_t N> bool in_ranges(const uint32_t (&r)[N][2], uint32_t cpt) {
    auto it = std::upper_bound(std::begin(r), std::end(r), cpt,
                               [](uint32_t c, const uint32_t (&range)[2]) { return c < range[0]; });
    return it != std::begin(r) && cpt <= (*(it - 1))[1];
}

struct Ascii {  // the hot path of every tokenizer is ASCII: precompute it
    uint8_t f[128];
    Ascii() {
        for (uint32_t c = 0; c < 128; c++)
            f[c] = (in_ranges(k_letter_ranges, c) ? CPT_LETTER : 0) | (in_ranges(k_number_ranges, c) ? CPT_NUMBER : 0) |
                   (in_ranges(k_whitespace_ranges, c) ? CPT_WHITESPACE : 0);
    }
};
const Ascii k_ascii;
}  // namespace

uint8_t unicode_flags(uint32_t cpt) {
    if (cpt < 128) return k_ascii.f[cpt];
    return (in_ranges(k_letter_ranges, cpt) ? CPT_LETTER : 0) | (in_ranges(k_number_ranges, cpt) ? CPT_NUMBER : 0) |
           (in_ranges(k_whitespace_ranges, cpt) ? CPT_WHITESPACE : 0);
}

std::vector<uint32_t> utf8_to_cpts(std::string_view s, std::vector<uint8_t> * lens) {
    std::vector<uint32_t> out;
    out.reserve(s.size());
    size_t i = 0;
    while (i < s.size()) {
        uint8_t c = (uint8_t)s[i];
        int n = utf8_len(c);
        bool ok = n > 1 && i + n <= s.size();
        uint32_t cpt = n == 2 ? c & 0x1f : n == 3 ? c & 0x0f : c & 0x07;
        for (int k = 1; ok && k < n; k++) {
            uint8_t cc = (uint8_t)s[i + k];
            if ((cc & 0xc0) != 0x80) ok = false;
            cpt = cpt << 6 | (cc & 0x3f);
        }
        if (n == 1 && c < 0x80) ok = true, cpt = c;
        if (!ok) n = 1, cpt = 0xFFFD;
        out.push_back(cpt);
        if (lens) lens->push_back((uint8_t)n);
        i += n;
    }
    return out;
}

void append_utf8(std::string & out, uint32_t c) {
    if (c < 0x80) out += (char)c;
    else if (c < 0x800) { out += (char)(0xc0 | c >> 6); out += (char)(0x80 | (c & 0x3f)); }
    else if (c < 0x10000) {
        out += (char)(0xe0 | c >> 12); out += (char)(0x80 | (c >> 6 & 0x3f)); out += (char)(0x80 | (c & 0x3f));
    } else {
        out += (char)(0xf0 | c >> 18); out += (char)(0x80 | (c >> 12 & 0x3f));
        out += (char)(0x80 | (c >> 6 & 0x3f)); out += (char)(0x80 | (c & 0x3f));
    }
}

}  // namespace mlxb
