# What `cmake --install BUILD [--prefix P]` puts where (GNU layout):
#   bin/herd                                   the command
#   lib/libherd.so.V, include/herd.h           the C API (apps/capi, include/herd.h)
#   lib/pkgconfig/herd.pc                      pkg-config --cflags --libs herd
#   lib/cmake/herd/herdConfig*.cmake           find_package(herd) -> target herd::herd
#   share/man/man1/herd.1                      the manual, made from each command's --help
#   share/bash-completion/completions/herd     bash completion (options read from --help)
#   share/zsh/site-functions/_herd             zsh completion (the same, through bashcompinit)
# tests/e2e/test_install.sh installs into a temporary prefix and builds
# examples/c_api against it, with pkg-config and with CMake.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(TARGETS herd RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS herd_capi EXPORT herdTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES ${PROJECT_SOURCE_DIR}/include/herd.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT herdTargets NAMESPACE herd:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/herd)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/herdConfig.cmake.in
  ${CMAKE_BINARY_DIR}/herdConfig.cmake INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/herd)
write_basic_package_version_file(${CMAKE_BINARY_DIR}/herdConfigVersion.cmake
  VERSION ${HERD_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/herdConfig.cmake ${CMAKE_BINARY_DIR}/herdConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/herd)
# herd.pc finds its prefix from where it lies (pkg-config's ${pcfiledir}), so the
# files work under any --prefix given at install time.
file(RELATIVE_PATH HERD_PC_TO_PREFIX "/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/")
string(REGEX REPLACE "/$" "" HERD_PC_TO_PREFIX "${HERD_PC_TO_PREFIX}")
configure_file(${PROJECT_SOURCE_DIR}/cmake/herd.pc.in ${CMAKE_BINARY_DIR}/herd.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/herd.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# The manual page, generated from the same option tables as `herd COMMAND --help`.
add_custom_command(OUTPUT ${CMAKE_BINARY_DIR}/herd.1
  COMMAND bash ${PROJECT_SOURCE_DIR}/tools/make_man.sh $<TARGET_FILE:herd> > ${CMAKE_BINARY_DIR}/herd.1
  DEPENDS herd ${PROJECT_SOURCE_DIR}/tools/make_man.sh VERBATIM)
add_custom_target(herd_man ALL DEPENDS ${CMAKE_BINARY_DIR}/herd.1)
install(FILES ${CMAKE_BINARY_DIR}/herd.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES ${PROJECT_SOURCE_DIR}/tools/completion/herd.bash
  DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions RENAME herd)
install(FILES ${PROJECT_SOURCE_DIR}/tools/completion/_herd DESTINATION ${CMAKE_INSTALL_DATADIR}/zsh/site-functions)
