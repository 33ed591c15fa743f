add_executable(engine_unit_test ${CMAKE_CURRENT_LIST_DIR}/engine_test.c)
target_include_directories(engine_unit_test PRIVATE ${PROJECT_SOURCE_DIR}/engine
                           ${PROJECT_SOURCE_DIR}/rotator)
target_link_libraries(engine_unit_test coffer_engine PkgConfig::CMOCKA)
add_test(NAME unit.engine COMMAND engine_unit_test)
