# unit.policy: policy/'s grammar, evaluation, public-policy detection and
# validation findings, without a server.  --wrap counts allocations so the
# test can show that policy_evaluate() makes none.
add_executable(policy_test ${CMAKE_CURRENT_LIST_DIR}/policy_test.c)
target_link_libraries(policy_test coffer_policy coffer_common PkgConfig::CMOCKA)
target_link_options(policy_test PRIVATE
                    -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc
                    -Wl,--wrap=reallocarray)
add_test(NAME unit.policy COMMAND policy_test)
