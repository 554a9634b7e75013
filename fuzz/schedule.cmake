# config/keys.c validates snapshots.schedule and snapshots.retention with config/schedule.c, so
# every target that compiles keys.c needs it too.
target_sources(fuzz_names PRIVATE ${CMAKE_SOURCE_DIR}/config/schedule.c)
