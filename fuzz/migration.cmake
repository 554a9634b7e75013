# migration/: the plan a source makes from the snapshots another daemon says it has
# (migration/plan.c) and the UUIDs it reads (migration_uuid_parse() in migration.c). The rest of
# migration.c, which needs a daemon's instances, is never called here, so what it calls stays
# unresolved at link time; its calls to them go through the PLT, which a position-independent
# executable refuses to load with unresolved entries, hence -no-pie.
cairn_fuzzer(fuzz_migration ${CMAKE_SOURCE_DIR}/migration/plan.c
  ${CMAKE_SOURCE_DIR}/migration/migration.c)
target_link_options(fuzz_migration PRIVATE -no-pie -Wl,--unresolved-symbols=ignore-in-object-files)
