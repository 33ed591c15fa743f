# The engine against PostgreSQL and SoftHSM, over coffer_fixture
# (testlib.cmake).
foreach(t engine engine_ops)
  add_executable(${t}_integration_test ${CMAKE_CURRENT_LIST_DIR}/${t}_test.c)
  target_link_libraries(${t}_integration_test coffer_fixture)
  add_test(NAME integration.${t} COMMAND ${t}_integration_test)
endforeach()
