/* The send stream checker: what it lets through, byte for byte, and every refusal. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "backup/stream.h"
#include "common/cleanup.h"
#include "common/err.h"

/* A stream under construction. */
struct buf {
	uint8_t d[8192];
	size_t n;
	size_t cmd; /* where the open command starts */
};

static void put(struct buf *b, const void *p, size_t n)
{
	assert_true(b->n + n <= sizeof(b->d));
	memcpy(b->d + b->n, p, n);
	b->n += n;
}

static void put_le(struct buf *b, uint64_t v, int bytes)
{
	for (int i = 0; i < bytes; i++) {
		uint8_t c = (uint8_t)(v >> (8 * i));

		put(b, &c, 1);
	}
}

static void header(struct buf *b, uint32_t version)
{
	put(b, "btrfs-stream", 13);
	put_le(b, version, 4);
}

static void cmd(struct buf *b, uint16_t c)
{
	b->cmd = b->n;
	put_le(b, 0, 4); /* length, set by end() */
	put_le(b, c, 2);
	put_le(b, 0, 4); /* crc: btrfs receive checks it, not the checker */
}

static void end_cmd(struct buf *b)
{
	uint32_t len = (uint32_t)(b->n - b->cmd - 10);

	for (int i = 0; i < 4; i++)
		b->d[b->cmd + i] = (uint8_t)(len >> (8 * i));
}

static void attr(struct buf *b, uint16_t type, const void *p, uint16_t n)
{
	put_le(b, type, 2);
	put_le(b, n, 2);
	put(b, p, n);
}

static void attr_u64(struct buf *b, uint16_t type, uint64_t v)
{
	put_le(b, type, 2);
	put_le(b, 8, 2);
	put_le(b, v, 8);
}

static const uint8_t UUID_A[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
static const uint8_t UUID_B[16] = {16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1};

static void subvol(struct buf *b, const char *name, const uint8_t *uuid, uint64_t ctransid)
{
	cmd(b, 1);
	attr(b, 15, name, (uint16_t)strlen(name));
	attr(b, 1, uuid, 16);
	attr_u64(b, 2, ctransid);
	end_cmd(b);
}

static void snapshot(struct buf *b, const char *name, const uint8_t *uuid, uint64_t ctransid,
		     const uint8_t *parent, uint64_t parent_ctransid)
{
	cmd(b, 2);
	attr(b, 15, name, (uint16_t)strlen(name));
	attr(b, 1, uuid, 16);
	attr_u64(b, 2, ctransid);
	attr(b, 20, parent, 16);
	attr_u64(b, 21, parent_ctransid);
	end_cmd(b);
}

static void chown_cmd(struct buf *b, const char *path, uint64_t uid, uint64_t gid)
{
	cmd(b, 19);
	attr(b, 15, path, (uint16_t)strlen(path));
	attr_u64(b, 6, uid);
	attr_u64(b, 7, gid);
	end_cmd(b);
}

static void end(struct buf *b)
{
	cmd(b, 21);
	end_cmd(b);
}

struct sink {
	uint8_t d[8192];
	size_t n;
};

static int collect(const void *p, size_t n, void *ctx, struct err **err)
{
	struct sink *s = ctx;

	(void)err;
	assert_true(s->n + n <= sizeof(s->d));
	memcpy(s->d + s->n, p, n);
	s->n += n;
	return 0;
}

/* Feeds `b` a byte at a time (the worst cut) and returns the result; *sink gets what passed. */
static int run(const struct buf *b, const char *name, const struct backup_stream_known *known,
	       size_t n_known, struct sink *sink, char **ret_msg)
{
	_cleanup_err_ struct err *e = NULL;
	struct backup_stream s = {
	    .name = name,
	    .known = known,
	    .n_known = n_known,
	    .id_base = 1000000,
	    .id_size = 65536,
	    .out = collect,
	    .out_ctx = sink,
	};
	int r = 0;

	for (size_t i = 0; r >= 0 && i < b->n; i++)
		r = backup_stream_feed(&s, b->d + i, 1, &e);
	if (r >= 0)
		r = backup_stream_finish(&s, &e);
	if (ret_msg)
		*ret_msg = r < 0 && e ? strdup(e->msg) : NULL;
	backup_stream_done(&s);
	return r;
}

static void assert_refused(const struct buf *b, const char *name,
			   const struct backup_stream_known *known, size_t n_known,
			   const char *needle)
{
	struct sink sink = {0};
	_cleanup_free_ char *msg = NULL;

	assert_int_equal(run(b, name, known, n_known, &sink, &msg), -EINVAL);
	assert_non_null(msg);
	if (!strstr(msg, needle))
		fail_msg("message \"%s\" lacks \"%s\"", msg, needle);
	/* What passed is whole commands of the input, before the refused one. */
	assert_true(sink.n <= b->n);
	assert_memory_equal(sink.d, b->d, sink.n);
}

static void test_whole_stream_passes(void **state)
{
	struct buf b = {0};
	struct sink sink = {0};

	(void)state;
	header(&b, 1);
	subvol(&b, "s0", UUID_A, 7);
	chown_cmd(&b, "rootfs/etc", 1000000, 1000001);
	chown_cmd(&b, "backup.yaml", 0, 0);
	chown_cmd(&b, "rootfs/put-there-by-root", 0, 0);
	end(&b);
	assert_int_equal(run(&b, "s0", NULL, 0, &sink, NULL), 0);
	assert_int_equal(sink.n, b.n);
	assert_memory_equal(sink.d, b.d, b.n);
}

static void test_difference_from_the_one_before(void **state)
{
	struct backup_stream_known known[] = {{.ctransid = 7}};
	struct buf b = {0};
	struct sink sink = {0};

	(void)state;
	memcpy(known[0].uuid, UUID_A, 16);
	header(&b, 1);
	snapshot(&b, "s1", UUID_B, 9, UUID_A, 7);
	end(&b);
	assert_int_equal(run(&b, "s1", known, 1, &sink, NULL), 0);

	memset(&b, 0, sizeof(b));
	header(&b, 1);
	snapshot(&b, "s1", UUID_B, 9, UUID_A, 8);
	end(&b);
	assert_refused(&b, "s1", known, 1, "not the one before it");
	memset(&b, 0, sizeof(b));
	header(&b, 1);
	snapshot(&b, "s1", UUID_B, 9, UUID_A, 7);
	end(&b);
	assert_refused(&b, "s1", NULL, 0, "oldest tree is a difference");
}

static void test_refusals(void **state)
{
	struct buf b = {0};
	char big[300];

	(void)state;
	header(&b, 2);
	assert_refused(&b, "s0", NULL, 0, "version 1");

	memset(&b, 0, sizeof(b));
	put(&b, "not-a-stream!", 13);
	put_le(&b, 1, 4);
	assert_refused(&b, "s0", NULL, 0, "does not start as one");

	memset(&b, 0, sizeof(b));
	header(&b, 1);
	subvol(&b, "other", UUID_A, 1);
	end(&b);
	assert_refused(&b, "s0", NULL, 0, "is for another subvolume, \"other\"");

	memset(&b, 0, sizeof(b));
	header(&b, 1);
	subvol(&b, "a/b", UUID_A, 1);
	assert_refused(&b, NULL, NULL, 0, "without a plain name");

	memset(&b, 0, sizeof(b));
	header(&b, 1);
	chown_cmd(&b, "x", 1000000, 1000000);
	assert_refused(&b, "s0", NULL, 0, "does not start by making its subvolume");

	memset(&b, 0, sizeof(b));
	header(&b, 1);
	subvol(&b, "s0", UUID_A, 1);
	chown_cmd(&b, "../../etc/passwd", 1000000, 1000000);
	assert_refused(&b, "s0", NULL, 0, "outside its subvolume");

	memset(&b, 0, sizeof(b));
	header(&b, 1);
	subvol(&b, "s0", UUID_A, 1);
	chown_cmd(&b, "/etc/passwd", 1000000, 1000000);
	assert_refused(&b, "s0", NULL, 0, "outside its subvolume");

	memset(&b, 0, sizeof(b));
	header(&b, 1);
	subvol(&b, "s0", UUID_A, 1);
	chown_cmd(&b, "rootfs/bin/sh", 1000, 0);
	assert_refused(&b, "s0", NULL, 0, "owner outside the container's range");

	memset(&b, 0, sizeof(b));
	header(&b, 1);
	subvol(&b, "s0", UUID_A, 1);
	cmd(&b, 5); /* mknod */
	attr(&b, 15, "rootfs/mem", 10);
	attr_u64(&b, 5, S_IFCHR | 0666);
	end_cmd(&b);
	assert_refused(&b, "s0", NULL, 0, "device node");

	memset(&b, 0, sizeof(b));
	header(&b, 1);
	subvol(&b, "s0", UUID_A, 1);
	cmd(&b, 16); /* clone from a subvolume this import did not make */
	attr(&b, 15, "rootfs/f", 8);
	attr(&b, 20, UUID_B, 16);
	attr_u64(&b, 21, 3);
	attr(&b, 22, "rootfs/g", 8);
	end_cmd(&b);
	assert_refused(&b, "s0", NULL, 0, "clones from a subvolume outside");

	memset(&b, 0, sizeof(b));
	header(&b, 1);
	subvol(&b, "s0", UUID_A, 1);
	subvol(&b, "s1", UUID_B, 1);
	assert_refused(&b, "s0", NULL, 0, "second subvolume");

	memset(&b, 0, sizeof(b));
	header(&b, 1);
	subvol(&b, "s0", UUID_A, 1);
	end(&b);
	chown_cmd(&b, "rootfs", 1000000, 1000000);
	assert_refused(&b, "s0", NULL, 0, "after its end");

	memset(&b, 0, sizeof(b));
	header(&b, 1);
	subvol(&b, "s0", UUID_A, 1);
	assert_refused(&b, "s0", NULL, 0, "cut short");

	memset(&b, 0, sizeof(b));
	header(&b, 1);
	subvol(&b, "s0", UUID_A, 1);
	cmd(&b, 99);
	end_cmd(&b);
	assert_refused(&b, "s0", NULL, 0, "unknown command");

	/* An attribute that claims more than its command holds. */
	memset(&b, 0, sizeof(b));
	header(&b, 1);
	cmd(&b, 1);
	put_le(&b, 15, 2);
	put_le(&b, 200, 2);
	memset(big, 'a', 10);
	put(&b, big, 10);
	end_cmd(&b);
	assert_refused(&b, "s0", NULL, 0, "longer than its command");
}

/* The instance's stream has a name of its own, which may not be a snapshot's. */
static void test_container_name(void **state)
{
	char *taken[] = {"s0", NULL};
	struct buf b = {0};
	struct sink sink = {0};
	_cleanup_free_ char *msg = NULL;
	_cleanup_err_ struct err *e = NULL;
	struct backup_stream s = {
	    .taken = taken, .id_base = 1000000, .id_size = 65536, .out = collect, .out_ctx = &sink};
	int r = 0;

	(void)state;
	header(&b, 1);
	subvol(&b, "s0", UUID_A, 1);
	end(&b);
	for (size_t i = 0; r >= 0 && i < b.n; i++)
		r = backup_stream_feed(&s, b.d + i, 1, &e);
	assert_int_equal(r, -EINVAL);
	assert_non_null(strstr(e->msg, "a snapshot's name"));
	backup_stream_done(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_whole_stream_passes),
	    cmocka_unit_test(test_difference_from_the_one_before),
	    cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_container_name),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
