# unit.config: cofferd's configuration (defaults, file, environment).
add_executable(config_unit_test ${CMAKE_CURRENT_LIST_DIR}/config_test.c)
target_link_libraries(config_unit_test coffer_config PkgConfig::CMOCKA)
add_test(NAME unit.config COMMAND config_unit_test)
target_compile_definitions(config_unit_test PRIVATE
                           COFFER_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
