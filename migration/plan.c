/* What a transfer sends (migration/plan.h). */
#include "migration/plan.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "common/util.h"

void migration_plan_done(struct migration_plan *p)
{
	strv_free(p->send);
	strv_free(p->send_uuids);
	free(p->parent);
	free(p->parent_uuid);
	free(p->target_parent);
	strv_free(p->prune);
	*p = (struct migration_plan){0};
}

static const struct migration_snap *by_uuid(const struct migration_snap *v, size_t n,
					    const char *uuid)
{
	if (!uuid || !*uuid)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (v[i].uuid && strcmp(v[i].uuid, uuid) == 0)
			return &v[i];
	return NULL;
}

static const struct migration_snap *by_name(const struct migration_snap *v, size_t n,
					    const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].name, name) == 0)
			return &v[i];
	return NULL;
}

int migration_plan_make(const struct migration_snap *src, size_t n_src,
			const struct migration_snap *have, size_t n_have, bool exists,
			bool instance_only, bool exclude_older, struct migration_plan *ret,
			struct err **err)
{
	_cleanup_migration_plan_ struct migration_plan p = {0};
	int64_t newest = INT64_MIN;
	int r = 0;

	if (!exists)
		n_have = 0;
	for (size_t i = 0; i < n_have; i++)
		if (have[i].created_at > newest)
			newest = have[i].created_at;
	for (size_t i = 0; i < n_src && !instance_only; i++) {
		const struct migration_snap *h = by_uuid(have, n_have, src[i].uuid);

		if (h) {
			free(p.parent);
			free(p.parent_uuid);
			free(p.target_parent);
			p.parent = strdup(src[i].name);
			p.parent_uuid = strdup(src[i].uuid);
			p.target_parent = strdup(h->name);
			if (!p.parent || !p.parent_uuid || !p.target_parent)
				return err_set(err, -ENOMEM, "Out of memory");
			continue;
		}
		if (by_name(have, n_have, src[i].name))
			return err_set(
			    err, -EEXIST,
			    "The target has another snapshot called \"%s\" (not a copy of "
			    "the source's): rename or delete it first",
			    src[i].name);
		if (exclude_older && n_have > 0 && src[i].created_at < newest)
			continue;
		if (strv_push(&p.send, src[i].name) < 0 ||
		    strv_push(&p.send_uuids, src[i].uuid ? src[i].uuid : "") < 0)
			return err_set(err, -ENOMEM, "Out of memory");
	}
	for (size_t i = 0; i < n_have; i++) {
		if (by_uuid(src, n_src, have[i].uuid) || by_name(src, n_src, have[i].name))
			continue;
		if (strv_push(&p.prune, have[i].name) < 0)
			return err_set(err, -ENOMEM, "Out of memory");
	}
	/* Empty lists rather than NULL: NULL means "every one" to the exporter. */
	if (!p.send && ((r = strv_push(&p.send, "")) < 0 || (r = strv_push(&p.send_uuids, "")) < 0))
		return err_set(err, -ENOMEM, "Out of memory");
	if (p.send[0] && !p.send[0][0]) {
		p.send[0] = (free(p.send[0]), NULL);
		p.send_uuids[0] = (free(p.send_uuids[0]), NULL);
	}
	*ret = p;
	p = (struct migration_plan){0};
	return 0;
}
