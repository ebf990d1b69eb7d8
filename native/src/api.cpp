// The C API: argument checks, sequence bookkeeping, output rows, and the translation of internal exceptions into
// status codes + mlxb_last_error(). No exception crosses this boundary.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <new>
#include <thread>
#include <vector>

#include "backend.h"
#include "common.h"
#include "kernels/kernels.h"
#include "model/llama.h"
#include "sampling.h"

struct mlxb_model {
    std::unique_ptr<mlxb::Model> m;
};

struct mlxb_context {
    mlxb_model * model;
    mlxb_context_params params;
    std::unique_ptr<mlxb::Backend> backend;
    std::vector<int32_t> seq_len;    // (n_seq_max) cached positions per sequence
    std::vector<float> logits;       // (n_batch, n_vocab) rows of the last decode
    std::vector<int32_t> out_row;    // (n_batch) batch index -> logits row, or -1
    int32_t n_last = 0;              // tokens in the last decoded batch
    // Per-decode working arrays, sized n_batch once.
    std::vector<int32_t> b_seq, b_pos, b_next;
};

struct mlxb_sampler {
    std::unique_ptr<mlxb::Sampler> s;
};

namespace {

thread_local std::string g_last_error;

int32_t set_error(int32_t status, const std::string & msg) {
    g_last_error = msg;
    return status;
}

// Runs f, mapping exceptions to a status code.
template <class F> int32_t guarded(F && f) {
    try {
        return f();
    } catch (const mlxb::Error & e) {
        return set_error(e.status, e.what());
    } catch (const std::bad_alloc &) {
        return set_error(MLXB_ERR_NOMEM, "out of memory");
    } catch (const std::exception & e) {
        return set_error(MLXB_ERR_INTERNAL, std::string("internal error: ") + e.what());
    } catch (...) {
        return set_error(MLXB_ERR_INTERNAL, "internal error");
    }
}

int32_t copy_out(const std::string & s, char * buf, int32_t cap) {  // two-call protocol, no NUL
    if (s.size() > (size_t)INT32_MAX) return set_error(MLXB_ERR_ARG, "result too large");
    if (!buf || cap < (int32_t)s.size()) return -(int32_t)s.size();
    std::copy(s.begin(), s.end(), buf);
    return (int32_t)s.size();
}

int32_t snprintf_out(const std::string & s, char * buf, int32_t cap) {  // snprintf protocol
    if (buf && cap > 0) {
        size_t n = std::min(s.size(), (size_t)cap - 1);
        std::copy_n(s.data(), n, buf);
        buf[n] = 0;
    }
    return (int32_t)std::min(s.size(), (size_t)INT32_MAX);
}

const float * row_logits(mlxb_context * ctx, int32_t i) {
    if (!ctx || i < 0 || i >= ctx->n_last || ctx->out_row[i] < 0) return nullptr;
    return &ctx->logits[(size_t)ctx->out_row[i] * ctx->model->m->hp.n_vocab];
}

}  // namespace

extern "C" {

int32_t mlxb_api_version(void) { return MLXB_API_VERSION; }

const char * mlxb_status_str(int32_t s) {
    switch (s) {
    case MLXB_OK: return "ok";
    case MLXB_CONTEXT_FULL: return "context full";
    case MLXB_ERR_ARG: return "invalid argument";
    case MLXB_ERR_IO: return "i/o error";
    case MLXB_ERR_FORMAT: return "malformed file";
    case MLXB_ERR_NOMEM: return "out of memory";
    case MLXB_ERR_UNSUPPORTED: return "unsupported";
    case MLXB_ERR_INTERNAL: return "internal error";
    default: return "unknown status";
    }
}

const char * mlxb_last_error(void) { return g_last_error.c_str(); }

const char * mlxb_system_info(void) { return mlxb::cpu_features_string(); }

/* ---- model ---- */

mlxb_model_params mlxb_model_default_params(void) { return mlxb_model_params{0, 0}; }

int32_t mlxb_model_load(const char * path, const mlxb_model_params * params, mlxb_model ** out) {
    if (out) *out = nullptr;
    if (!path || !out) return set_error(MLXB_ERR_ARG, "mlxb_model_load: path and out must not be NULL");
    mlxb_model_params p = params ? *params : mlxb_model_default_params();
    return guarded([&] {
        auto m = mlxb::Model::load(path, p.vocab_only != 0);
        *out = new mlxb_model{std::move(m)};
        return (int32_t)MLXB_OK;
    });
}

void mlxb_model_free(mlxb_model * model) { delete model; }

int32_t mlxb_model_n_vocab(const mlxb_model * m) { return m ? m->m->hp.n_vocab : -1; }
int32_t mlxb_model_n_ctx_train(const mlxb_model * m) { return m ? m->m->hp.n_ctx_train : -1; }
int32_t mlxb_model_n_embd(const mlxb_model * m) { return m ? m->m->hp.n_embd : -1; }
int32_t mlxb_model_n_layer(const mlxb_model * m) { return m ? m->m->hp.n_layer : -1; }
int64_t mlxb_model_n_params(const mlxb_model * m) { return m ? m->m->n_params : -1; }
int64_t mlxb_model_size_bytes(const mlxb_model * m) { return m ? m->m->n_bytes : -1; }
mlxb_token mlxb_model_token_bos(const mlxb_model * m) { return m ? m->m->tok->bos() : -1; }
mlxb_token mlxb_model_token_eos(const mlxb_model * m) { return m ? m->m->tok->eos() : -1; }
int32_t mlxb_model_add_bos(const mlxb_model * m) { return m ? (int32_t)m->m->tok->add_bos() : 0; }
int32_t mlxb_token_is_eog(const mlxb_model * m, mlxb_token t) { return m ? (int32_t)m->m->tok->is_eog(t) : 0; }
int32_t mlxb_token_is_control(const mlxb_model * m, mlxb_token t) { return m ? (int32_t)m->m->tok->is_control(t) : 0; }

int32_t mlxb_model_meta_str(const mlxb_model * m, const char * key, char * buf, int32_t cap) {
    if (buf && cap > 0) buf[0] = 0;
    if (!m || !key) return -1;
    const mlxb::GgufValue * v = m->m->file->find(key);
    if (!v) return -1;
    std::string s;
    char tmp[64];
    switch (v->type) {
    case mlxb::GgufType::STRING: s = std::string(v->str); break;
    case mlxb::GgufType::ARRAY: return -1;
    case mlxb::GgufType::BOOL: s = v->u ? "true" : "false"; break;
    case mlxb::GgufType::F32: case mlxb::GgufType::F64: std::snprintf(tmp, sizeof tmp, "%.9g", v->f); s = tmp; break;
    case mlxb::GgufType::U64: case mlxb::GgufType::U32: case mlxb::GgufType::U16: case mlxb::GgufType::U8:
        s = std::to_string(v->u); break;
    default: s = std::to_string(v->i); break;
    }
    return snprintf_out(s, buf, cap);
}

int32_t mlxb_model_arch(const mlxb_model * m, char * buf, int32_t cap) {
    return mlxb_model_meta_str(m, "general.architecture", buf, cap);
}

int32_t mlxb_model_chat_template(const mlxb_model * m, char * buf, int32_t cap) {
    return mlxb_model_meta_str(m, "tokenizer.chat_template", buf, cap);
}

/* ---- tokenizer ---- */

int32_t mlxb_tokenize(const mlxb_model * m, const char * text, int32_t len, mlxb_token * out, int32_t cap, int32_t flags) {
    if (!m || (!text && len != 0) || cap < 0) return set_error(MLXB_ERR_ARG, "mlxb_tokenize: bad arguments");
    return guarded([&] {
        std::string_view sv = !text ? std::string_view() : len < 0 ? std::string_view(text) : std::string_view(text, (size_t)len);
        std::vector<int32_t> ids = m->m->tok->encode(sv, flags & MLXB_TOKENIZE_ADD_BOS, flags & MLXB_TOKENIZE_PARSE_SPECIAL);
        if (ids.size() > (size_t)INT32_MAX) return set_error(MLXB_ERR_ARG, "text too long");
        if (!out || cap < (int32_t)ids.size()) return -(int32_t)ids.size();
        std::copy(ids.begin(), ids.end(), out);
        return (int32_t)ids.size();
    });
}

int32_t mlxb_token_to_piece(const mlxb_model * m, mlxb_token t, char * buf, int32_t cap, int32_t flags) {
    if (!m || cap < 0) return set_error(MLXB_ERR_ARG, "mlxb_token_to_piece: bad arguments");
    if (t < 0 || t >= m->m->hp.n_vocab) return set_error(MLXB_ERR_ARG, "mlxb_token_to_piece: token out of range");
    return guarded([&] { return copy_out(m->m->tok->piece(t, flags & MLXB_DETOK_RENDER_SPECIAL), buf, cap); });
}

int32_t mlxb_detokenize(const mlxb_model * m, const mlxb_token * toks, int32_t n, char * buf, int32_t cap, int32_t flags) {
    if (!m || n < 0 || (n > 0 && !toks) || cap < 0) return set_error(MLXB_ERR_ARG, "mlxb_detokenize: bad arguments");
    for (int32_t i = 0; i < n; i++)
        if (toks[i] < 0 || toks[i] >= m->m->hp.n_vocab) return set_error(MLXB_ERR_ARG, "mlxb_detokenize: token out of range");
    return guarded([&] {
        return copy_out(m->m->tok->decode(toks, (size_t)n, flags & MLXB_DETOK_RENDER_SPECIAL, flags & MLXB_DETOK_STRIP_LEADING),
                        buf, cap);
    });
}

// The unambiguous forms: status only in the return value, the full count in *n_needed.
static int32_t ex_result(int32_t r, int32_t * n_needed) {
    *n_needed = r < 0 ? -r : r;
    return MLXB_OK;
}

int32_t mlxb_tokenize_ex(const mlxb_model * m, const char * text, int32_t len, mlxb_token * out, int32_t cap, int32_t flags,
                         int32_t * n_needed) {
    if (!n_needed) return set_error(MLXB_ERR_ARG, "mlxb_tokenize_ex: n_needed must not be NULL");
    *n_needed = 0;
    if (!m || (!text && len != 0) || cap < 0 || (cap > 0 && !out)) return set_error(MLXB_ERR_ARG, "mlxb_tokenize_ex: bad arguments");
    std::vector<int32_t> ids;
    const int32_t rc = guarded([&] {
        std::string_view sv = !text ? std::string_view() : len < 0 ? std::string_view(text) : std::string_view(text, (size_t)len);
        ids = m->m->tok->encode(sv, flags & MLXB_TOKENIZE_ADD_BOS, flags & MLXB_TOKENIZE_PARSE_SPECIAL);
        if (ids.size() > (size_t)INT32_MAX) return set_error(MLXB_ERR_ARG, "text too long");
        return (int32_t)MLXB_OK;
    });
    if (rc != MLXB_OK) return rc;
    if ((int32_t)ids.size() <= cap) std::copy(ids.begin(), ids.end(), out);
    return ex_result((int32_t)ids.size(), n_needed);
}

int32_t mlxb_token_to_piece_ex(const mlxb_model * m, mlxb_token t, char * buf, int32_t cap, int32_t flags, int32_t * n_needed) {
    if (!n_needed) return set_error(MLXB_ERR_ARG, "mlxb_token_to_piece_ex: n_needed must not be NULL");
    *n_needed = 0;
    if (!m || cap < 0 || (cap > 0 && !buf)) return set_error(MLXB_ERR_ARG, "mlxb_token_to_piece_ex: bad arguments");
    if (t < 0 || t >= m->m->hp.n_vocab) return set_error(MLXB_ERR_ARG, "mlxb_token_to_piece_ex: token out of range");
    std::string s;
    const int32_t rc = guarded([&] {
        s = m->m->tok->piece(t, flags & MLXB_DETOK_RENDER_SPECIAL);
        return (int32_t)MLXB_OK;
    });
    if (rc != MLXB_OK) return rc;
    if ((int32_t)s.size() <= cap) std::copy(s.begin(), s.end(), buf);
    return ex_result((int32_t)s.size(), n_needed);
}

int32_t mlxb_detokenize_ex(const mlxb_model * m, const mlxb_token * toks, int32_t n, char * buf, int32_t cap, int32_t flags,
                           int32_t * n_needed) {
    if (!n_needed) return set_error(MLXB_ERR_ARG, "mlxb_detokenize_ex: n_needed must not be NULL");
    *n_needed = 0;
    if (!m || n < 0 || (n > 0 && !toks) || cap < 0 || (cap > 0 && !buf))
        return set_error(MLXB_ERR_ARG, "mlxb_detokenize_ex: bad arguments");
    for (int32_t i = 0; i < n; i++)
        if (toks[i] < 0 || toks[i] >= m->m->hp.n_vocab) return set_error(MLXB_ERR_ARG, "mlxb_detokenize_ex: token out of range");
    std::string s;
    const int32_t rc = guarded([&] {
        s = m->m->tok->decode(toks, (size_t)n, flags & MLXB_DETOK_RENDER_SPECIAL, flags & MLXB_DETOK_STRIP_LEADING);
        if (s.size() > (size_t)INT32_MAX) return set_error(MLXB_ERR_ARG, "result too large");
        return (int32_t)MLXB_OK;
    });
    if (rc != MLXB_OK) return rc;
    if ((int32_t)s.size() <= cap) std::copy(s.begin(), s.end(), buf);
    return ex_result((int32_t)s.size(), n_needed);
}

/* ---- context ---- */

mlxb_context_params mlxb_context_default_params(void) { return mlxb_context_params{0, 1, 512, 0}; }

static int32_t default_threads() {
    unsigned n = std::thread::hardware_concurrency();
    return n == 0 ? 1 : (int32_t)std::min(n, 64u);
}

int32_t mlxb_context_new(mlxb_model * model, const mlxb_context_params * params, mlxb_context ** out) {
    if (out) *out = nullptr;
    if (!model || !out) return set_error(MLXB_ERR_ARG, "mlxb_context_new: model and out must not be NULL");
    mlxb_context_params p = params ? *params : mlxb_context_default_params();
    const mlxb::HParams & hp = model->m->hp;
    if (p.n_ctx == 0) p.n_ctx = std::min(hp.n_ctx_train > 0 ? hp.n_ctx_train : 4096, 4096);
    if (p.n_seq_max == 0) p.n_seq_max = 1;
    if (p.n_batch == 0) p.n_batch = 512;
    if (p.n_threads == 0) p.n_threads = default_threads();
    if (p.n_ctx < 1 || p.n_ctx > (1 << 24) || p.n_seq_max < 1 || p.n_seq_max > 4096 || p.n_batch < 1 ||
        p.n_batch > (1 << 20) || p.n_threads < 1 || p.n_threads > 1024)
        return set_error(MLXB_ERR_ARG, "mlxb_context_new: parameter out of range");
    return guarded([&] {
        auto ctx = std::make_unique<mlxb_context>();
        ctx->model = model;
        ctx->params = p;
        ctx->backend = mlxb::make_backend(*model->m, {p.n_ctx, p.n_seq_max, p.n_batch, p.n_threads});
        ctx->seq_len.assign(p.n_seq_max, 0);
        ctx->logits.assign((size_t)p.n_batch * hp.n_vocab, 0.0f);
        ctx->out_row.assign(p.n_batch, -1);
        ctx->b_seq.resize(p.n_batch);
        ctx->b_pos.resize(p.n_batch);
        ctx->b_next.resize(p.n_seq_max);
        *out = ctx.release();
        return (int32_t)MLXB_OK;
    });
}

void mlxb_context_free(mlxb_context * ctx) { delete ctx; }

int32_t mlxb_context_set_threads(mlxb_context * ctx, int32_t n) {
    if (!ctx || n < 0 || n > 1024) return set_error(MLXB_ERR_ARG, "mlxb_context_set_threads: bad arguments");
    return guarded([&] {
        ctx->backend->set_threads(n == 0 ? default_threads() : n);
        ctx->params.n_threads = ctx->backend->n_threads();
        return (int32_t)MLXB_OK;
    });
}

int32_t mlxb_context_n_threads(const mlxb_context * c) { return c ? c->backend->n_threads() : -1; }
int32_t mlxb_context_n_ctx(const mlxb_context * c) { return c ? c->params.n_ctx : -1; }
int32_t mlxb_context_n_seq_max(const mlxb_context * c) { return c ? c->params.n_seq_max : -1; }
int32_t mlxb_context_n_batch(const mlxb_context * c) { return c ? c->params.n_batch : -1; }

int32_t mlxb_seq_len(const mlxb_context * c, mlxb_seq_id s) {
    return (c && s >= 0 && s < c->params.n_seq_max) ? c->seq_len[s] : -1;
}

int32_t mlxb_seq_truncate(mlxb_context * c, mlxb_seq_id s, int32_t n_keep) {
    if (!c || s < 0 || s >= c->params.n_seq_max) return set_error(MLXB_ERR_ARG, "mlxb_seq_truncate: bad sequence id");
    if (n_keep < 0 || n_keep > c->seq_len[s]) return set_error(MLXB_ERR_ARG, "mlxb_seq_truncate: n_keep out of range");
    c->seq_len[s] = n_keep;  // later positions are simply overwritten by the next decode
    return MLXB_OK;
}

int32_t mlxb_seq_copy(mlxb_context * c, mlxb_seq_id src, mlxb_seq_id dst, int32_t n) {
    if (!c || src < 0 || src >= c->params.n_seq_max || dst < 0 || dst >= c->params.n_seq_max)
        return set_error(MLXB_ERR_ARG, "mlxb_seq_copy: bad sequence id");
    if (n < 0) n = c->seq_len[src];
    if (n > c->seq_len[src]) return set_error(MLXB_ERR_ARG, "mlxb_seq_copy: n exceeds the source length");
    if (src != dst) c->backend->seq_copy(src, dst, n);
    c->seq_len[dst] = n;
    return MLXB_OK;
}

/* ---- decode ---- */

int32_t mlxb_decode(mlxb_context * c, const mlxb_batch * b) {
    if (!c || !b || !b->tokens || b->n_tokens < 1) return set_error(MLXB_ERR_ARG, "mlxb_decode: empty or NULL batch");
    const int32_t n = b->n_tokens;
    if (n > c->params.n_batch)
        return set_error(MLXB_ERR_ARG, "mlxb_decode: " + std::to_string(n) + " tokens exceed n_batch " +
                                           std::to_string(c->params.n_batch));
    const int32_t n_vocab = c->model->m->hp.n_vocab;
    // Validate everything first: on error nothing changes.
    std::vector<int32_t> & next = c->b_next;
    std::copy(c->seq_len.begin(), c->seq_len.end(), next.begin());
    for (int32_t i = 0; i < n; i++) {
        const int32_t s = b->seq_ids ? b->seq_ids[i] : 0;
        if (s < 0 || s >= c->params.n_seq_max) return set_error(MLXB_ERR_ARG, "mlxb_decode: bad sequence id " + std::to_string(s));
        if (b->tokens[i] < 0 || b->tokens[i] >= n_vocab)
            return set_error(MLXB_ERR_ARG, "mlxb_decode: token " + std::to_string(b->tokens[i]) + " out of range");
        if (b->pos && b->pos[i] != next[s])
            return set_error(MLXB_ERR_ARG, "mlxb_decode: token " + std::to_string(i) + " has position " +
                                               std::to_string(b->pos[i]) + ", sequence expects " + std::to_string(next[s]));
        if (next[s] >= c->params.n_ctx)
            return set_error(MLXB_CONTEXT_FULL, "mlxb_decode: sequence " + std::to_string(s) + " is full (n_ctx " +
                                                    std::to_string(c->params.n_ctx) + ")");
        c->b_seq[i] = s;
        c->b_pos[i] = next[s]++;
    }
    int32_t n_out = 0;
    for (int32_t i = 0; i < n; i++) {
        bool want;
        if (b->want_logits) want = b->want_logits[i] != 0;
        else {  // last token of its sequence in this batch
            want = true;
            for (int32_t j = i + 1; j < n && want; j++) want = c->b_seq[j] != c->b_seq[i];
        }
        c->out_row[i] = want ? n_out++ : -1;
    }
    return guarded([&] {
        mlxb::DecodeInput in;
        in.n_tokens = n;
        in.tokens = b->tokens;
        in.seq = c->b_seq.data();
        in.pos = c->b_pos.data();
        in.out_row = c->out_row.data();
        in.n_out = n_out;
        in.logits = c->logits.data();
        c->n_last = 0;
        c->backend->decode(in);
        std::copy(next.begin(), next.end(), c->seq_len.begin());
        c->n_last = n;
        return (int32_t)MLXB_OK;
    });
}

const float * mlxb_get_logits(mlxb_context * c, int32_t i) { return row_logits(c, i); }

int32_t mlxb_get_logprobs(mlxb_context * c, int32_t i, float * out, int32_t cap) {
    const float * l = row_logits(c, i);
    if (!l) return set_error(MLXB_ERR_ARG, "mlxb_get_logprobs: batch index has no logits");
    const int32_t n = c->model->m->hp.n_vocab;
    if (!out || cap < n) return set_error(MLXB_ERR_ARG, "mlxb_get_logprobs: output needs n_vocab entries");
    mlxb::LogSoftmax ls(l, n);
    for (int32_t k = 0; k < n; k++) out[k] = ls(l[k]);
    return MLXB_OK;
}

int32_t mlxb_get_token_logprob(mlxb_context * c, int32_t i, mlxb_token t, float * out) {
    const float * l = row_logits(c, i);
    if (!l || !out) return set_error(MLXB_ERR_ARG, "mlxb_get_token_logprob: batch index has no logits");
    const int32_t n = c->model->m->hp.n_vocab;
    if (t < 0 || t >= n) return set_error(MLXB_ERR_ARG, "mlxb_get_token_logprob: token out of range");
    *out = mlxb::LogSoftmax(l, n)(l[t]);
    return MLXB_OK;
}

int32_t mlxb_get_top_logprobs(mlxb_context * c, int32_t i, int32_t k, mlxb_token * toks, float * lps) {
    const float * l = row_logits(c, i);
    if (!l || k < 0 || (k > 0 && (!toks || !lps))) return set_error(MLXB_ERR_ARG, "mlxb_get_top_logprobs: bad arguments");
    const int32_t n = c->model->m->hp.n_vocab;
    k = std::min(k, n);
    if (k == 0) return 0;  // nothing asked for (and toks[-1] must not be read below)
    // Insertion into a k-long sorted list: k is small (lm-eval asks for <= 20), no allocation needed.
    int32_t m = 0;
    for (int32_t t = 0; t < n; t++) {
        if (m == k && !(l[t] > l[toks[m - 1]])) continue;
        int32_t j = m < k ? m++ : k - 1;
        while (j > 0 && l[t] > l[toks[j - 1]]) { toks[j] = toks[j - 1]; j--; }
        toks[j] = t;
    }
    mlxb::LogSoftmax ls(l, n);
    for (int32_t j = 0; j < m; j++) lps[j] = ls(l[toks[j]]);
    return m;
}

/* ---- sampling ---- */

mlxb_sampler_params mlxb_sampler_default_params(void) { return mlxb_sampler_params{0.0f, 0, 1.0f, 0.0f, 0}; }

int32_t mlxb_sampler_new(const mlxb_model * m, const mlxb_sampler_params * p, mlxb_sampler ** out) {
    if (out) *out = nullptr;
    if (!m || !out) return set_error(MLXB_ERR_ARG, "mlxb_sampler_new: model and out must not be NULL");
    mlxb_sampler_params sp = p ? *p : mlxb_sampler_default_params();
    if (std::isnan(sp.temperature) || std::isnan(sp.top_p) || std::isnan(sp.min_p))
        return set_error(MLXB_ERR_ARG, "mlxb_sampler_new: NaN parameter");
    return guarded([&] {
        *out = new mlxb_sampler{std::make_unique<mlxb::Sampler>(m->m->hp.n_vocab, sp)};
        return (int32_t)MLXB_OK;
    });
}

void mlxb_sampler_free(mlxb_sampler * s) { delete s; }

int32_t mlxb_sampler_reseed(mlxb_sampler * s, uint64_t seed) {
    if (!s) return set_error(MLXB_ERR_ARG, "mlxb_sampler_reseed: NULL sampler");
    s->s->reseed(seed);
    return MLXB_OK;
}

mlxb_token mlxb_sampler_sample(mlxb_sampler * s, mlxb_context * c, int32_t i) {
    const float * l = row_logits(c, i);
    if (!s || !l) return set_error(MLXB_ERR_ARG, "mlxb_sampler_sample: batch index has no logits");
    return s->s->sample(l);
}

}  // extern "C"
