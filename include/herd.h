/* herd.h: herd's C API, for programs that embed a Llama 3.1 model.
 *
 * Load a model (a .gguf file or a Hugging Face directory), tokenize, and generate
 * text streamed to a callback, with the same kernels, tokenizer, chat format and
 * sampler as the herd command. Installed with `cmake --install`; found with
 * `pkg-config --cflags --libs herd` or CMake's `find_package(herd)` (target herd::herd).
 * examples/c_api/chat_once.c is a complete program.
 *
 * Conventions: every string is UTF-8 and NUL-terminated unless a length is given.
 * Functions that can fail take `char* err, size_t err_size` and write a message there
 * (truncated, always NUL-terminated; err may be NULL). Nothing here throws or exits.
 * A herd_model may be used by one thread at a time; separate models are independent.
 * Compatibility: HERD_API_VERSION grows when functions are added; a field is only
 * ever added at the end of herd_generate_params, which callers obtain from
 * herd_generate_default_params() and then change.
 */
#ifndef HERD_H
#define HERD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define HERD_API __attribute__((visibility("default")))
#else
#define HERD_API
#endif

#define HERD_API_VERSION 1

/* herd's version, e.g. "0.5.0" (the same as `herd --version`). */
HERD_API const char* herd_version(void);

typedef struct herd_model herd_model;

/* Loads a model; n_threads <= 0 uses every core. NULL on failure (message in err). */
HERD_API herd_model* herd_model_load(const char* path, int n_threads, char* err, size_t err_size);
HERD_API void herd_model_free(herd_model* model);

/* The model's name from its metadata, its vocabulary size and trained context. */
HERD_API const char* herd_model_name(const herd_model* model);
HERD_API int32_t herd_model_vocab_size(const herd_model* model);
HERD_API int64_t herd_model_context_length(const herd_model* model);

/* The token ids of len bytes of text (any bytes: the tokenizer is total). add_bos
 * prepends <|begin_of_text|>; parse_special lets special-token text such as
 * "<|eot_id|>" become that token. Returns the number of ids, writing at most max_ids
 * of them to ids (call with max_ids 0 to size the array), or -1 on error. */
HERD_API int64_t herd_tokenize(const herd_model* model, const char* text, size_t len, int add_bos,
                               int parse_special, int32_t* ids, int64_t max_ids);

/* The text of n ids (special tokens give their text). Returns its length in bytes and
 * writes it, NUL-terminated, when it fits in out_size; -1 on error (an id outside the
 * vocabulary). */
HERD_API int64_t herd_detokenize(const herd_model* model, const int32_t* ids, int64_t n, char* out,
                                 size_t out_size);

typedef struct herd_generate_params {
  int32_t max_tokens;  /* tokens to generate at most; -1: until the end of the turn or context (default 256) */
  int32_t n_ctx;       /* context size; 0: the model's trained context, at most 8192 (default 0) */
  float temperature;   /* 0 = greedy (default 0.6, as Meta's generation_config) */
  float top_p;         /* nucleus mass (default 0.9) */
  int32_t top_k;       /* 0 = off (default 0) */
  float min_p;         /* 0 = off (default 0) */
  uint64_t seed;       /* sampling seed (default 0) */
  int chat;            /* 1: the prompt is one user message in the Llama 3.1 chat format, and the
                          reply ends at the end of the turn; 0: raw text after <|begin_of_text|> (default 1) */
  const char* system;  /* chat: a system prompt, or NULL (default NULL) */
} herd_generate_params;

HERD_API herd_generate_params herd_generate_default_params(void);

/* Receives each piece of the reply as it is generated: whole UTF-8 characters (a
 * character split across tokens arrives once complete); special (control) tokens
 * add no text, as in `herd run`'s output. Return 0 to go on, non-zero to stop
 * generating. */
typedef int (*herd_piece_callback)(const char* piece, size_t len, void* user_data);

/* Generates a reply to prompt, streaming it to on_piece (may be NULL). Returns the
 * number of tokens generated, or -1 with a message in err. */
HERD_API int64_t herd_generate(herd_model* model, const char* prompt, const herd_generate_params* params,
                               herd_piece_callback on_piece, void* user_data, char* err, size_t err_size);

#ifdef __cplusplus
}
#endif

#endif /* HERD_H */
