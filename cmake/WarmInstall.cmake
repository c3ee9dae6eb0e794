# Installs headers, the library, a CMake package (find_package(warm CONFIG)
# giving warm::warm) and warm.pc.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(TARGETS warm EXPORT warmTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY include/warm DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT warmTargets NAMESPACE warm::
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/warm)

configure_package_config_file(cmake/warmConfig.cmake.in
  ${PROJECT_BINARY_DIR}/warmConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/warm)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/warmConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/warmConfig.cmake
              ${PROJECT_BINARY_DIR}/warmConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/warm)

# warm.pc finds its prefix relative to itself, so `cmake --install --prefix`
# anywhere gives a working file.
file(RELATIVE_PATH WARM_PC_TO_PREFIX
  /root/${CMAKE_INSTALL_LIBDIR}/pkgconfig /root)
configure_file(cmake/warm.pc.in ${PROJECT_BINARY_DIR}/warm.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/warm.pc
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
