# coffer's unit tests, one program per concern: verbs and names, response
# JSON, value forms, the whole command line, --query, pagination, output and
# error formats, the transport.  No server needed.  cli_testlib holds what
# they share (word lists, flags, parsed command lines, JSON text).
add_library(coffer_cli_testlib STATIC ${CMAKE_CURRENT_LIST_DIR}/cli_testlib.c)
target_include_directories(coffer_cli_testlib PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(coffer_cli_testlib PUBLIC coffer_cli_lib PkgConfig::CMOCKA)

foreach(t verbs json values args query paging output transport)
  add_executable(cli_${t}_test ${CMAKE_CURRENT_LIST_DIR}/cli_${t}_test.c)
  target_link_libraries(cli_${t}_test PRIVATE coffer_cli_testlib)
  add_test(NAME unit.cli_${t} COMMAND cli_${t}_test)
endforeach()
