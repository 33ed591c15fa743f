# unit.policy: policy/'s grammar, evaluation, public-policy detection and
# validation findings, without a server.  --wrap counts allocations (the
# heap's, and the arena's, which takes locked pages instead) so the test can
# show that policy_evaluate() makes none.
add_executable(policy_test ${CMAKE_CURRENT_LIST_DIR}/policy_test.c)
target_link_libraries(policy_test coffer_policy coffer_common PkgConfig::CMOCKA)
target_link_options(policy_test PRIVATE
                    -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc
                    -Wl,--wrap=reallocarray
                    -Wl,--wrap=cf_arena_new,--wrap=cf_arena_alloc
                    -Wl,--wrap=cf_arena_memdup,--wrap=cf_arena_strdup)
add_test(NAME unit.policy COMMAND policy_test)
