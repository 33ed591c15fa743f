add_executable(hsm_test ${CMAKE_CURRENT_LIST_DIR}/hsm_test.c)
target_link_libraries(hsm_test coffer_hsm coffer_testlib PkgConfig::CMOCKA Threads::Threads)
add_test(NAME integration.hsm COMMAND hsm_test)

# integration.hsm_kat: the envelope format against a known answer, with a
# KEK of known bytes imported into the token (p11-kit) and OpenSSL as the
# second implementation.
add_executable(hsm_kat_test ${CMAKE_CURRENT_LIST_DIR}/hsm_kat_test.c)
target_link_libraries(hsm_kat_test coffer_hsm coffer_testlib PkgConfig::P11KIT
                      PkgConfig::CRYPTO PkgConfig::CMOCKA)
add_test(NAME integration.hsm_kat COMMAND hsm_kat_test)
