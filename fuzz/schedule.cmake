# config/keys.c validates snapshots.schedule and snapshots.retention with config/schedule.c, so
# every target that compiles keys.c needs it too.
target_sources(fuzz_names PRIVATE ${CMAKE_SOURCE_DIR}/config/schedule.c)
# The schedule and retention languages, through the key table and the planner.
cairn_fuzzer(fuzz_schedule ${CMAKE_SOURCE_DIR}/config/schedule.c ${CMAKE_SOURCE_DIR}/config/keys.c
  ${CMAKE_SOURCE_DIR}/config/names.c ${CMAKE_SOURCE_DIR}/config/snaprules.c
  ${CMAKE_SOURCE_DIR}/snapshots/plan.c)
