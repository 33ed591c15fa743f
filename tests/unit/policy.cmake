# policy/'s unit tests, one program per concern, without a server:
# unit.policy_parse: the grammar, the size limit, public-policy detection,
# validation findings; unit.policy_eval: principals, actions, resources,
# Deny over Allow, the wildcard matcher, and that policy_evaluate() makes no
# allocation (--wrap counts them: the heap's, and the arena's, which takes
# locked pages instead); unit.policy_conditions: every condition operator.
# policy_testlib holds what they share (documents, evaluation rows).
add_library(coffer_policy_testlib STATIC
            ${CMAKE_CURRENT_LIST_DIR}/policy_testlib.c)
target_include_directories(coffer_policy_testlib
                           PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(coffer_policy_testlib
                      PUBLIC coffer_policy coffer_common PkgConfig::CMOCKA)

foreach(t parse eval conditions)
  add_executable(policy_${t}_test ${CMAKE_CURRENT_LIST_DIR}/policy_${t}_test.c)
  target_link_libraries(policy_${t}_test PRIVATE coffer_policy_testlib)
  add_test(NAME unit.policy_${t} COMMAND policy_${t}_test)
endforeach()
target_link_options(policy_eval_test PRIVATE
                    -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc
                    -Wl,--wrap=reallocarray
                    -Wl,--wrap=cf_arena_new,--wrap=cf_arena_alloc
                    -Wl,--wrap=cf_arena_memdup,--wrap=cf_arena_strdup)
