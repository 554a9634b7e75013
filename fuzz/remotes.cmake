# Remotes: what a remote hands over before it is trusted (trust tokens, network addresses,
# certificates; api/trust.c, api/tls.c, the core.https_address key of config/server_keys.c) and
# the client's config.yml of remotes (cmd/cairn/remotes.c). The server key table validates with
# the other config/ parsers; remotes.c reads YAML with config/yaml.c.
set(fuzz_remotes_srcs ${CMAKE_SOURCE_DIR}/cmd/cairn/remotes.c ${CMAKE_SOURCE_DIR}/api/trust.c
  ${CMAKE_SOURCE_DIR}/api/tls.c ${CMAKE_SOURCE_DIR}/api/api.c ${CMAKE_SOURCE_DIR}/config/yaml.c)
cairn_fuzzer(fuzz_trust ${fuzz_remotes_srcs} ${CMAKE_SOURCE_DIR}/config/server_keys.c
  ${CMAKE_SOURCE_DIR}/config/keys.c ${CMAKE_SOURCE_DIR}/config/names.c
  ${CMAKE_SOURCE_DIR}/config/snaprules.c ${CMAKE_SOURCE_DIR}/config/schedule.c
  LIBS PkgConfig::YAML ${GNUTLS_LIBRARIES} ${CMAKE_DL_LIBS})
# The target compares cairn's fingerprint with the one GnuTLS computes, so it links GnuTLS
# (tls.c still loads it with dlopen(), which finds the same library).
target_include_directories(fuzz_trust PRIVATE ${GNUTLS_INCLUDE_DIRS})
cairn_fuzzer(fuzz_remotes ${fuzz_remotes_srcs} LIBS PkgConfig::YAML ${CMAKE_DL_LIBS})
