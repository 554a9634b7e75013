#pragma once

/* UTF-8 checks for text that crosses a trust boundary (names, config values, JSON strings). */

#include <stdbool.h>
#include <stddef.h>

/*
 * True when the `len` bytes at `s` are well-formed UTF-8 (RFC 3629): no overlong forms, no
 * surrogates, nothing above U+10FFFF, no truncated sequence. A NUL byte counts as invalid, so
 * a string that passes also has strlen() == len: it round-trips through C, JSON and YAML.
 */
bool utf8_valid(const char *s, size_t len);
