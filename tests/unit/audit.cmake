# The audit trail's pure half: the event hash and the chain checker.
add_executable(audit_test ${CMAKE_CURRENT_LIST_DIR}/audit_test.c)
target_link_libraries(audit_test PRIVATE coffer_audit_core PkgConfig::CMOCKA)
add_test(NAME unit.audit COMMAND audit_test)
