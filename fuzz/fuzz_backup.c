/*
 * libFuzzer target for what an imported backup hands the daemon before any file is written:
 * the index (backup_index_parse()) and the send streams of an optimized backup (the checker of
 * backup/stream.h). The first byte chooses. An index that parses renders back and parses again
 * to the same names, times and snapshots. The checker, fed the rest in pieces whose sizes come
 * from the input, passes on only a prefix of it (whole commands, in order) and refuses with
 * -EINVAL and a message; nothing else.
 */

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backup/index.h"
#include "backup/stream.h"
#include "common/cleanup.h"
#include "common/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_index(const uint8_t *data, size_t size)
{
	_cleanup_backup_index_ struct backup_index a = {0}, b = {0};
	_cleanup_err_ struct err *e = NULL;
	_cleanup_free_ char *text = NULL;
	struct db_instance row;
	int r = backup_index_parse((const char *)data, size, &a, &e);

	if (r < 0) {
		if (r != -EINVAL && r != -ENOMEM)
			abort();
		if (!e || !e->msg || strncmp(e->msg, "Invalid backup index", 20) != 0)
			abort();
		return;
	}
	row = a.instance;
	row.pool = a.pool;
	if (backup_index_render(&row, a.snapshots, a.n_snapshots, a.backend, a.optimized,
				a.stateful, &text, NULL) < 0)
		return; /* a value YAML cannot hold (not UTF-8) */
	if (backup_index_parse(text, strlen(text), &b, NULL) < 0)
		abort();
	if (strcmp(a.name, b.name) != 0 || a.n_snapshots != b.n_snapshots ||
	    a.instance.created_at != b.instance.created_at)
		abort();
	for (size_t i = 0; i < a.n_snapshots; i++)
		if (strcmp(a.snapshots[i].name, b.snapshots[i].name) != 0 ||
		    a.snapshots[i].created_at != b.snapshots[i].created_at ||
		    a.snapshots[i].expires_at != b.snapshots[i].expires_at)
			abort();
}

struct sink {
	const uint8_t *input;
	size_t input_len;
	size_t passed;
};

static int check_out(const void *buf, size_t len, void *ctx, struct err **err)
{
	struct sink *s = ctx;

	(void)err;
	if (s->passed + len > s->input_len || memcmp(s->input + s->passed, buf, len) != 0)
		abort();
	s->passed += len;
	return 0;
}

static void fuzz_stream(const uint8_t *data, size_t size)
{
	static const struct backup_stream_known known[] = {
	    {.uuid = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, .ctransid = 7}};
	_cleanup_err_ struct err *e = NULL;
	size_t cut = size ? data[0] % 17 + 1 : 1;
	struct sink sink;
	struct backup_stream s = {
	    .name = (size & 1) ? "s0" : NULL,
	    .known = known,
	    .n_known = size & 2 ? 1 : 0,
	    .id_base = 1000000,
	    .id_size = size & 4 ? 0 : 65536,
	    .out = check_out,
	    .out_ctx = &sink,
	};
	int r = 0;

	if (size)
		data++, size--;
	sink = (struct sink){.input = data, .input_len = size};
	for (size_t off = 0; r >= 0 && off < size; off += cut)
		r = backup_stream_feed(&s, data + off, size - off < cut ? size - off : cut, &e);
	if (r >= 0)
		r = backup_stream_finish(&s, &e);
	if (r < 0 && (r != -EINVAL && r != -ENOMEM))
		abort();
	if (r < 0 && (!e || !e->msg))
		abort();
	if (r >= 0 && sink.passed != size)
		abort();
	backup_stream_done(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if (data[0] & 1)
		fuzz_index(data + 1, size - 1);
	else
		fuzz_stream(data + 1, size - 1);
	return 0;
}
