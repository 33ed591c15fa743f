add_executable(rotator_unit_test ${CMAKE_CURRENT_LIST_DIR}/rotator_test.c)
target_link_libraries(rotator_unit_test coffer_rotator PkgConfig::CMOCKA)
add_test(NAME unit.rotator COMMAND rotator_unit_test)
