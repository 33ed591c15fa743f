# The audit trail's pure half: the event hash and the chain checker.
add_executable(audit_test ${CMAKE_CURRENT_LIST_DIR}/audit_test.c)
target_link_libraries(audit_test PRIVATE coffer_audit_core PkgConfig::CMOCKA)
add_test(NAME unit.audit COMMAND audit_test)

# The walk of a chain (audit_verify_chain): bounds, resuming, the online
# judgments of a chain's end.
add_executable(audit_verify_test ${CMAKE_CURRENT_LIST_DIR}/audit_verify_test.c)
target_link_libraries(audit_verify_test PRIVATE coffer_audit_core PkgConfig::CMOCKA)
add_test(NAME unit.audit_verify COMMAND audit_verify_test)
