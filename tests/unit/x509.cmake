# unit.x509: rpc/'s X.509 checks of client certificates (x509.c) on
# certificates the test makes, without gRPC or a server.
add_executable(x509_unit_test ${CMAKE_CURRENT_LIST_DIR}/x509_test.c
               ${PROJECT_SOURCE_DIR}/rpc/x509.c)
target_include_directories(x509_unit_test PRIVATE ${PROJECT_SOURCE_DIR}/rpc)
target_link_libraries(x509_unit_test PkgConfig::CRYPTO PkgConfig::CMOCKA)
add_test(NAME unit.x509 COMMAND x509_unit_test)
