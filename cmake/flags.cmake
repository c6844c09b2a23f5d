# Compiler flags shared by every target. Per-ISA flags are applied per source
# file by herd_add_layer (files named *_avx2.cpp / *_avx512.cpp).
set(HERD_WARNINGS -Wall -Wextra -Wshadow -Wno-unused-parameter)
if(HERD_WERROR)
  list(APPEND HERD_WARNINGS -Werror)
endif()
add_compile_options(${HERD_WARNINGS})
if(CMAKE_BUILD_TYPE STREQUAL "Release")
  add_compile_options(-O2)
endif()
if(NOT CMAKE_BUILD_TYPE STREQUAL "Release" OR HERD_SANITIZE)
  add_compile_definitions(HERD_DEBUG_CHECKS=1)
endif()
if(HERD_SANITIZE)
  # -g1: line tables, so reports name file:line, without the full debug info
  # (a quarter to a third less compile time per file on the 2-core machine).
  # It comes after the build type's -g and, the last -g level winning, replaces it.
  add_compile_options(-fsanitize=${HERD_SANITIZE} -fno-omit-frame-pointer -g1)
  add_link_options(-fsanitize=${HERD_SANITIZE})
  if(HERD_SANITIZE MATCHES "undefined")
    add_compile_options(-fno-sanitize-recover=undefined)
  endif()
endif()
set(HERD_AVX2_FLAGS -mavx2 -mfma -mf16c)
# Only what select_kernels() checks at run time (F, BW, VL): a file compiled
# with more could emit instructions the check does not guard.
set(HERD_AVX512_FLAGS -mavx2 -mavx512f -mavx512bw -mavx512vl -mfma -mf16c)
# GCC 12's AVX-512 intrinsics start their results from _mm512_undefined_*(), written
# `__m512 __Y = __Y;`, which -Wuninitialized / -Wmaybe-uninitialized report at every
# inlined use (thousands of lines for the attention and bf16 kernels, none about
# herd's code). Silenced for the AVX-512 kernel files only; their reads of their
# operands are checked by the guarded-buffer tests and the sanitizer builds.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  list(APPEND HERD_AVX512_FLAGS -Wno-uninitialized -Wno-maybe-uninitialized)
endif()
# AVX512_VNNI has its own CPUID bit, checked by select_kernels() before any
# *_avx512vnni.cpp entry is used.
set(HERD_AVX512VNNI_FLAGS ${HERD_AVX512_FLAGS} -mavx512vnni)
# AVX512_BF16 (vdpbf16ps) likewise: *_avx512bf16.cpp entries are used only
# when select_kernels() has seen its CPUID bit (and VNNI's: the ISA level
# avx512bf16 sits above avx512vnni).
set(HERD_AVX512BF16_FLAGS ${HERD_AVX512VNNI_FLAGS} -mavx512bf16)
# AMX (tile registers, int8 and bf16 tile products): *_amx.cpp entries are
# used only when select_kernels() has seen AMX-TILE, AMX-INT8 and AMX-BF16 and
# the kernel has granted this process the tile state (the ISA level amx sits
# above avx512bf16).
set(HERD_AMX_FLAGS ${HERD_AVX512BF16_FLAGS} -mamx-tile -mamx-int8 -mamx-bf16)
