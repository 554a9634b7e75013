# cmd/cairn/webui_http.c: the request parser and checks of `cairn webui`'s HTTP server on
# 127.0.0.1, which any local process may reach, and its reader of /proc/net/tcp. The page's
# files (generated at build time) are not needed: the target defines an empty list.
cairn_fuzzer(fuzz_webui ${CMAKE_SOURCE_DIR}/cmd/cairn/webui_http.c)
