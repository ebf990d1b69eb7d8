#include "hf_tokenizer.h"

#include <algorithm>
#include <map>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "../common.h"

namespace mlxb {

using nlohmann::json;

namespace {

// The Split regexes of the byte-level pre-tokenizers we implement (tokenizer.ggml.pre names as llama.cpp's).
const char * const k_llama3_re =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const char * const k_qwen2_re =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const char * const k_spm_space = "\xe2\x96\x81";  // U+2581, SentencePiece's space

[[noreturn]] void unsupported(const std::string & where, const std::string & m) {
    fail(MLXB_ERR_UNSUPPORTED, "tokenizer '" + where + "': " + m);
}
[[noreturn]] void bad(const std::string & where, const std::string & m) { fail(MLXB_ERR_FORMAT, "tokenizer '" + where + "': " + m); }

std::string type_of(const json & j) {
    if (!j.is_object()) return "";
    auto t = j.find("type");
    return t != j.end() && t->is_string() ? t->get<std::string>() : "";
}

// "content" of an AddedToken object, or the string itself.
std::string token_text(const json & j) {
    if (j.is_string()) return j.get<std::string>();
    if (j.is_object() && j.contains("content") && j["content"].is_string()) return j["content"].get<std::string>();
    return "";
}

// Which pre-tokenizer a byte-level tokenizer.json describes: "gpt-2", "llama-bpe" or "qwen2".
std::string byte_level_pre(const json & pre, const std::string & where) {
    const std::string t = type_of(pre);
    if (t == "ByteLevel") return "gpt-2";  // its own regex is GPT-2's
    if (t == "Sequence" && pre.contains("pretokenizers") && pre["pretokenizers"].is_array()) {
        std::string re;
        bool byte_level = false;
        for (const json & p : pre["pretokenizers"]) {
            const std::string pt = type_of(p);
            if (pt == "Split") {
                if (!p.contains("pattern") || !p["pattern"].is_object() || !p["pattern"].contains("Regex"))
                    unsupported(where, "Split pre-tokenizer without a Regex pattern");
                re = p["pattern"]["Regex"].is_string() ? p["pattern"]["Regex"].get<std::string>() : "";
            } else if (pt == "ByteLevel") byte_level = true;
            else unsupported(where, "pre-tokenizer '" + pt + "' not supported");
        }
        if (!byte_level) unsupported(where, "pre-tokenizer sequence without ByteLevel");
        if (re == k_llama3_re) return "llama-bpe";
        if (re == k_qwen2_re) return "qwen2";
        unsupported(where, "Split regex not one of Llama 3's or Qwen2's: " + re);
    }
    unsupported(where, "pre-tokenizer '" + t + "' not supported (ByteLevel, or Split + ByteLevel)");
}

// True for the normalizer Llama 2 / SentencePiece conversions carry: Prepend("▁") then Replace(" " -> "▁").
bool spm_normalizer(const json & n, bool * prepend) {
    if (n.is_null()) return false;
    std::vector<json> parts;
    if (type_of(n) == "Sequence" && n.contains("normalizers") && n["normalizers"].is_array())
        for (const json & p : n["normalizers"]) parts.push_back(p);
    else parts.push_back(n);
    bool replace = false;
    for (const json & p : parts) {
        const std::string t = type_of(p);
        if (t == "Prepend" && p.value("prepend", "") == k_spm_space) *prepend = true;
        else if (t == "Replace" && p.contains("pattern") && p["pattern"].is_object() && p["pattern"].value("String", "") == " " &&
                 p.value("content", "") == k_spm_space)
            replace = true;
        else return false;
    }
    return replace;
}

}  // namespace

void hf_tokenizer_to_gguf(const std::string & tokenizer_json, const std::string & config_json, GgufWriter & w,
                          const std::string & where) {
    json tj = json::parse(tokenizer_json, nullptr, false);
    if (tj.is_discarded() || !tj.is_object()) bad(where, "tokenizer.json is not a JSON object");
    json cfg = json::object();
    if (!config_json.empty()) {
        cfg = json::parse(config_json, nullptr, false);
        if (cfg.is_discarded() || !cfg.is_object()) bad(where, "tokenizer_config.json is not a JSON object");
    }
    const json & model = tj.contains("model") ? tj["model"] : json();
    if (type_of(model) != "BPE") unsupported(where, "model type '" + type_of(model) + "' not supported (BPE)");
    if (!model.contains("vocab") || !model["vocab"].is_object()) bad(where, "model.vocab missing or not an object");

    // Vocabulary: model.vocab, then added_tokens (which may extend it). Ids must be dense.
    std::map<int64_t, std::string> by_id;
    for (auto it = model["vocab"].begin(); it != model["vocab"].end(); ++it) {
        if (!it.value().is_number_integer()) bad(where, "vocab id of '" + it.key() + "' is not an integer");
        by_id[it.value().get<int64_t>()] = it.key();
    }
    std::map<int64_t, int32_t> added_type;  // id -> token type
    if (tj.contains("added_tokens") && tj["added_tokens"].is_array())
        for (const json & a : tj["added_tokens"]) {
            if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer() || !a.contains("content") || !a["content"].is_string())
                bad(where, "added_tokens entry without integer id and string content");
            const int64_t id = a["id"].get<int64_t>();
            by_id[id] = a["content"].get<std::string>();
            added_type[id] = a.value("special", false) ? 3 : 4;
        }
    if (by_id.empty()) bad(where, "empty vocabulary");
    if (by_id.begin()->first != 0 || by_id.rbegin()->first != (int64_t)by_id.size() - 1)
        bad(where, "token ids are not 0.." + std::to_string(by_id.size() - 1) + " without gaps");
    if (by_id.size() > (1u << 24)) bad(where, "vocabulary too large");
    std::vector<std::string> tokens;
    tokens.reserve(by_id.size());
    for (auto & kv : by_id) tokens.push_back(kv.second);
    const int32_t n = (int32_t)tokens.size();
    std::unordered_map<std::string, int32_t> index;
    for (int32_t i = 0; i < n; i++) index.emplace(tokens[i], i);
    auto id_of = [&](const std::string & s) { auto it = index.find(s); return it == index.end() ? -1 : it->second; };

    // Merges: "a b" strings (older files) or [a, b] pairs.
    std::vector<std::string> merges;
    if (model.contains("merges") && model["merges"].is_array())
        for (const json & m : model["merges"]) {
            if (m.is_string()) merges.push_back(m.get<std::string>());
            else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string())
                merges.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
            else bad(where, "model.merges entry is neither \"a b\" nor [a, b]");
        }

    bool prepend = false;
    const bool byte_fallback = model.value("byte_fallback", false);
    const json & pre = tj.contains("pre_tokenizer") ? tj["pre_tokenizer"] : json();
    bool spm = false;
    if (byte_fallback && tj.contains("normalizer") && spm_normalizer(tj["normalizer"], &prepend)) spm = true;
    else if (byte_fallback && type_of(pre) == "Metaspace") {
        spm = true;
        prepend = pre.value("prepend_scheme", "always") != "never" && pre.value("add_prefix_space", true);
    } else if (byte_fallback) unsupported(where, "byte_fallback BPE without the SentencePiece normalizer or a Metaspace pre-tokenizer");

    std::vector<int32_t> types(n, 1);
    for (auto & kv : added_type) types[kv.first] = kv.second;
    const std::string unk = model.contains("unk_token") ? token_text(model["unk_token"]) : "";
    if (!unk.empty() && id_of(unk) >= 0) types[id_of(unk)] = 2;

    if (spm) {
        w.kv_str("tokenizer.ggml.model", "llama");
        // SentencePiece BPE merges the adjacent pair whose result has the highest score; HF's conversion lists the
        // merges in that order, so a piece's score is minus the rank of the first merge that produces it.
        std::vector<float> scores(n, -1e9f);
        for (size_t r = 0; r < merges.size(); r++) {
            const size_t sp = merges[r].find(' ');
            if (sp == std::string::npos) bad(where, "merge '" + merges[r] + "' has no space");
            const int32_t id = id_of(merges[r].substr(0, sp) + merges[r].substr(sp + 1));
            if (id >= 0 && scores[id] == -1e9f) scores[id] = -(float)r;
        }
        for (int32_t i = 0; i < n; i++) {
            if (tokens[i].size() == 6 && tokens[i].rfind("<0x", 0) == 0 && tokens[i][5] == '>' && types[i] == 1) types[i] = 6;
            if (scores[i] == -1e9f && types[i] != 1) scores[i] = 0.0f;
        }
        w.kv_arr_f32("tokenizer.ggml.scores", scores);
        w.kv_bool("tokenizer.ggml.add_space_prefix", prepend);
        if (id_of(unk) >= 0) w.kv_u32("tokenizer.ggml.unknown_token_id", (uint32_t)id_of(unk));
    } else {
        w.kv_str("tokenizer.ggml.model", "gpt2");
        w.kv_str("tokenizer.ggml.pre", byte_level_pre(pre, where));
        w.kv_arr_str("tokenizer.ggml.merges", merges);
    }
    w.kv_arr_str("tokenizer.ggml.tokens", tokens);
    w.kv_arr_i32("tokenizer.ggml.token_type", types);

    // BOS/EOS and whether prompts start with BOS: tokenizer_config.json; without one, SentencePiece vocabularies
    // use <s>/</s> and add BOS (as the GGUF defaults do).
    const int32_t none = -1;
    int32_t bos = cfg.contains("bos_token") ? id_of(token_text(cfg["bos_token"])) : (spm ? id_of("<s>") : none);
    int32_t eos = cfg.contains("eos_token") ? id_of(token_text(cfg["eos_token"])) : (spm ? id_of("</s>") : none);
    if (bos >= 0) w.kv_u32("tokenizer.ggml.bos_token_id", (uint32_t)bos);
    else w.kv_u32("tokenizer.ggml.bos_token_id", 0xFFFFFFFFu);
    if (eos >= 0) w.kv_u32("tokenizer.ggml.eos_token_id", (uint32_t)eos);
    else w.kv_u32("tokenizer.ggml.eos_token_id", 0xFFFFFFFFu);
    bool add_bos = spm;
    if (cfg.contains("add_bos_token") && cfg["add_bos_token"].is_boolean()) add_bos = cfg["add_bos_token"].get<bool>();
    w.kv_bool("tokenizer.ggml.add_bos_token", add_bos);
    if (cfg.contains("chat_template") && cfg["chat_template"].is_string())
        w.kv_str("tokenizer.chat_template", cfg["chat_template"].get<std::string>());
}

void gguf_tokenizer_to_hf(const GgufFile & f, std::string * tokenizer_json, std::string * config_json) {
    const std::string model = f.get_str("tokenizer.ggml.model");
    const GgufValue * toks = f.find("tokenizer.ggml.tokens");
    if (!toks || toks->type != GgufType::ARRAY || toks->arr_type != GgufType::STRING)
        fail(MLXB_ERR_FORMAT, "convert: the GGUF has no tokenizer.ggml.tokens");
    const size_t n = toks->strs.size();
    std::vector<int32_t> types(n, 1);
    if (const GgufValue * tt = f.find("tokenizer.ggml.token_type"); tt && tt->arr_count == n)
        for (size_t i = 0; i < n; i++) types[i] = (int32_t)GgufFile::arr_i(*tt, i);
    std::vector<float> scores(n, 0.0f);
    if (const GgufValue * sc = f.find("tokenizer.ggml.scores"); sc && sc->arr_count == n)
        for (size_t i = 0; i < n; i++) scores[i] = (float)GgufFile::arr_f(*sc, i);
    auto id_key = [&](const char * k) {
        const int64_t v = f.get_int(k, -1);
        return v >= 0 && v < (int64_t)n ? (int32_t)v : -1;
    };
    const bool spm = model == "llama";
    if (!spm && model != "gpt2") fail(MLXB_ERR_UNSUPPORTED, "convert: tokenizer model '" + model + "' not supported (llama, gpt2)");

    json vocab = json::object(), added = json::array();
    std::unordered_map<std::string, int32_t> index;
    for (size_t i = 0; i < n; i++) {
        const std::string t(toks->strs[i]);
        const bool special = types[i] == 3 || types[i] == 2, user = types[i] == 4;
        // A JSON object cannot hold a duplicate text twice: later duplicates become added tokens, which carry ids.
        const bool dup = index.count(t) != 0;
        if (!dup) index.emplace(t, (int32_t)i);
        if (special || user || dup)
            added.push_back({{"id", i}, {"content", t}, {"single_word", false}, {"lstrip", false}, {"rstrip", false},
                             {"normalized", !special}, {"special", special}});
        if (!dup) vocab[t] = i;
    }
    json merges = json::array();
    if (spm) {
        // HF's SentencePiece conversion: every split of a piece into two pieces is a merge, ordered by the score of
        // the result (highest first; ties by id), which reproduces SentencePiece's choice of the best pair.
        struct M { float score; int32_t id; size_t split; };
        std::vector<M> ms;
        for (size_t i = 0; i < n; i++) {
            if (types[i] != 1) continue;
            const std::string t(toks->strs[i]);
            for (size_t k = 1; k < t.size(); k++) {
                if ((t[k] & 0xC0) == 0x80) continue;  // split at UTF-8 character boundaries only
                auto l = index.find(t.substr(0, k)), r = index.find(t.substr(k));
                if (l != index.end() && r != index.end() && types[l->second] == 1 && types[r->second] == 1)
                    ms.push_back({scores[i], (int32_t)i, k});
            }
        }
        std::stable_sort(ms.begin(), ms.end(), [](const M & a, const M & b) {
            return a.score != b.score ? a.score > b.score : a.id < b.id;
        });
        for (const M & m : ms) {
            const std::string t(toks->strs[m.id]);
            merges.push_back(t.substr(0, m.split) + " " + t.substr(m.split));
        }
    } else if (const GgufValue * mg = f.find("tokenizer.ggml.merges"); mg && mg->arr_type == GgufType::STRING) {
        for (auto s : mg->strs) merges.push_back(std::string(s));
    }
    json tj;
    tj["version"] = "1.0";
    tj["truncation"] = nullptr;
    tj["padding"] = nullptr;
    tj["added_tokens"] = added;
    const int32_t bos = id_key("tokenizer.ggml.bos_token_id"), eos = id_key("tokenizer.ggml.eos_token_id");
    const int32_t unk = id_key("tokenizer.ggml.unknown_token_id");
    const bool add_bos = f.get_bool("tokenizer.ggml.add_bos_token", spm) && bos >= 0;
    if (spm) {
        const bool prefix = f.get_bool("tokenizer.ggml.add_space_prefix", true);
        json norms = json::array();
        if (prefix) norms.push_back({{"type", "Prepend"}, {"prepend", k_spm_space}});
        norms.push_back({{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", k_spm_space}});
        tj["normalizer"] = {{"type", "Sequence"}, {"normalizers", norms}};
        tj["pre_tokenizer"] = nullptr;
        tj["decoder"] = {{"type", "Sequence"}, {"decoders", json::array({
            {{"type", "Replace"}, {"pattern", {{"String", k_spm_space}}}, {"content", " "}},
            {{"type", "ByteFallback"}}, {{"type", "Fuse"}}, {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}})}};
    } else {
        const std::string pre = f.get_str("tokenizer.ggml.pre", "gpt-2");
        tj["normalizer"] = nullptr;
        const bool llama3 = pre == "llama-bpe" || pre == "llama3" || pre == "smaug-bpe";
        const bool qwen2 = pre == "qwen2" || pre == "deepseek-r1-qwen";
        if (llama3 || qwen2)
            tj["pre_tokenizer"] = {{"type", "Sequence"}, {"pretokenizers", json::array({
                {{"type", "Split"}, {"pattern", {{"Regex", llama3 ? k_llama3_re : k_qwen2_re}}}, {"behavior", "Isolated"}, {"invert", false}},
                {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}}})}};
        else
            tj["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}};
        tj["decoder"] = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}};
        tj["model_ignore_merges"] = llama3;
    }
    tj["post_processor"] = nullptr;
    json m = {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", unk >= 0 ? json(std::string(toks->strs[unk])) : json(nullptr)},
              {"continuing_subword_prefix", nullptr}, {"end_of_word_suffix", nullptr}, {"fuse_unk", spm},
              {"byte_fallback", spm}, {"ignore_merges", !spm && tj.value("model_ignore_merges", false)},
              {"vocab", vocab}, {"merges", merges}};
    tj.erase("model_ignore_merges");
    tj["model"] = m;
    *tokenizer_json = tj.dump();

    json cfg = {{"add_bos_token", add_bos}, {"add_eos_token", false}, {"tokenizer_class", spm ? "LlamaTokenizer" : "PreTrainedTokenizerFast"},
                {"clean_up_tokenization_spaces", false}};
    cfg["bos_token"] = bos >= 0 ? json(std::string(toks->strs[bos])) : json(nullptr);
    cfg["eos_token"] = eos >= 0 ? json(std::string(toks->strs[eos])) : json(nullptr);
    if (unk >= 0) cfg["unk_token"] = std::string(toks->strs[unk]);
    const std::string tmpl = f.get_str("tokenizer.chat_template", "");
    if (!tmpl.empty()) cfg["chat_template"] = tmpl;
    *config_json = cfg.dump(2);
}

}  // namespace mlxb
