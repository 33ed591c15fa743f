add_executable(rotator_unit_test ${CMAKE_CURRENT_LIST_DIR}/rotator_test.c)
target_include_directories(rotator_unit_test PRIVATE ${PROJECT_SOURCE_DIR}/engine)
target_link_libraries(rotator_unit_test coffer_engine PkgConfig::CMOCKA)
add_test(NAME unit.rotator COMMAND rotator_unit_test)
