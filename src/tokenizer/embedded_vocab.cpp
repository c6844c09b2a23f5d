// Embeds data/llama3/tokenizer.model with .incbin (see embedded_vocab.h).
#include "tokenizer/embedded_vocab.h"

#ifndef HERD_TOKENIZER_MODEL_PATH
#error "HERD_TOKENIZER_MODEL_PATH is not set: include cmake/tokenizer_data.cmake after the layers"
#endif

// The symbols are hidden so a shared build never exports them; .rodata keeps them
// read-only. The trailing NUL is not part of the view; it only makes the blob safe
// to hand to C APIs that want a terminator.
__asm__(
    ".pushsection .rodata.herd_llama3_tokenizer, \"a\", @progbits\n"
    ".balign 16\n"
    ".globl herd_llama3_tokenizer_begin\n"
    ".hidden herd_llama3_tokenizer_begin\n"
    "herd_llama3_tokenizer_begin:\n"
    ".incbin \"" HERD_TOKENIZER_MODEL_PATH "\"\n"
    ".globl herd_llama3_tokenizer_end\n"
    ".hidden herd_llama3_tokenizer_end\n"
    "herd_llama3_tokenizer_end:\n"
    ".byte 0\n"
    ".popsection\n");

extern "C" {
extern const char herd_llama3_tokenizer_begin[];
extern const char herd_llama3_tokenizer_end[];
}

namespace herd::tokenizer {

std::string_view embedded_llama3_tokenizer_model() {
  return std::string_view(herd_llama3_tokenizer_begin,
                          static_cast<size_t>(herd_llama3_tokenizer_end - herd_llama3_tokenizer_begin));
}

}  // namespace herd::tokenizer
