/*
 * Parses arbitrary bytes as YAML; whatever parses must emit, and the emitted text must parse
 * back to the same tree. Any difference is a quoting bug in the emitter (or a parser that
 * reads its own output differently), so it aborts. It also checks that config_yaml_key_line()
 * finds every top-level key.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "config/yaml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_err_ struct err *e = NULL;
	_cleanup_json_ json_object *first = NULL;
	_cleanup_json_ json_object *second = NULL;
	_cleanup_free_ char *text = NULL;
	int r;

	r = config_yaml_parse((const char *)data, size, &first, &e);
	if (r < 0) {
		/* Every refusal carries a message with a line number. */
		if (!e || strncmp(e->msg, "Invalid YAML at line ", 21) != 0) {
			if (r == -ENOMEM)
				return 0;
			fprintf(stderr, "parse error without a line: %s\n", err_msg(e, r));
			abort();
		}
		return 0;
	}
	/* Every key of a parsed top-level mapping has a line. */
	if (json_object_is_type(first, json_type_object)) {
		json_object_object_foreach(first, key, val)
		{
			const char *path[] = {key};

			(void)val;
			if (config_yaml_key_line((const char *)data, size, path, 1, &e) <= 0) {
				fprintf(stderr, "no line for key \"%s\"\n", key);
				abort();
			}
		}
	}
	r = config_yaml_emit(first, &text, &e);
	if (r < 0) {
		fprintf(stderr, "cannot emit a parsed tree %s: %s\n",
			json_object_to_json_string(first), err_msg(e, r));
		abort();
	}
	r = config_yaml_parse(text, strlen(text), &second, &e);
	if (r < 0) {
		fprintf(stderr, "cannot parse our own output:\n%s\nerror: %s\n", text,
			err_msg(e, r));
		abort();
	}
	if (!json_object_equal(first, second)) {
		fprintf(stderr, "round trip changed the tree\nfirst:  %s\n",
			json_object_to_json_string(first));
		fprintf(stderr, "second: %s\nyaml:\n%s\n", json_object_to_json_string(second),
			text);
		abort();
	}
	return 0;
}
