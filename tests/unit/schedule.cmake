add_executable(schedule_unit_test ${CMAKE_CURRENT_LIST_DIR}/schedule_test.c)
target_include_directories(schedule_unit_test PRIVATE ${PROJECT_SOURCE_DIR}/engine
                           ${PROJECT_SOURCE_DIR}/rotator)
target_link_libraries(schedule_unit_test coffer_engine PkgConfig::CMOCKA)
add_test(NAME unit.schedule COMMAND schedule_unit_test)
