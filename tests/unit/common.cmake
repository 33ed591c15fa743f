# unit.common: common/'s shared helpers, the one copy each of what modules
# used to write for themselves: UUIDs, hex, the file reader, the wiping
# free.  --wrap=free lets the test look at a block as it is freed.
add_executable(common_unit_test ${CMAKE_CURRENT_LIST_DIR}/common_test.c)
target_link_libraries(common_unit_test coffer_common PkgConfig::CMOCKA)
target_link_options(common_unit_test PRIVATE -Wl,--wrap=free)
add_test(NAME unit.common COMMAND common_unit_test)
