# The engine against PostgreSQL and SoftHSM, one program per concern, each
# over one coffer_fixture (testlib.cmake) on a database of its own.
foreach(t migrations secrets versions listing batch delete tags passwords
    access_keys)
  add_executable(engine_${t}_integration_test
                 ${CMAKE_CURRENT_LIST_DIR}/engine_${t}_test.c)
  target_link_libraries(engine_${t}_integration_test coffer_fixture)
  add_test(NAME integration.engine_${t} COMMAND engine_${t}_integration_test)
endforeach()
