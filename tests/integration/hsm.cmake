add_executable(hsm_test ${CMAKE_CURRENT_LIST_DIR}/hsm_test.c)
target_link_libraries(hsm_test coffer_hsm coffer_testlib PkgConfig::CMOCKA Threads::Threads)
add_test(NAME integration.hsm COMMAND hsm_test)
