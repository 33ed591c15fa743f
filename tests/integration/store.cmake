# integration.store: store/ on its own against PostgreSQL (round trips,
# not-found and conflict results, migrations applied once).
add_executable(store_test ${CMAKE_CURRENT_LIST_DIR}/store_test.c)
target_link_libraries(store_test coffer_store coffer_testlib)
add_test(NAME integration.store COMMAND store_test)

# integration.store_scale: keyset paging and audit partitions at a million rows.
add_executable(store_scale_test ${CMAKE_CURRENT_LIST_DIR}/store_scale_test.c)
target_include_directories(store_scale_test PRIVATE ${PROJECT_SOURCE_DIR}/store)
target_link_libraries(store_scale_test coffer_store coffer_testlib
                      PkgConfig::PQ PkgConfig::JANSSON PkgConfig::CMOCKA)
add_test(NAME integration.store_scale COMMAND store_scale_test)
set_tests_properties(integration.store_scale PROPERTIES TIMEOUT 900)

# integration.store_plans: a ListSecrets page statement reads a page, not
# every secret (no sort; a cursor inside a run of one created_date).
add_executable(store_plan_test ${CMAKE_CURRENT_LIST_DIR}/store_plan_test.c)
target_include_directories(store_plan_test PRIVATE ${PROJECT_SOURCE_DIR}/store)
target_link_libraries(store_plan_test coffer_store coffer_testlib
                      PkgConfig::PQ PkgConfig::JANSSON PkgConfig::CMOCKA)
add_test(NAME integration.store_plans COMMAND store_plan_test)
