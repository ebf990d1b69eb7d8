// Hugging Face tokenizer.json / tokenizer_config.json <-> the GGUF tokenizer metadata our Tokenizer reads
// (tokenizer.ggml.*). Reading maps a tokenizer.json onto the existing SentencePiece-BPE and byte-level-BPE
// implementations; writing produces the tokenizer.json mlx-lm / transformers would ship for a GGUF vocabulary.
//
// Recognised (anything else is Error(MLXB_ERR_UNSUPPORTED) naming the part):
//   model BPE with byte_fallback and a Prepend("▁")+Replace(" " -> "▁") normalizer, or a Metaspace pre-tokenizer
//     (Llama 2, Mistral, TinyLlama)            -> "llama" (SentencePiece BPE; piece scores from merge ranks)
//   model BPE with a ByteLevel pre-tokenizer, alone (GPT-2) or after a Split regex of Llama 3 or Qwen2/Qwen3
//                                              -> "gpt2" with pre "gpt-2" / "llama-bpe" / "qwen2"
//   added_tokens: special -> control, others -> user-defined; bos/eos/add_bos/chat_template from tokenizer_config.
#pragma once

#include <string>

#include "../gguf.h"
#include "../gguf_writer.h"

namespace mlxb {

// Adds the tokenizer.ggml.* keys (and tokenizer.chat_template) for the given files' contents to w. config_json may
// be empty (no tokenizer_config.json). Throws Error.
void hf_tokenizer_to_gguf(const std::string & tokenizer_json, const std::string & config_json, GgufWriter & w,
                          const std::string & where);

// tokenizer.json and tokenizer_config.json text for the tokenizer described by f's tokenizer.ggml.* keys.
void gguf_tokenizer_to_hf(const GgufFile & f, std::string * tokenizer_json, std::string * config_json);

}  // namespace mlxb
