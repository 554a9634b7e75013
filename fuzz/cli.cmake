# cmd/cairn/: the client's pure parsers (the REPL's word splitter, the settings of config set and
# storage set, the filters and columns of cairn list with the matcher) and the suggestions.
# filter.c reads the config key table, which validates with the other config/ parsers.
cairn_fuzzer(fuzz_cli ${CMAKE_SOURCE_DIR}/cmd/cairn/filter.c ${CMAKE_SOURCE_DIR}/cmd/cairn/args.c
  ${CMAKE_SOURCE_DIR}/api/api.c ${CMAKE_SOURCE_DIR}/config/keys.c
  ${CMAKE_SOURCE_DIR}/config/names.c ${CMAKE_SOURCE_DIR}/config/snaprules.c
  ${CMAKE_SOURCE_DIR}/config/schedule.c)
