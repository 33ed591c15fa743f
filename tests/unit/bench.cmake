# coffer-bench's latency quantiles (bench/stats.c), the figures bench/run
# prints and docs/performance.md quotes.
add_executable(bench_stats_unit_test ${CMAKE_CURRENT_LIST_DIR}/bench_stats_test.c
               ${PROJECT_SOURCE_DIR}/bench/stats.c)
target_include_directories(bench_stats_unit_test PRIVATE ${PROJECT_SOURCE_DIR}/bench)
target_link_libraries(bench_stats_unit_test coffer_common PkgConfig::CMOCKA
                      Threads::Threads m)
add_test(NAME unit.bench_stats COMMAND bench_stats_unit_test)
