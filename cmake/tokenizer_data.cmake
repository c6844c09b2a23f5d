# Embeds Meta's Llama 3 tokenizer.model into herd_tokenizer (src/tokenizer/embedded_vocab.cpp
# pulls it in with an assembler .incbin), so `herd make-model` and `herd tokenize` work from any
# directory without the data file. Included from the top-level CMakeLists.txt after the layers,
# because set_source_files_properties applies to targets of this directory scope.
set(HERD_TOKENIZER_MODEL ${PROJECT_SOURCE_DIR}/data/llama3/tokenizer.model)
if(NOT EXISTS ${HERD_TOKENIZER_MODEL})
  message(FATAL_ERROR "missing ${HERD_TOKENIZER_MODEL} (Meta's Llama 3 tokenizer; see data/llama3/README.md)")
endif()
set_source_files_properties(${PROJECT_SOURCE_DIR}/src/tokenizer/embedded_vocab.cpp PROPERTIES
  COMPILE_DEFINITIONS "HERD_TOKENIZER_MODEL_PATH=\"${HERD_TOKENIZER_MODEL}\""
  OBJECT_DEPENDS ${HERD_TOKENIZER_MODEL})
