# unit.tls: rpc/'s certificate identity rules (SPIFFE IDs, escaping) and
# the refusal counter, without a server.
add_executable(tls_unit_test ${CMAKE_CURRENT_LIST_DIR}/tls_test.c
               ${PROJECT_SOURCE_DIR}/rpc/tls.c ${PROJECT_SOURCE_DIR}/rpc/x509.c
               ${PROJECT_SOURCE_DIR}/rpc/refusals.c)
target_include_directories(tls_unit_test PRIVATE ${PROJECT_SOURCE_DIR}/rpc)
target_link_libraries(tls_unit_test coffer_rpc_support coffer_audit coffer_common
                      PkgConfig::GRPC PkgConfig::CRYPTO PkgConfig::CMOCKA
                      Threads::Threads)
add_test(NAME unit.tls COMMAND tls_unit_test)
