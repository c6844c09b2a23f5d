// The Llama 3 / 3.1 tokenizer.model (Meta's tiktoken rank file) compiled into the binary.
//
// cmake/tokenizer_data.cmake passes the path of data/llama3/tokenizer.model to
// embedded_vocab.cpp, which includes the bytes with an assembler .incbin, so tools that
// write models (`herd make-model`) or tokenize without a model need no data file at run
// time and work from any directory. The file is 2,183,982 bytes, SHA-256 82e9d319...1b55
// (spec/llama31.md section 4.1); its terms are data/llama3/LICENSE.
//
// Thread safety: immutable, lives for the whole program.
#pragma once

#include <string_view>

namespace herd::tokenizer {

// The text of tokenizer.model: 128000 lines "<base64> <rank>". Feed it to
// vocab_from_tiktoken() (vocab.h).
std::string_view embedded_llama3_tokenizer_model();

}  // namespace herd::tokenizer
