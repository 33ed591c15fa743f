# unit.rpc: rpc/'s pure logic, without the engine or a server.
# --wrap=free lets the test see blocks the wiping allocator releases.
add_executable(rpc_unit_test ${CMAKE_CURRENT_LIST_DIR}/rpc_test.c)
target_include_directories(rpc_unit_test PRIVATE ${PROJECT_SOURCE_DIR}/rpc)
target_link_libraries(rpc_unit_test coffer_rpc_support coffer_proto
                      coffer_common PkgConfig::CMOCKA)
target_link_options(rpc_unit_test PRIVATE -Wl,--wrap=free)
add_test(NAME unit.rpc COMMAND rpc_unit_test)
