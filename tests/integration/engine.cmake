add_library(coffer_testlib STATIC ${CMAKE_CURRENT_LIST_DIR}/testlib.c
            ${CMAKE_CURRENT_LIST_DIR}/fixture.c)
target_include_directories(coffer_testlib PUBLIC ${CMAKE_CURRENT_LIST_DIR}
                           ${PROJECT_SOURCE_DIR}/engine)
target_link_libraries(coffer_testlib PUBLIC coffer_engine coffer_common
                      PkgConfig::PQ PkgConfig::CMOCKA)

foreach(t engine engine_ops)
  add_executable(${t}_integration_test ${CMAKE_CURRENT_LIST_DIR}/${t}_test.c)
  target_link_libraries(${t}_integration_test coffer_testlib Threads::Threads)
  add_test(NAME integration.${t} COMMAND ${t}_integration_test)
endforeach()
