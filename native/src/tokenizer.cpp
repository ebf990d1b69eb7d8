#include "tokenizer.h"

#include <algorithm>
#include <queue>

#include "common.h"
#include "unicode.h"

namespace mlxb {

namespace {

// GPT-2's reversible byte <-> printable code point map: bytes that are printable Latin-1 map to themselves, the rest
// to U+0100 onwards in byte order.
struct ByteMap {
    uint32_t to_cpt[256];
    std::unordered_map<uint32_t, uint8_t> to_byte;
    ByteMap() {
        int n = 0;
        for (int b = 0; b < 256; b++) {
            bool keep = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
            to_cpt[b] = keep ? (uint32_t)b : 256u + (uint32_t)n++;
            to_byte[to_cpt[b]] = (uint8_t)b;
        }
    }
};
const ByteMap & byte_map() {
    static const ByteMap m;
    return m;
}

const char * k_spm_space = "\xe2\x96\x81";  // U+2581 LOWER ONE EIGHTH BLOCK, SentencePiece's visible space

// One merge candidate between adjacent symbols; used by both SPM (by score) and BPE (by rank).
struct Bigram {
    int left, right;
    double prio;  // higher merges first
    size_t size;
};
struct BigramLess {
    bool operator()(const Bigram & a, const Bigram & b) const {
        return a.prio < b.prio || (a.prio == b.prio && a.left > b.left);  // leftmost first on ties
    }
};
struct Symbol {
    int prev, next;
    const char * text;
    size_t n;
};

std::vector<Symbol> utf8_symbols(std::string_view s) {
    std::vector<Symbol> sym;
    size_t off = 0;
    int idx = 0;
    while (off < s.size()) {
        size_t len = std::min((size_t)utf8_len((uint8_t)s[off]), s.size() - off);
        sym.push_back({idx - 1, off + len == s.size() ? -1 : idx + 1, s.data() + off, len});
        off += len;
        idx++;
    }
    return sym;
}

}  // namespace

Tokenizer::Tokenizer(const GgufFile & f) {
    std::string model = f.get_str("tokenizer.ggml.model");
    if (model == "llama") kind_ = Kind::SPM;
    else if (model == "gpt2") kind_ = Kind::BPE;
    else if (model.empty()) fail(MLXB_ERR_FORMAT, "tokenizer: tokenizer.ggml.model missing");
    else fail(MLXB_ERR_UNSUPPORTED, "tokenizer: model '" + model + "' not supported (llama, gpt2)");

    const GgufValue * toks = f.find("tokenizer.ggml.tokens");
    if (!toks || toks->type != GgufType::ARRAY || toks->arr_type != GgufType::STRING || toks->arr_count == 0)
        fail(MLXB_ERR_FORMAT, "tokenizer: tokenizer.ggml.tokens missing or not a string array");
    if (toks->arr_count > (1u << 24)) fail(MLXB_ERR_FORMAT, "tokenizer: vocabulary too large");
    size_t n = toks->strs.size();
    tokens_.reserve(n);
    for (auto s : toks->strs) tokens_.emplace_back(s);

    scores_.assign(n, 0.0f);
    if (const GgufValue * sc = f.find("tokenizer.ggml.scores")) {
        if (sc->type != GgufType::ARRAY || (sc->arr_type != GgufType::F32 && sc->arr_type != GgufType::F64) ||
            sc->arr_count != n)
            fail(MLXB_ERR_FORMAT, "tokenizer: tokenizer.ggml.scores has wrong type or length");
        for (size_t i = 0; i < n; i++) scores_[i] = (float)GgufFile::arr_f(*sc, i);
    }
    attr_.assign(n, TokenAttr::NORMAL);
    if (const GgufValue * tt = f.find("tokenizer.ggml.token_type")) {
        if (tt->type != GgufType::ARRAY || gguf_type_size(tt->arr_type) == 0 || tt->arr_type == GgufType::F32 ||
            tt->arr_type == GgufType::F64 || tt->arr_count != n)
            fail(MLXB_ERR_FORMAT, "tokenizer: tokenizer.ggml.token_type has wrong type or length");
        for (size_t i = 0; i < n; i++) {
            int64_t t = GgufFile::arr_i(*tt, i);
            attr_[i] = (t >= 1 && t <= 6) ? (TokenAttr)t : TokenAttr::NORMAL;
        }
    }
    index_.reserve(n * 2);
    for (size_t i = 0; i < n; i++) index_.emplace(tokens_[i], (int32_t)i);  // first id wins on duplicates

    if (kind_ == Kind::BPE) {
        const GgufValue * mg = f.find("tokenizer.ggml.merges");
        if (!mg || mg->type != GgufType::ARRAY || mg->arr_type != GgufType::STRING)
            fail(MLXB_ERR_FORMAT, "tokenizer: gpt2 tokenizer without tokenizer.ggml.merges");
        merge_rank_.reserve(mg->strs.size() * 2);
        for (size_t r = 0; r < mg->strs.size(); r++) merge_rank_.emplace(std::string(mg->strs[r]), (int32_t)r);
        std::string pre = f.get_str("tokenizer.ggml.pre", "default");
        if (pre == "qwen2" || pre == "deepseek-r1-qwen") pre_ = Pre::QWEN2;
        else if (pre == "llama-bpe" || pre == "llama3" || pre == "smaug-bpe") pre_ = Pre::LLAMA3;
        else pre_ = Pre::GPT2;  // "gpt-2", "default", and unknown ones: GPT-2's regex is the common ancestor
        ignore_merges_ = pre_ == Pre::LLAMA3;
    }

    auto id_key = [&](const char * key, int32_t def) {
        int64_t v = f.get_int(key, def);
        return (v >= 0 && v < (int64_t)n) ? (int32_t)v : -1;  // e.g. 0xFFFFFFFF means "none"
    };
    bos_ = id_key("tokenizer.ggml.bos_token_id", kind_ == Kind::SPM ? 1 : -1);
    eos_ = id_key("tokenizer.ggml.eos_token_id", kind_ == Kind::SPM ? 2 : -1);
    unk_ = id_key("tokenizer.ggml.unknown_token_id", kind_ == Kind::SPM ? 0 : -1);
    add_bos_ = f.get_bool("tokenizer.ggml.add_bos_token", kind_ == Kind::SPM) && bos_ >= 0;
    add_space_prefix_ = f.get_bool("tokenizer.ggml.add_space_prefix", kind_ == Kind::SPM);

    for (int b = 0; b < 256; b++) {
        if (kind_ == Kind::SPM) {
            char name[8];
            std::snprintf(name, sizeof name, "<0x%02X>", b);
            byte_tok_[b] = find(name);
        } else {
            std::string s;
            append_utf8(s, byte_map().to_cpt[b]);
            byte_tok_[b] = find(s);
        }
    }

    for (size_t i = 0; i < n; i++)
        if ((attr_[i] == TokenAttr::CONTROL || attr_[i] == TokenAttr::USER_DEFINED || attr_[i] == TokenAttr::UNKNOWN) &&
            !tokens_[i].empty())
            special_.push_back((int32_t)i);
    std::stable_sort(special_.begin(), special_.end(),
                     [&](int32_t a, int32_t b) { return tokens_[a].size() > tokens_[b].size(); });

    if (eos_ >= 0) eog_.push_back(eos_);
    int32_t eot = id_key("tokenizer.ggml.eot_token_id", -1);
    if (eot >= 0) eog_.push_back(eot);
    for (const char * t : {"<|eot_id|>", "<|im_end|>", "<|end|>", "<|endoftext|>", "<end_of_turn>", "<|eom_id|>"}) {
        int32_t id = find(t);
        if (id >= 0 && attr_[id] == TokenAttr::CONTROL) eog_.push_back(id);
    }
}

int32_t Tokenizer::find(std::string_view s) const {
    auto it = index_.find(std::string(s));
    return it == index_.end() ? -1 : it->second;
}

int32_t Tokenizer::byte_token(uint8_t b) const { return byte_tok_[b] >= 0 ? byte_tok_[b] : unk_; }

bool Tokenizer::is_eog(int32_t id) const { return std::find(eog_.begin(), eog_.end(), id) != eog_.end(); }

// Splits text on special-token occurrences, one token text at a time, longest first (llama.cpp's order).
// Control/unknown tokens are matched only when parse_special; user-defined ones always are.
std::vector<Tokenizer::Fragment> Tokenizer::partition(std::string_view text, bool parse_special) const {
    std::vector<Fragment> frags{{false, -1, 0, text.size()}};
    for (int32_t id : special_) {
        if (!parse_special && attr_[id] != TokenAttr::USER_DEFINED) continue;
        const std::string & st = tokens_[id];
        std::vector<Fragment> next;
        next.reserve(frags.size());
        for (const Fragment & fr : frags) {
            if (fr.is_token) { next.push_back(fr); continue; }
            size_t pos = fr.off, end = fr.off + fr.len;
            while (pos < end) {
                size_t hit = text.substr(0, end).find(st, pos);
                if (hit == std::string_view::npos) break;
                if (hit > pos) next.push_back({false, -1, pos, hit - pos});
                next.push_back({true, id, hit, st.size()});
                pos = hit + st.size();
            }
            if (pos < end) next.push_back({false, -1, pos, end - pos});
        }
        frags.swap(next);
    }
    return frags;
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_bos, bool parse_special) const {
    std::vector<int32_t> out;
    if (add_bos && bos_ >= 0) out.push_back(bos_);
    if (text.empty()) return out;
    bool prev_special = true;  // SentencePiece adds its space prefix at the start and after special tokens
    for (const Fragment & fr : partition(text, parse_special)) {
        if (fr.is_token) {
            out.push_back(fr.token);
            prev_special = true;
            continue;
        }
        std::string_view raw = text.substr(fr.off, fr.len);
        if (kind_ == Kind::SPM) {
            std::string s;
            if (add_space_prefix_ && prev_special) s = k_spm_space;
            for (char c : raw) {
                if (c == ' ') s += k_spm_space;
                else s += c;
            }
            encode_spm(s, out);
        } else {
            for (std::string_view w : pre_split(raw)) encode_bpe_word(std::string(w), out);
        }
        prev_special = false;
    }
    return out;
}

// Greedy highest-score merges of adjacent pieces (llama.cpp's llm_tokenizer_spm).
void Tokenizer::encode_spm(std::string_view text, std::vector<int32_t> & out) const {
    std::vector<Symbol> sym = utf8_symbols(text);
    std::priority_queue<Bigram, std::vector<Bigram>, BigramLess> queue;
    auto try_add = [&](int l, int r) {
        if (l < 0 || r < 0) return;
        std::string s(sym[l].text, sym[l].n + sym[r].n);
        int32_t id = find(s);
        if (id < 0) return;
        queue.push({l, r, (double)scores_[id], s.size()});
    };
    for (int i = 1; i < (int)sym.size(); i++) try_add(i - 1, i);
    while (!queue.empty()) {
        Bigram b = queue.top();
        queue.pop();
        Symbol & L = sym[b.left];
        Symbol & R = sym[b.right];
        if (L.n == 0 || R.n == 0 || L.n + R.n != b.size) continue;  // stale
        L.n += R.n;
        R.n = 0;
        L.next = R.next;
        if (R.next >= 0) sym[R.next].prev = b.left;
        try_add(L.prev, b.left);
        try_add(b.left, L.next);
    }
    // Every merge produced a vocabulary piece, so a final symbol is either a token or a single code point that is
    // not in the vocabulary: the latter falls back to byte tokens.
    for (int i = 0; i != -1 && !sym.empty(); i = sym[i].next) {
        std::string_view s(sym[i].text, sym[i].n);
        int32_t id = find(s);
        if (id >= 0) { out.push_back(id); continue; }
        for (unsigned char c : s) out.push_back(byte_token(c));
    }
}

void Tokenizer::encode_bpe_word(const std::string & word, std::vector<int32_t> & out) const {
    std::string mapped;
    for (unsigned char c : word) append_utf8(mapped, byte_map().to_cpt[c]);
    if (ignore_merges_) {
        int32_t id = find(mapped);
        if (id >= 0) { out.push_back(id); return; }
    }
    std::vector<Symbol> sym = utf8_symbols(mapped);
    std::priority_queue<Bigram, std::vector<Bigram>, BigramLess> queue;
    std::string key;
    auto try_add = [&](int l, int r) {
        if (l < 0 || r < 0) return;
        key.assign(sym[l].text, sym[l].n);
        key += ' ';
        key.append(sym[r].text, sym[r].n);
        auto it = merge_rank_.find(key);
        if (it == merge_rank_.end()) return;
        queue.push({l, r, -(double)it->second, sym[l].n + sym[r].n});
    };
    for (int i = 1; i < (int)sym.size(); i++) try_add(i - 1, i);
    while (!queue.empty()) {
        Bigram b = queue.top();
        queue.pop();
        Symbol & L = sym[b.left];
        Symbol & R = sym[b.right];
        if (L.n == 0 || R.n == 0 || L.n + R.n != b.size) continue;
        L.n += R.n;
        R.n = 0;
        L.next = R.next;
        if (R.next >= 0) sym[R.next].prev = b.left;
        try_add(L.prev, b.left);
        try_add(b.left, L.next);
    }
    for (int i = 0; i != -1 && !sym.empty(); i = sym[i].next) {
        std::string_view s(sym[i].text, sym[i].n);
        int32_t id = find(s);
        if (id >= 0) { out.push_back(id); continue; }
        for (unsigned char c : s) {  // llama.cpp's fallback: each byte of the mapped text as a token
            int32_t bid = find(std::string(1, (char)c));
            if (bid >= 0) out.push_back(bid);
        }
    }
}

// Hand-written equivalents of the pre-tokenizer regexes (as llama.cpp's unicode.cpp does), over code points:
//  GPT2:   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//  LLAMA3: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|
//          \s+(?!\S)|\s+           QWEN2: the same with \p{N} (one digit per word)
std::vector<std::string_view> Tokenizer::pre_split(std::string_view text) const {
    std::vector<uint8_t> lens;
    std::vector<uint32_t> cpts = utf8_to_cpts(text, &lens);
    const size_t n = cpts.size();
    constexpr uint32_t OOR = 0xFFFFFFFF;
    auto cpt = [&](size_t p) { return p < n ? cpts[p] : OOR; };
    // flags | 0x80 marks "in range" (llama.cpp: any in-range code point has non-zero flags)
    auto fl = [&](size_t p) -> uint8_t { return p < n ? (uint8_t)(unicode_flags(cpts[p]) | 0x80) : 0; };
    auto lower = [](uint32_t c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; };

    std::vector<size_t> ends;  // code point end offsets of the words
    size_t prev = 0;
    auto add = [&](size_t end) -> size_t {
        size_t len = end - prev;
        if (len > 0) ends.push_back(end);
        prev = end;
        return len;
    };
    const bool gpt2 = pre_ == Pre::GPT2;
    const size_t max_digits = pre_ == Pre::LLAMA3 ? 3 : 1;

    for (size_t pos = 0; pos < n;) {
        const uint32_t c = cpt(pos);
        const uint8_t f = fl(pos);
        if (c == '\'' && pos + 1 < n) {
            uint32_t c1 = gpt2 ? cpt(pos + 1) : lower(cpt(pos + 1));
            if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') { pos += add(pos + 2); continue; }
            if (pos + 2 < n) {
                uint32_t c2 = gpt2 ? cpt(pos + 2) : lower(cpt(pos + 2));
                if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l')) {
                    pos += add(pos + 3);
                    continue;
                }
            }
        }
        if (gpt2) {
            uint8_t f2 = c == ' ' ? fl(pos + 1) : f;
            if (f2 & CPT_LETTER) {
                pos += c == ' ';
                while (fl(pos) & CPT_LETTER) pos++;
                add(pos);
                continue;
            }
            if (f2 & CPT_NUMBER) {
                pos += c == ' ';
                while (fl(pos) & CPT_NUMBER) pos++;
                add(pos);
                continue;
            }
            if (!(f2 & (CPT_WHITESPACE | CPT_LETTER | CPT_NUMBER)) && f2) {
                pos += c == ' ';
                for (uint8_t g = fl(pos); !(g & (CPT_WHITESPACE | CPT_LETTER | CPT_NUMBER)) && g; g = fl(++pos)) {}
                add(pos);
                continue;
            }
            size_t nws = 0;
            while (fl(pos + nws) & CPT_WHITESPACE) nws++;
            if (nws > 1 && cpt(pos + nws) != OOR) { pos += nws - 1; add(pos); continue; }
            if (nws > 0) { pos += nws; add(pos); continue; }
            add(++pos);
            continue;
        }
        // LLAMA3 / QWEN2
        if (!(c == '\r' || c == '\n' || (f & CPT_NUMBER))) {
            if ((f & CPT_LETTER) || (fl(pos + 1) & CPT_LETTER)) {
                pos++;
                while (fl(pos) & CPT_LETTER) pos++;
                add(pos);
                continue;
            }
        }
        if (f & CPT_NUMBER) {
            size_t ini = pos;
            while (fl(pos) & CPT_NUMBER) {
                if (++pos - ini >= max_digits) { add(pos); ini = pos; }
            }
            add(pos);
            continue;
        }
        uint8_t f2 = c == ' ' ? fl(pos + 1) : f;
        if (!(f2 & (CPT_WHITESPACE | CPT_LETTER | CPT_NUMBER)) && f) {
            pos += c == ' ';
            while (!(f2 & (CPT_WHITESPACE | CPT_LETTER | CPT_NUMBER)) && f2) f2 = fl(++pos);
            for (uint32_t c2 = cpt(pos); c2 == '\r' || c2 == '\n'; c2 = cpt(++pos)) {}
            add(pos);
            continue;
        }
        size_t nws = 0, last_rn = 0;
        while (fl(pos + nws) & CPT_WHITESPACE) {
            uint32_t c2 = cpt(pos + nws);
            if (c2 == '\r' || c2 == '\n') last_rn = pos + nws + 1;
            nws++;
        }
        if (last_rn > 0) { pos = last_rn; add(pos); continue; }
        if (nws > 1 && cpt(pos + nws) != OOR) { pos += nws - 1; add(pos); continue; }
        if (nws > 0) { pos += nws; add(pos); continue; }
        add(++pos);
    }

    std::vector<std::string_view> words;
    words.reserve(ends.size());
    size_t cp = 0, byte = 0;
    for (size_t e : ends) {
        size_t start = byte;
        for (; cp < e; cp++) byte += lens[cp];
        words.push_back(text.substr(start, byte - start));
    }
    return words;
}

std::string Tokenizer::piece(int32_t id, bool render_special) const {
    if (id < 0 || id >= n_vocab()) return {};
    const std::string & t = tokens_[id];
    switch (attr_[id]) {
    case TokenAttr::CONTROL: return render_special ? t : std::string();
    case TokenAttr::USER_DEFINED: return t;
    case TokenAttr::UNUSED: return {};
    case TokenAttr::UNKNOWN: return kind_ == Kind::SPM ? std::string("\xe2\x96\x85") : t;
    case TokenAttr::BYTE:
        if (kind_ == Kind::SPM && t.size() == 6 && t[0] == '<' && t[1] == '0' && t[2] == 'x')
            return std::string(1, (char)std::strtol(t.substr(3, 2).c_str(), nullptr, 16));
        break;
    default: break;
    }
    if (kind_ == Kind::SPM) {
        std::string out;
        for (size_t i = 0; i < t.size();) {
            if (t.compare(i, 3, k_spm_space) == 0) { out += ' '; i += 3; }
            else out += t[i++];
        }
        return out;
    }
    std::string out;
    const auto & m = byte_map().to_byte;
    for (uint32_t c : utf8_to_cpts(t)) {
        auto it = m.find(c);
        if (it != m.end()) out += (char)it->second;
        else append_utf8(out, c);
    }
    return out;
}

std::string Tokenizer::decode(const int32_t * ids, size_t n, bool render_special, bool strip_leading) const {
    std::string out;
    for (size_t i = 0; i < n; i++) out += piece(ids[i], render_special);
    if (strip_leading && kind_ == Kind::SPM && add_space_prefix_ && !out.empty() && out[0] == ' ') out.erase(0, 1);
    return out;
}

}  // namespace mlxb
