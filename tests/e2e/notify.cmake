# systemd's readiness protocol: cofferd started with NOTIFY_SOCKET on a
# socket the test binds; READY=1 once both listeners accept, STOPPING=1 on
# SIGTERM and SIGINT (server/notify.c, etc/systemd/cofferd.service).
add_test(NAME e2e.notify
         COMMAND /usr/bin/python3 -m unittest -v tests.e2e.test_notify
         WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(e2e.notify PROPERTIES
  ENVIRONMENT "COFFER_BUILD_DIR=${CMAKE_BINARY_DIR}"
  TIMEOUT 600)
