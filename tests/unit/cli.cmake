add_executable(cli_unit_test ${CMAKE_CURRENT_LIST_DIR}/cli_test.c)
target_link_libraries(cli_unit_test coffer_cli_lib PkgConfig::CMOCKA)
# The test fills protobuf-c structs (char *) from string literals.
target_compile_options(cli_unit_test PRIVATE -Wno-write-strings
                       -Wno-discarded-qualifiers -Wno-cast-qual)
add_test(NAME unit.cli COMMAND cli_unit_test)
