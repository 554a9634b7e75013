# config/devices.c and config/profiles.c: devices from JSON and back, their validators and the
# expanded config. profiles.c validates profile keys with the key table, which needs the other
# config/ parsers.
cairn_fuzzer(fuzz_devices ${CMAKE_SOURCE_DIR}/config/devices.c ${CMAKE_SOURCE_DIR}/config/profiles.c
  ${CMAKE_SOURCE_DIR}/config/keys.c ${CMAKE_SOURCE_DIR}/config/names.c
  ${CMAKE_SOURCE_DIR}/config/snaprules.c ${CMAKE_SOURCE_DIR}/config/schedule.c)
