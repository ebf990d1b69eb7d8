/*
 * mlxb.h - the C API of libmlxbench, MlxBench's native inference engine.
 *
 * One header, C linkage, plain C types only so that it binds directly from C# LibraryImport:
 *   - objects are opaque handles created by *_new / *_load and released by the matching *_free (NULL is a no-op);
 *   - parameter structs are plain POD, passed by pointer, filled by a *_default_params() function first;
 *   - every fallible call returns an mlxb_status; the message for the last failure on the calling thread
 *     is available from mlxb_last_error(). Nothing in the library calls exit() or abort() on bad input;
 *   - buffer-filling calls (mlxb_tokenize, mlxb_token_to_piece, mlxb_detokenize) use a two-call protocol: they
 *     return the count written (>= 0); or -(needed) when the buffer is NULL or `cap` < needed (nothing is
 *     written); or a negative mlxb_status on error. The last two overlap: a result in -6..-1 can be
 *     either (-1 is both MLXB_ERR_ARG and "1 needed"). Callers that cannot rule errors out (valid handles and
 *     arguments leave only MLXB_ERR_NOMEM and MLXB_ERR_INTERNAL) should use the *_ex forms, which return only a
 *     status and put the count in *n_needed. String getters follow snprintf instead (see mlxb_model_meta_str).
 *
 * Threading: a model may be shared by several contexts on several threads. A context (and the sampler used with it)
 * must be used by one thread at a time.
 */
#ifndef MLXB_H
#define MLXB_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#  if defined(MLXB_BUILD)
#    define MLXB_API __declspec(dllexport)
#  elif defined(MLXB_SHARED)
#    define MLXB_API __declspec(dllimport)
#  else
#    define MLXB_API
#  endif
#else
#  define MLXB_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define MLXB_API_VERSION 1 /* bump on any breaking change; see mlxb_api_version() */

typedef struct mlxb_model   mlxb_model;   /* opaque: weights (memory-mapped), hyper-parameters, tokenizer */
typedef struct mlxb_context mlxb_context; /* opaque: KV cache for n_seq_max sequences, scratch, thread pool */
typedef struct mlxb_sampler mlxb_sampler; /* opaque: sampling settings, RNG state, a sort buffer */

typedef int32_t mlxb_token;
typedef int32_t mlxb_seq_id;

typedef enum mlxb_status {
    MLXB_OK           = 0,
    MLXB_CONTEXT_FULL = 1,  /* > 0: recoverable, the context is unchanged */
    MLXB_ERR_ARG      = -1, /* bad argument (NULL handle, out-of-range id, batch too large ...) */
    MLXB_ERR_IO       = -2, /* file could not be opened or mapped */
    MLXB_ERR_FORMAT   = -3, /* malformed or inconsistent GGUF file */
    MLXB_ERR_NOMEM    = -4,
    MLXB_ERR_UNSUPPORTED = -5, /* valid file, but an architecture, tensor type or tokenizer we do not implement */
    MLXB_ERR_INTERNAL = -6,
} mlxb_status;

MLXB_API int32_t      mlxb_api_version(void);
MLXB_API const char * mlxb_status_str(int32_t status);
/* Message of the last failed call on this thread ("" if none). Valid until the next failing call on this thread. */
MLXB_API const char * mlxb_last_error(void);
/* Instruction sets detected at run time and the kernels chosen, e.g. "AVX2=1 FMA=1 AVX512=0 kernels=avx2". */
MLXB_API const char * mlxb_system_info(void);

/* ---- model ------------------------------------------------------------------------------------------------ */

typedef struct mlxb_model_params {
    int32_t vocab_only; /* 1: load the tokenizer and metadata only (tensors are not required) */
    int32_t reserved;   /* must be 0 */
} mlxb_model_params;

MLXB_API mlxb_model_params mlxb_model_default_params(void);
/* params may be NULL for defaults. On failure *out is NULL. */
MLXB_API int32_t mlxb_model_load(const char * gguf_path, const mlxb_model_params * params, mlxb_model ** out);
MLXB_API void    mlxb_model_free(mlxb_model * model);

MLXB_API int32_t    mlxb_model_n_vocab(const mlxb_model * model);
MLXB_API int32_t    mlxb_model_n_ctx_train(const mlxb_model * model);
MLXB_API int32_t    mlxb_model_n_embd(const mlxb_model * model);
MLXB_API int32_t    mlxb_model_n_layer(const mlxb_model * model);
MLXB_API int64_t    mlxb_model_n_params(const mlxb_model * model);
MLXB_API int64_t    mlxb_model_size_bytes(const mlxb_model * model); /* bytes of tensor data */
MLXB_API mlxb_token mlxb_model_token_bos(const mlxb_model * model);  /* -1 when the vocabulary has none */
MLXB_API mlxb_token mlxb_model_token_eos(const mlxb_model * model);
MLXB_API int32_t    mlxb_model_add_bos(const mlxb_model * model);    /* 1 if prompts should start with BOS */
/* 1 for end-of-generation tokens (eos, eot, <|im_end|> ...). */
MLXB_API int32_t    mlxb_token_is_eog(const mlxb_model * model, mlxb_token token);
/* 1 for control tokens (<s>, <|endoftext|> ...), which detokenize to "" unless MLXB_DETOK_RENDER_SPECIAL. */
MLXB_API int32_t    mlxb_token_is_control(const mlxb_model * model, mlxb_token token);

/* Metadata strings, snprintf protocol: returns the full length in bytes (excluding NUL) and writes at most cap-1
 * bytes plus a NUL (when cap > 0); returns -1 if the key is absent or not a string/number/bool (numbers and bools
 * are formatted as text). Retry with cap = result + 1 when result >= cap. */
MLXB_API int32_t mlxb_model_meta_str(const mlxb_model * model, const char * key, char * buf, int32_t cap);
MLXB_API int32_t mlxb_model_arch(const mlxb_model * model, char * buf, int32_t cap);          /* general.architecture */
MLXB_API int32_t mlxb_model_chat_template(const mlxb_model * model, char * buf, int32_t cap); /* tokenizer.chat_template */

/* ---- tokenizer ---------------------------------------------------------------------------------------------- */

enum {
    MLXB_TOKENIZE_ADD_BOS       = 1, /* prepend BOS (if the vocabulary has one) */
    MLXB_TOKENIZE_PARSE_SPECIAL = 2, /* text like "<|im_end|>" becomes that control token instead of plain text */
};
/* text need not be NUL-terminated; len < 0 means strlen(text). Returns the token count, or -(needed). */
MLXB_API int32_t mlxb_tokenize(const mlxb_model * model, const char * text, int32_t len,
                               mlxb_token * out, int32_t cap, int32_t flags);

enum {
    MLXB_DETOK_RENDER_SPECIAL = 1, /* render control tokens as their text instead of "" */
    MLXB_DETOK_STRIP_LEADING  = 2, /* drop the space SentencePiece put in front of the first word */
};
/* Raw bytes of one token (may be a partial UTF-8 sequence). Returns byte count, or -(needed). No NUL is written. */
MLXB_API int32_t mlxb_token_to_piece(const mlxb_model * model, mlxb_token token, char * buf, int32_t cap, int32_t flags);
/* Concatenated bytes of n tokens. Returns byte count, or -(needed). No NUL is written. */
MLXB_API int32_t mlxb_detokenize(const mlxb_model * model, const mlxb_token * tokens, int32_t n,
                                 char * buf, int32_t cap, int32_t flags);

/* Unambiguous forms of the three calls above (API version 1 additions): the return value is only a status
 * (MLXB_OK or a negative mlxb_status). On MLXB_OK, *n_needed is the full count (tokens or bytes); the output was
 * written iff *n_needed <= cap. On error *n_needed is 0 and nothing was written. n_needed must not be NULL; buf/out
 * may be NULL only when cap is 0. */
MLXB_API int32_t mlxb_tokenize_ex(const mlxb_model * model, const char * text, int32_t len, mlxb_token * out, int32_t cap,
                                  int32_t flags, int32_t * n_needed);
MLXB_API int32_t mlxb_token_to_piece_ex(const mlxb_model * model, mlxb_token token, char * buf, int32_t cap, int32_t flags,
                                        int32_t * n_needed);
MLXB_API int32_t mlxb_detokenize_ex(const mlxb_model * model, const mlxb_token * tokens, int32_t n, char * buf, int32_t cap,
                                    int32_t flags, int32_t * n_needed);

/* ---- context, sequences and their KV cache -------------------------------------------------------------------- */

typedef struct mlxb_context_params {
    int32_t n_ctx;     /* positions per sequence; 0: min(n_ctx_train, 4096) */
    int32_t n_seq_max; /* sequences 0..n_seq_max-1, each with its own KV cache of n_ctx positions; default 1 */
    int32_t n_batch;   /* most tokens one mlxb_decode call may carry (all sequences together); default 512 */
    int32_t n_threads; /* compute threads (persistent pool); 0: number of hardware threads */
} mlxb_context_params;

MLXB_API mlxb_context_params mlxb_context_default_params(void);
/* The context keeps a reference to model: free the context first. params may be NULL for defaults. */
MLXB_API int32_t mlxb_context_new(mlxb_model * model, const mlxb_context_params * params, mlxb_context ** out);
MLXB_API void    mlxb_context_free(mlxb_context * ctx);
MLXB_API int32_t mlxb_context_set_threads(mlxb_context * ctx, int32_t n_threads);
MLXB_API int32_t mlxb_context_n_threads(const mlxb_context * ctx);
MLXB_API int32_t mlxb_context_n_ctx(const mlxb_context * ctx);
MLXB_API int32_t mlxb_context_n_seq_max(const mlxb_context * ctx);
MLXB_API int32_t mlxb_context_n_batch(const mlxb_context * ctx);

/* Number of positions cached for seq (the next token goes to this position), or -1 for a bad seq. */
MLXB_API int32_t mlxb_seq_len(const mlxb_context * ctx, mlxb_seq_id seq);
/* Keep positions [0, n_keep) of seq and forget the rest (n_keep <= current length). n_keep = 0 clears it. */
MLXB_API int32_t mlxb_seq_truncate(mlxb_context * ctx, mlxb_seq_id seq, int32_t n_keep);
/* dst := the first n positions of src (n < 0: all of src). dst's previous content is dropped; src is unchanged.
 * This is how a shared prompt prefix is computed once and reused, e.g. by four answer choices. */
MLXB_API int32_t mlxb_seq_copy(mlxb_context * ctx, mlxb_seq_id src, mlxb_seq_id dst, int32_t n);

/* ---- decode --------------------------------------------------------------------------------------------------- */

typedef struct mlxb_batch {             /* every non-NULL array holds n_tokens entries */
    int32_t             n_tokens;
    const mlxb_token  * tokens;
    const mlxb_seq_id * seq_ids;        /* NULL: every token belongs to sequence 0 */
    const int32_t     * pos;            /* NULL: each token appends to its sequence; else must equal that position */
    const int8_t      * want_logits;    /* NULL: logits for the last token of each sequence in the batch only */
} mlxb_batch;

/* Runs the model over the batch. A sequence's tokens must appear in position order; tokens of several sequences
 * may be interleaved. Returns MLXB_OK, MLXB_CONTEXT_FULL (a sequence would exceed n_ctx; nothing changed), or
 * MLXB_ERR_ARG (n_tokens > n_batch, bad token/seq id, position mismatch; nothing changed). */
MLXB_API int32_t mlxb_decode(mlxb_context * ctx, const mlxb_batch * batch);

/* Results of the last mlxb_decode, addressed by the token's index i in that batch (it must have wanted logits).
 * Logits: pointer to n_vocab floats, valid until the next decode on ctx; NULL if i had no logits. */
MLXB_API const float * mlxb_get_logits(mlxb_context * ctx, int32_t i);
/* Log-softmax of row i into out[n_vocab]. */
MLXB_API int32_t mlxb_get_logprobs(mlxb_context * ctx, int32_t i, float * out, int32_t cap);
/* Log-probability of one token at row i. The value is bit-identical to the same token's entry from
 * mlxb_get_logprobs and mlxb_get_top_logprobs (lm-eval compares them with ==). */
MLXB_API int32_t mlxb_get_token_logprob(mlxb_context * ctx, int32_t i, mlxb_token token, float * out_logprob);
/* The n most likely tokens at row i, best first (ties: lower id first). Returns the count written (min(n, n_vocab);
 * 0 for n = 0, when out_tokens/out_logprobs may be NULL), or a negative mlxb_status. */
MLXB_API int32_t mlxb_get_top_logprobs(mlxb_context * ctx, int32_t i, int32_t n, mlxb_token * out_tokens,
                                       float * out_logprobs);

/* ---- sampling -------------------------------------------------------------------------------------------------- */

typedef struct mlxb_sampler_params {
    float    temperature; /* <= 0: greedy (argmax, lowest id on ties); default 0 */
    int32_t  top_k;       /* <= 0: disabled; default 0 */
    float    top_p;       /* >= 1: disabled; default 1 */
    float    min_p;       /* <= 0: disabled; default 0 */
    uint64_t seed;        /* RNG seed; same seed, same logits -> same tokens */
} mlxb_sampler_params;

MLXB_API mlxb_sampler_params mlxb_sampler_default_params(void);
MLXB_API int32_t    mlxb_sampler_new(const mlxb_model * model, const mlxb_sampler_params * params, mlxb_sampler ** out);
MLXB_API void       mlxb_sampler_free(mlxb_sampler * sampler);
MLXB_API int32_t    mlxb_sampler_reseed(mlxb_sampler * sampler, uint64_t seed);
/* Samples from row i of the last decode. Returns the token, or a negative mlxb_status. */
MLXB_API mlxb_token mlxb_sampler_sample(mlxb_sampler * sampler, mlxb_context * ctx, int32_t i);

#ifdef __cplusplus
}
#endif

#endif /* MLXB_H */
