/*
 * The daemon's first contact with a request and the client's with an answer: the route table
 * against arbitrary methods and paths, the typed readers of request bodies against arbitrary
 * JSON, and the envelope reader against arbitrary JSON. Input: "METHOD PATH\nJSON".
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "cmd/cairnd/body.h"
#include "cmd/cairnd/routes.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/kvlist.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_route(const char *line)
{
	char method[16] = "", params[ROUTE_MAX_PARAMS][256];
	const struct route *route = NULL;
	const char *space = strchr(line, ' ');
	size_t n = 0;

	if (!space || (size_t)(space - line) >= sizeof(method))
		return;
	memcpy(method, line, (size_t)(space - line));
	if (routes_match(routes_table(), method, space + 1, &route, params, &n) != ROUTE_FOUND)
		return;
	if (!route || n > ROUTE_MAX_PARAMS)
		abort();
	for (size_t i = 0; i < n; i++)
		if (!params[i][0] || strchr(params[i], '/'))
			abort();
}

static void fuzz_body(const char *text)
{
	_cleanup_json_ json_object *o = json_tokener_parse(text);
	_cleanup_json_ json_object *md = NULL;
	_cleanup_err_ struct err *e1 = NULL, *e2 = NULL, *e3 = NULL, *e4 = NULL, *e5 = NULL;
	_cleanup_kvlist_ struct kvlist config = {0};
	json_object *source = NULL;
	const char *s = NULL;
	int64_t i = 0;
	bool b = false;

	if (!o)
		return;
	body_string(o, "name", true, &s, &e1);
	body_object(o, "source", false, &source, &e2);
	body_int(o, "timeout", &i, &e3);
	body_bool(o, "force", &b, &e4);
	if (body_config(o, "config", &config, &e5) > 0)
		for (size_t k = 0; k < config.n; k++)
			if (!config.items[k].key || !config.items[k].value)
				abort();
	if (api_parse_envelope(o, &md, NULL) == 0 && !md &&
	    json_object_get_type(o) != json_type_object)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), *nl;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	nl = strchr(text, '\n');
	if (nl) {
		*nl = '\0';
		fuzz_route(text);
		fuzz_body(nl + 1);
	} else {
		fuzz_route(text);
		fuzz_body(text);
	}
	free(text);
	return 0;
}
