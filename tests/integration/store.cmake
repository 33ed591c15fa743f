add_executable(store_scale_test ${CMAKE_CURRENT_LIST_DIR}/store_scale_test.c)
target_include_directories(store_scale_test PRIVATE ${PROJECT_SOURCE_DIR}/store)
target_link_libraries(store_scale_test coffer_store coffer_testlib
                      PkgConfig::PQ PkgConfig::JANSSON PkgConfig::CMOCKA)
add_test(NAME integration.store_scale COMMAND store_scale_test)
set_tests_properties(integration.store_scale PROPERTIES TIMEOUT 900)
