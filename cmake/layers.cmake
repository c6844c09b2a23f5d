# herd_add_layer(NAME DEPS ...): one static library per directory under src/.
#   src/NAME/**/*.cpp         -> library herd_NAME (tests, benches, fuzzers excluded; folders included)
#   src/NAME/*_test.cpp       -> one GoogleTest binary NAME_test, label "unit"
#   src/NAME/*_avx2.cpp       -> compiled with AVX2 flags only
#   src/NAME/*_avx512.cpp     -> compiled with AVX-512 flags only
#   src/NAME/*_avx512vnni.cpp -> compiled with AVX-512 + VNNI flags only
#   src/NAME/*_avx512bf16.cpp -> compiled with AVX-512 + VNNI + BF16 flags only
#   src/NAME/*_amx.cpp        -> compiled with AVX-512 + VNNI + BF16 + AMX-TILE/INT8/BF16 flags only
#   src/NAME/*_fuzz.cpp       -> libFuzzer targets when HERD_FUZZ is on
# Includes are written "NAME/file.h" relative to src/; a layer sees only its DEPS.
find_package(GTest REQUIRED)
find_package(Threads REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)

function(herd_add_layer name)
  cmake_parse_arguments(L "" "" "DEPS" ${ARGN})
  set(dir ${PROJECT_SOURCE_DIR}/src/${name})
  # Recursive: a layer may keep a sub-architecture in a folder (src/model/deberta/).
  file(GLOB_RECURSE all CONFIGURE_DEPENDS ${dir}/*.cpp)
  set(lib_srcs "")
  set(test_srcs "")
  foreach(f ${all})
    if(f MATCHES "_test\\.cpp$")
      list(APPEND test_srcs ${f})
    elseif(f MATCHES "_(bench|fuzz)\\.cpp$")
    else()
      list(APPEND lib_srcs ${f})
    endif()
    if(f MATCHES "_avx2\\.cpp$")
      set_source_files_properties(${f} PROPERTIES COMPILE_OPTIONS "${HERD_AVX2_FLAGS}")
    elseif(f MATCHES "_avx512\\.cpp$")
      set_source_files_properties(${f} PROPERTIES COMPILE_OPTIONS "${HERD_AVX512_FLAGS}")
    elseif(f MATCHES "_avx512vnni\\.cpp$")
      set_source_files_properties(${f} PROPERTIES COMPILE_OPTIONS "${HERD_AVX512VNNI_FLAGS}")
    elseif(f MATCHES "_avx512bf16\\.cpp$")
      set_source_files_properties(${f} PROPERTIES COMPILE_OPTIONS "${HERD_AVX512BF16_FLAGS}")
    elseif(f MATCHES "_amx\\.cpp$")
      set_source_files_properties(${f} PROPERTIES COMPILE_OPTIONS "${HERD_AMX_FLAGS}")
    endif()
  endforeach()
  add_library(herd_${name} STATIC ${lib_srcs})
  # Each layer compiles against a private include root holding links to itself
  # and its declared DEPS only, so "#include \"model/x.h\"" from kernels/
  # fails to build (the dependency rule of STYLE.md, enforced by the build).
  set(inc ${CMAKE_BINARY_DIR}/layer_include/${name})
  file(MAKE_DIRECTORY ${inc})
  foreach(d ${name} ${L_DEPS})
    file(CREATE_LINK ${PROJECT_SOURCE_DIR}/src/${d} ${inc}/${d} SYMBOLIC)
  endforeach()
  target_include_directories(herd_${name} PRIVATE ${inc})
  set_property(GLOBAL PROPERTY herd_${name}_include ${inc})
  set(deps "")
  foreach(d ${L_DEPS})
    list(APPEND deps herd_${d})
  endforeach()
  target_link_libraries(herd_${name} PUBLIC ${deps} Threads::Threads)
  if(name STREQUAL "formats" OR name STREQUAL "model" OR name STREQUAL "tokenizer" OR name STREQUAL "chat" OR name STREQUAL "grammar")
    target_link_libraries(herd_${name} PUBLIC nlohmann_json::nlohmann_json)
  endif()
  if(test_srcs)
    add_executable(${name}_test ${test_srcs})
    target_include_directories(${name}_test PRIVATE ${inc} ${PROJECT_SOURCE_DIR}/tests)
    target_link_libraries(${name}_test PRIVATE herd_${name} ${deps} GTest::gtest_main)
    add_test(NAME ${name}_unit COMMAND ${name}_test)
    set_tests_properties(${name}_unit PROPERTIES LABELS "unit"
      ENVIRONMENT "HERD_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
  endif()
endfunction()
