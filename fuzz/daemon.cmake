# The route table and body readers of cairnd, and the client's envelope reader. The handlers
# the route table points at are never called here, so they stay unresolved at link time.
cairn_fuzzer(fuzz_api ${CMAKE_SOURCE_DIR}/cmd/cairnd/routes.c ${CMAKE_SOURCE_DIR}/cmd/cairnd/body.c
  ${CMAKE_SOURCE_DIR}/api/api.c)
target_link_options(fuzz_api PRIVATE -Wl,--unresolved-symbols=ignore-in-object-files)
