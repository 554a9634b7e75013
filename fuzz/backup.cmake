# backup/: the index of a backup tarball and the checker of its send streams, which see what an
# import brings before anything is written. The index's rows are the database's structs, whose
# destructors live with the database code.
file(GLOB fuzz_backup_db CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/config/db*.c)
cairn_fuzzer(fuzz_backup ${CMAKE_SOURCE_DIR}/backup/index.c ${CMAKE_SOURCE_DIR}/backup/stream.c
  ${fuzz_backup_db} ${CMAKE_SOURCE_DIR}/config/yaml.c ${CMAKE_SOURCE_DIR}/config/devices.c
  ${CMAKE_SOURCE_DIR}/config/profiles.c ${CMAKE_SOURCE_DIR}/config/names.c
  ${CMAKE_SOURCE_DIR}/config/snaprules.c ${CMAKE_SOURCE_DIR}/config/keys.c
  ${CMAKE_SOURCE_DIR}/config/schedule.c ${CMAKE_SOURCE_DIR}/api/api.c
  LIBS PkgConfig::YAML PkgConfig::SQLITE)
# clang takes the database's lock guards (cleanup attributes, never read) for unused variables.
target_compile_options(fuzz_backup PRIVATE -Wno-unused-variable)
