# libFuzzer targets (HERD_FUZZ=ON, clang only).
#
# Every src/<layer>/<name>_fuzz.cpp becomes an executable <name> in
# ${CMAKE_BINARY_DIR}/fuzz, linked against herd_<layer> (apps/server/<name>_fuzz.cpp:
# against herd_server, for request validation) and compiled with
# -fsanitize=fuzzer,address,undefined. So that the fuzzer sees coverage inside
# the libraries and ASan checks them, every target in a fuzz build gets
# -fsanitize=fuzzer-no-link,address,undefined. Use a separate build directory
# (tools/run_fuzz.sh makes build-fuzz). Include this file after
# cmake/layers.cmake and before the herd_add_layer() calls; the fuzz
# executables are added once the top-level CMakeLists.txt has been processed.
# Debug info is line tables only (crash reports still name file:line), which
# replaces RelWithDebInfo's -g: the last debug level given wins.
if(NOT HERD_FUZZ)
  return()
endif()
if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  message(WARNING "HERD_FUZZ needs clang (configure with CC=clang CXX=clang++); "
                  "fuzz targets are not built with ${CMAKE_CXX_COMPILER_ID}")
  return()
endif()

set(HERD_FUZZ_SANITIZERS address,undefined)
add_compile_options(-fsanitize=fuzzer-no-link,${HERD_FUZZ_SANITIZERS}
                    -fno-sanitize-recover=undefined -fno-omit-frame-pointer -gline-tables-only)
add_link_options(-fsanitize=${HERD_FUZZ_SANITIZERS})

function(herd_add_fuzzers)
  file(GLOB fuzz_srcs CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/*/*_fuzz.cpp)
  foreach(src ${fuzz_srcs})
    get_filename_component(target ${src} NAME_WE)
    get_filename_component(dir ${src} DIRECTORY)
    get_filename_component(layer ${dir} NAME)
    if(NOT TARGET herd_${layer})
      message(WARNING "fuzz target ${target}: no layer library herd_${layer}; skipped")
      continue()
    endif()
    get_property(inc GLOBAL PROPERTY herd_${layer}_include)
    add_executable(${target} ${src})
    target_include_directories(${target} PRIVATE ${inc})
    target_compile_options(${target} PRIVATE -fsanitize=fuzzer)
    target_link_options(${target} PRIVATE -fsanitize=fuzzer)
    target_link_libraries(${target} PRIVATE herd_${layer})
    set_target_properties(${target} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/fuzz)
    set_property(GLOBAL APPEND PROPERTY herd_fuzz_targets ${target})
  endforeach()
  file(GLOB server_fuzz_srcs CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/apps/server/*_fuzz.cpp)
  foreach(src ${server_fuzz_srcs})
    get_filename_component(target ${src} NAME_WE)
    add_executable(${target} ${src})
    target_include_directories(${target} PRIVATE ${PROJECT_SOURCE_DIR}/apps/server ${CMAKE_BINARY_DIR}/layer_include/server)
    target_compile_options(${target} PRIVATE -fsanitize=fuzzer)
    target_link_options(${target} PRIVATE -fsanitize=fuzzer)
    target_link_libraries(${target} PRIVATE herd_server)
    set_target_properties(${target} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/fuzz)
    set_property(GLOBAL APPEND PROPERTY herd_fuzz_targets ${target})
  endforeach()
  get_property(all GLOBAL PROPERTY herd_fuzz_targets)
  if(all)
    add_custom_target(fuzz_all DEPENDS ${all})
  endif()
endfunction()

# The layers are declared after this file is included; add the fuzzers at the
# end of the top-level directory, when every herd_<layer> target exists.
cmake_language(DEFER DIRECTORY ${PROJECT_SOURCE_DIR} CALL herd_add_fuzzers)
