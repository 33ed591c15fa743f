# unit.sigv4: awsapi/sigv4.c against AWS's published test suite vectors
# and every refusal, with AWS's exception names and messages.
add_executable(sigv4_unit_test ${CMAKE_CURRENT_LIST_DIR}/sigv4_test.c)
target_link_libraries(sigv4_unit_test coffer_sigv4 PkgConfig::CMOCKA)
add_test(NAME unit.sigv4 COMMAND sigv4_unit_test)
