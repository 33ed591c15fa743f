# unit.rpc: rpc/'s pure logic and the protobuf <-> engine helpers (pb.c),
# without the engine or a server.
add_executable(rpc_unit_test ${CMAKE_CURRENT_LIST_DIR}/rpc_test.c
               ${PROJECT_SOURCE_DIR}/rpc/pb.c)
target_include_directories(rpc_unit_test PRIVATE ${PROJECT_SOURCE_DIR}/rpc
                           ${PROJECT_SOURCE_DIR}/engine
                           ${PROJECT_SOURCE_DIR}/rotator)
target_link_libraries(rpc_unit_test coffer_rpc_support coffer_proto
                      coffer_common PkgConfig::CMOCKA)
add_test(NAME unit.rpc COMMAND rpc_unit_test)
