# Faults: kill -9, a failing database or token, abuse.  Bounded to a few
# minutes in ci/test; tests/faults/run --long for the longer figures of
# docs/reliability.md.
add_test(NAME faults.crash
         COMMAND /usr/bin/python3 -m unittest -v tests.faults.test_crash
         WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(faults.crash PROPERTIES
  ENVIRONMENT "COFFER_BUILD_DIR=${CMAKE_BINARY_DIR}"
  TIMEOUT 900)

# kill -9 and a stopped database in the middle of key changes
# (UpdateSecret with a new KmsKeyId) racing Puts to the same secrets.
add_test(NAME faults.key_change
         COMMAND /usr/bin/python3 -m unittest -v tests.faults.test_key_change
         WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(faults.key_change PROPERTIES
  ENVIRONMENT "COFFER_BUILD_DIR=${CMAKE_BINARY_DIR}"
  TIMEOUT 900)

# Network abuse: descriptor exhaustion, idle floods, half-sent requests.
add_test(NAME faults.abuse
         COMMAND /usr/bin/python3 -m unittest -v tests.faults.test_abuse
         WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(faults.abuse PROPERTIES
  ENVIRONMENT "COFFER_BUILD_DIR=${CMAKE_BINARY_DIR}"
  TIMEOUT 900)

# Fault injection: real cofferd, PostgreSQL and SoftHSM, with the token
# failing underneath a running server (files moved away, a directory made
# immutable).  Needs root for chattr; ci/test runs as root.
add_test(NAME faults.token
         COMMAND /usr/bin/python3 -m unittest -v tests.faults.test_token_faults
         WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(faults.token PROPERTIES
  ENVIRONMENT "COFFER_BUILD_DIR=${CMAKE_BINARY_DIR}"
  TIMEOUT 600)
# PostgreSQL restarts, a stopped, frozen or full database, under load.
add_test(NAME faults.database
         COMMAND /usr/bin/python3 -m unittest -v tests.faults.test_database
         WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(faults.database PROPERTIES
  ENVIRONMENT "COFFER_BUILD_DIR=${CMAKE_BINARY_DIR}"
  TIMEOUT 900)

# PostgreSQL failover: the primary killed with SIGKILL under load, its
# synchronous standby promoted; cofferd carries on over a multi-host
# conninfo (target_session_attrs=read-write) without a restart.
add_test(NAME faults.failover
         COMMAND /usr/bin/python3 -m unittest -v tests.faults.test_failover
         WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(faults.failover PROPERTIES
  ENVIRONMENT "COFFER_BUILD_DIR=${CMAKE_BINARY_DIR}"
  TIMEOUT 600)

# Head-of-line stalls: long calls held by a table lock while short calls
# must be served; the long-call queue's bound and deadline.
add_test(NAME faults.stall
         COMMAND /usr/bin/python3 -m unittest -v tests.faults.test_stall
         WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(faults.stall PROPERTIES
  ENVIRONMENT "COFFER_BUILD_DIR=${CMAKE_BINARY_DIR}"
  TIMEOUT 600)
