# The two libraries the integration tests share, defined here and not in one
# module's fragment because hsm, store and engine tests all link them.
#
# coffer_testlib: the environment ci/testenv.sh sets up (a fresh database,
# SQL as the superuser, the token's PIN); needs nothing of Coffer's but
# common/, so hsm and store tests do not drag the engine in.
add_library(coffer_testlib STATIC ${CMAKE_CURRENT_LIST_DIR}/testlib.c)
target_include_directories(coffer_testlib PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(coffer_testlib PUBLIC coffer_common PkgConfig::PQ
                      PkgConfig::CMOCKA)

# coffer_fixture: an engine on a fresh database and the real token, and the
# call wrappers the engine integration tests share.
add_library(coffer_fixture STATIC ${CMAKE_CURRENT_LIST_DIR}/fixture.c)
target_include_directories(coffer_fixture PUBLIC ${PROJECT_SOURCE_DIR}/engine
                           ${PROJECT_SOURCE_DIR}/rotator)
target_link_libraries(coffer_fixture PUBLIC coffer_testlib coffer_engine
                      Threads::Threads)
