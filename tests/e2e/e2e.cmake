# End-to-end: real cofferd, PostgreSQL and SoftHSM, Python grpcio and coffer.
add_test(NAME e2e.python
         COMMAND /usr/bin/python3 -m unittest -v tests.e2e.test_e2e
         WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(e2e.python PROPERTIES
  ENVIRONMENT "COFFER_BUILD_DIR=${CMAKE_BINARY_DIR}"
  TIMEOUT 1800)

# The audit trail: events, append-only, tampering, fail-closed, the CLI.
add_test(NAME e2e.audit
         COMMAND /usr/bin/python3 -m unittest -v tests.e2e.test_audit
         WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(e2e.audit PROPERTIES
  ENVIRONMENT "COFFER_BUILD_DIR=${CMAKE_BINARY_DIR}"
  TIMEOUT 1800)

# Who may do what: mutual TLS, identity and resource policies.
add_test(NAME e2e.authz
         COMMAND /usr/bin/python3 -m unittest -v tests.e2e.test_authz
         WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(e2e.authz PROPERTIES
  ENVIRONMENT "COFFER_BUILD_DIR=${CMAKE_BINARY_DIR}"
  TIMEOUT 1800)

# Rotation: RotateSecret semantics, the scheduler, builtin:password, exec:
# rotators through the API, the CLI (shared classes: rotation_base.py).
add_test(NAME e2e.rotation
         COMMAND /usr/bin/python3 -m unittest -v tests.e2e.test_rotation
         WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(e2e.rotation PROPERTIES
  ENVIRONMENT "COFFER_BUILD_DIR=${CMAKE_BINARY_DIR}"
  TIMEOUT 1800)

# The PostgreSQL rotators against a second cluster: pins, no ambient
# credentials, the configuring principal's rights.
add_test(NAME e2e.rotation_pg
         COMMAND /usr/bin/python3 -m unittest -v tests.e2e.test_rotation_pg
         WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(e2e.rotation_pg PROPERTIES
  ENVIRONMENT "COFFER_BUILD_DIR=${CMAKE_BINARY_DIR}"
  TIMEOUT 1800)

# Rotation across servers: kill -9 mid-step, an expired lease resumed, two
# servers rotating due secrets once.
add_test(NAME e2e.rotation_servers
         COMMAND /usr/bin/python3 -m unittest -v tests.e2e.test_rotation_servers
         WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(e2e.rotation_servers PROPERTIES
  ENVIRONMENT "COFFER_BUILD_DIR=${CMAKE_BINARY_DIR}"
  TIMEOUT 1800)

# exec: rotators: time limit, rotator_user, checked file, descriptors.
add_test(NAME e2e.rotator_exec
         COMMAND /usr/bin/python3 -m unittest -v tests.e2e.test_rotator_exec
         WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(e2e.rotator_exec PROPERTIES
  ENVIRONMENT "COFFER_BUILD_DIR=${CMAKE_BINARY_DIR}"
  TIMEOUT 1800)

# ListSecrets' paging tells a caller nothing about secrets it may not see.
add_test(NAME e2e.listing
         COMMAND /usr/bin/python3 -m unittest -v tests.e2e.test_listing
         WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(e2e.listing PROPERTIES
  ENVIRONMENT "COFFER_BUILD_DIR=${CMAKE_BINARY_DIR}"
  TIMEOUT 1800)

# Bounded work: statement timeouts, ListIdentityPolicies paging,
# VerifyAuditLog in parts, no KmsKeyId oracle.
add_test(NAME e2e.bounds
         COMMAND /usr/bin/python3 -m unittest -v tests.e2e.test_bounds
         WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(e2e.bounds PROPERTIES
  ENVIRONMENT "COFFER_BUILD_DIR=${CMAKE_BINARY_DIR}"
  TIMEOUT 1800)

# The request pipeline: a read's LastAccessedDate in its event's commit.
add_test(NAME e2e.pipeline
         COMMAND /usr/bin/python3 -m unittest -v tests.e2e.test_pipeline
         WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(e2e.pipeline PROPERTIES
  ENVIRONMENT "COFFER_BUILD_DIR=${CMAKE_BINARY_DIR}"
  TIMEOUT 1800)

# Reads read ahead: GetSecretValue calls a worker holds read in one round
# trip, each answered, authorized and audited on its own.
add_test(NAME e2e.read_ahead
         COMMAND /usr/bin/python3 -m unittest -v tests.e2e.test_read_ahead
         WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(e2e.read_ahead PROPERTIES
  ENVIRONMENT "COFFER_BUILD_DIR=${CMAKE_BINARY_DIR}"
  TIMEOUT 1800)

# AWS's JSON protocol over HTTPS: boto3, the aws CLI and the AWS SDK for
# JavaScript against aws_listen; SigV4 attacks; the same rights as gRPC.
add_test(NAME e2e.awsapi
         COMMAND /usr/bin/python3 -m unittest -v tests.e2e.test_awsapi
         WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(e2e.awsapi PROPERTIES
  ENVIRONMENT "COFFER_BUILD_DIR=${CMAKE_BINARY_DIR}"
  TIMEOUT 1800)

# KEK versions (issue 16): rotate, rewrap inside the token with reads
# throughout (10,000 versions), destroy an old version, kill -9 mid-rewrap,
# two servers sharing the rewrap.
add_test(NAME e2e.keks
         COMMAND /usr/bin/python3 -m unittest -v tests.e2e.test_keks
         WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(e2e.keks PROPERTIES
  ENVIRONMENT "COFFER_BUILD_DIR=${CMAKE_BINARY_DIR}"
  TIMEOUT 1800)

# Backup and restore (issue 16): a cold backup (roles, pg_dump, the token
# directory) restored into a new cluster and token reads every version and
# verifies its audit; a token older than the database; an online backup.
add_test(NAME e2e.backup
         COMMAND /usr/bin/python3 -m unittest -v tests.e2e.test_backup
         WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(e2e.backup PROPERTIES
  ENVIRONMENT "COFFER_BUILD_DIR=${CMAKE_BINARY_DIR}"
  TIMEOUT 1800)

# Certificates rotated without a restart: tls_cert, tls_key and
# tls_client_ca read again when they change and on SIGHUP, under load.
add_test(NAME e2e.tls_reload
         COMMAND /usr/bin/python3 -m unittest -v tests.e2e.test_tls_reload
         WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(e2e.tls_reload PROPERTIES
  ENVIRONMENT "COFFER_BUILD_DIR=${CMAKE_BINARY_DIR}"
  TIMEOUT 600)

# /metrics: scraped and parsed by Prometheus's own parser, counted calls
# over both listeners, no secret name or principal in it.
add_test(NAME e2e.metrics
         COMMAND /usr/bin/python3 -m unittest -v tests.e2e.test_metrics
         WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(e2e.metrics PROPERTIES
  ENVIRONMENT "COFFER_BUILD_DIR=${CMAKE_BINARY_DIR}"
  TIMEOUT 600)

# The log: JSON lines parsed, a call's request id, operation, principal
# and outcome, no value or PIN, log_level, the rate limit while the
# database is down.
add_test(NAME e2e.logs
         COMMAND /usr/bin/python3 -m unittest -v tests.e2e.test_logs
         WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(e2e.logs PROPERTIES
  ENVIRONMENT "COFFER_BUILD_DIR=${CMAKE_BINARY_DIR}"
  TIMEOUT 600)
