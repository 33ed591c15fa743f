# Fault injection: real cofferd, PostgreSQL and SoftHSM, with the token
# failing underneath a running server (files moved away, a directory made
# immutable).  Needs root for chattr; ci/test runs as root.
add_test(NAME faults.token
         COMMAND /usr/bin/python3 -m unittest -v tests.faults.test_token_faults
         WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(faults.token PROPERTIES
  ENVIRONMENT "COFFER_BUILD_DIR=${CMAKE_BINARY_DIR}"
  TIMEOUT 600)
