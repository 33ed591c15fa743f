# coffer's unit tests: parsing, value forms, JSON shapes, --query,
# pagination, output and error formats.  No server needed.
add_executable(cli_test ${CMAKE_CURRENT_LIST_DIR}/cli_test.c)
target_link_libraries(cli_test PRIVATE coffer_cli_lib PkgConfig::CMOCKA)
add_test(NAME unit.cli COMMAND cli_test)
