#include "cmd/cairn/cli.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "cmd/cairn/filter.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/util.h"
#include "config/yaml.h"

int cli_format_parse(const char *s, enum cli_format *ret, struct err **err)
{
	static const char *const names[CLI_FORMAT_MAX] = {
	    [CLI_FORMAT_TABLE] = "table",
	    [CLI_FORMAT_CSV] = "csv",
	    [CLI_FORMAT_JSON] = "json",
	    [CLI_FORMAT_YAML] = "yaml",
	};

	if (!s) {
		*ret = CLI_FORMAT_TABLE;
		return 0;
	}
	for (int i = 0; i < CLI_FORMAT_MAX; i++)
		if (strcmp(s, names[i]) == 0) {
			*ret = (enum cli_format)i;
			return 0;
		}
	return err_set(err, -EINVAL, "Invalid format \"%s\"", s);
}

int cli_table_add(struct cli_table *t, const char *const *cells)
{
	char ***rows;
	char **row;

	row = calloc(t->ncols, sizeof(char *));
	if (!row)
		return -ENOMEM;
	for (size_t i = 0; i < t->ncols; i++) {
		row[i] = strdup(cells[i] ? cells[i] : "");
		if (!row[i]) {
			for (size_t j = 0; j < i; j++)
				free(row[j]);
			free(row);
			return -ENOMEM;
		}
	}
	rows = realloc(t->rows, (t->nrows + 1) * sizeof(char **));
	if (!rows) {
		for (size_t i = 0; i < t->ncols; i++)
			free(row[i]);
		free(row);
		return -ENOMEM;
	}
	t->rows = rows;
	t->rows[t->nrows++] = row;
	return 0;
}

static size_t sort_ncols;

static int row_cmp(const void *a, const void *b)
{
	char *const *ra = *(char **const *)a;
	char *const *rb = *(char **const *)b;

	for (size_t i = 0; i < sort_ncols; i++) {
		int c = strcmp(ra[i], rb[i]);

		if (c)
			return c;
	}
	return 0;
}

void cli_table_sort(struct cli_table *t)
{
	sort_ncols = t->ncols;
	if (t->nrows > 1)
		qsort(t->rows, t->nrows, sizeof(char **), row_cmp);
}

void cli_table_done(struct cli_table *t)
{
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t i = 0; i < t->ncols; i++)
			free(t->rows[r][i]);
		free(t->rows[r]);
	}
	free(t->rows);
	t->rows = NULL;
	t->nrows = 0;
}

/* Display width of `len` bytes of UTF-8: continuation bytes take no column. */
static size_t text_width(const char *s, size_t len)
{
	size_t w = 0;

	for (size_t i = 0; i < len; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			w++;
	return w;
}

/* The widest line of a cell, and how many lines it has. */
static void cell_size(const char *s, size_t *width, size_t *lines)
{
	*width = 0;
	*lines = 1;
	for (;;) {
		const char *nl = strchr(s, '\n');
		size_t len = nl ? (size_t)(nl - s) : strlen(s);
		size_t w = text_width(s, len);

		if (w > *width)
			*width = w;
		if (!nl)
			break;
		(*lines)++;
		s = nl + 1;
	}
}

/* Line `n` of a cell (empty past its end). */
static void cell_line(const char *s, size_t n, const char **ret, size_t *ret_len)
{
	for (size_t i = 0; i < n; i++) {
		const char *nl = strchr(s, '\n');

		if (!nl) {
			*ret = "";
			*ret_len = 0;
			return;
		}
		s = nl + 1;
	}
	*ret = s;
	*ret_len = strchrnul(s, '\n') - s;
}

static void put_spaces(FILE *out, size_t n)
{
	while (n--)
		fputc(' ', out);
}

static void put_separator(FILE *out, const size_t *widths, size_t ncols)
{
	for (size_t i = 0; i < ncols; i++) {
		fputc('+', out);
		for (size_t j = 0; j < widths[i] + 2; j++)
			fputc('-', out);
	}
	fputs("+\n", out);
}

static void render_box(FILE *out, const struct cli_table *t)
{
	_cleanup_free_ size_t *widths = calloc(t->ncols ? t->ncols : 1, sizeof(size_t));

	if (!widths)
		return;
	for (size_t i = 0; i < t->ncols; i++)
		widths[i] = text_width(t->headers[i], strlen(t->headers[i]));
	for (size_t r = 0; r < t->nrows; r++)
		for (size_t i = 0; i < t->ncols; i++) {
			size_t w, lines;

			cell_size(t->rows[r][i], &w, &lines);
			if (w > widths[i])
				widths[i] = w;
		}

	put_separator(out, widths, t->ncols);
	/* Headers are centred, with the odd space on the right, as tablewriter does. */
	for (size_t i = 0; i < t->ncols; i++) {
		size_t gap = widths[i] - text_width(t->headers[i], strlen(t->headers[i]));

		fputs("| ", out);
		put_spaces(out, gap / 2);
		fputs(t->headers[i], out);
		put_spaces(out, gap - gap / 2);
		fputc(' ', out);
	}
	fputs("|\n", out);
	put_separator(out, widths, t->ncols);
	for (size_t r = 0; r < t->nrows; r++) {
		size_t height = 1;

		for (size_t i = 0; i < t->ncols; i++) {
			size_t w, lines;

			cell_size(t->rows[r][i], &w, &lines);
			if (lines > height)
				height = lines;
		}
		for (size_t l = 0; l < height; l++) {
			for (size_t i = 0; i < t->ncols; i++) {
				const char *s;
				size_t len;

				cell_line(t->rows[r][i], l, &s, &len);
				fputs("| ", out);
				fwrite(s, 1, len, out);
				put_spaces(out, widths[i] - text_width(s, len) + 1);
			}
			fputs("|\n", out);
		}
		put_separator(out, widths, t->ncols);
	}
}

/* Quotes a field the way Go's encoding/csv does. */
static void csv_field(FILE *out, const char *s)
{
	bool quote = *s == ' ' || *s == '\t' || strpbrk(s, ",\"\r\n");

	if (!quote) {
		fputs(s, out);
		return;
	}
	fputc('"', out);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', out);
		fputc(*s, out);
	}
	fputc('"', out);
}

void cli_table_render(FILE *out, const struct cli_table *t, enum cli_format fmt)
{
	if (fmt != CLI_FORMAT_CSV) {
		render_box(out, t);
		return;
	}
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t i = 0; i < t->ncols; i++) {
			if (i)
				fputc(',', out);
			csv_field(out, t->rows[r][i]);
		}
		fputc('\n', out);
	}
}

void cli_render_json(FILE *out, json_object *o)
{
	fprintf(out, "%s\n",
		json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
						      JSON_C_TO_STRING_NOSLASHESCAPE));
}

int cli_render_yaml(FILE *out, json_object *o, struct err **err)
{
	_cleanup_free_ char *text = NULL;
	int r;

	r = config_yaml_emit(o, &text, err);
	if (r < 0)
		return r;
	fputs(text, out);
	return 0;
}

static bool time_is_zero(const char *s)
{
	return !s || !*s || str_startswith(s, "0001-01-01");
}

static char *format_time_with(const char *rfc3339, bool long_form)
{
	int64_t t;
	time_t tt;
	struct tm tm;
	char buf[64];

	if (time_is_zero(rfc3339) || time_parse_rfc3339(rfc3339, &t, NULL) < 0 || t <= 0)
		return NULL;
	tt = (time_t)t;
	if (!gmtime_r(&tt, &tm))
		return NULL;
	if (long_form ? strftime(buf, sizeof(buf), "%b %-d, %Y at %-I:%M%P (UTC)", &tm) == 0
		      : strftime(buf, sizeof(buf), "%Y/%m/%d %H:%M UTC", &tm) == 0)
		return NULL;
	return strdup(buf);
}

char *cli_format_time(const char *rfc3339)
{
	return format_time_with(rfc3339, false);
}

char *cli_format_date_long(const char *rfc3339)
{
	return format_time_with(rfc3339, true);
}

static char *upper(const char *s)
{
	char *u = strdup(s ? s : "");

	for (char *p = u; p && *p; p++)
		*p = (char)toupper((unsigned char)*p);
	return u;
}

static int name_cmp(const void *a, const void *b)
{
	const char *na = api_get_string(*(json_object *const *)a, "name");
	const char *nb = api_get_string(*(json_object *const *)b, "name");

	return strcmp(na ? na : "", nb ? nb : "");
}

static int key_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Incus' address column: "10.0.0.2 (eth0)" per global address of `family`, one per line,
 * interfaces in name order, loopback left out. */
static char *addresses(json_object *state, const char *family)
{
	json_object *net = NULL;
	_cleanup_free_ const char **names = NULL;
	_cleanup_free_ char *out = NULL;
	size_t n = 0, len = 0;

	out = strdup("");
	if (!out || !state || !json_object_object_get_ex(state, "network", &net) ||
	    !json_object_is_type(net, json_type_object))
		return steal_pointer(&out);
	names = calloc((size_t)json_object_object_length(net) + 1, sizeof(char *));
	if (!names)
		return NULL;
	json_object_object_foreach(net, key, val)
	{
		(void)val;
		names[n++] = key;
	}
	qsort(names, n, sizeof(char *), key_cmp);
	for (size_t i = 0; i < n; i++) {
		json_object *iface = json_object_object_get(net, names[i]);
		json_object *addrs = NULL;

		if (strcmp(names[i], "lo") == 0 ||
		    !json_object_object_get_ex(iface, "addresses", &addrs) ||
		    !json_object_is_type(addrs, json_type_array))
			continue;
		for (size_t j = 0; j < json_object_array_length(addrs); j++) {
			json_object *a = json_object_array_get_idx(addrs, j);
			const char *fam = api_get_string(a, "family");
			const char *scope = api_get_string(a, "scope");
			const char *addr = api_get_string(a, "address");
			char *p;

			if (!fam || strcmp(fam, family) != 0 || !addr ||
			    (scope && strcmp(scope, "global") != 0))
				continue;
			p = str_printf("%s%s%s (%s)", out, len ? "\n" : "", addr, names[i]);
			if (!p)
				return NULL;
			free(out);
			out = p;
			len = strlen(out);
		}
	}
	return steal_pointer(&out);
}

static const char *root_pool(json_object *inst)
{
	static const char *const fields[] = {"expanded_devices", "devices"};

	for (size_t i = 0; i < 2; i++) {
		json_object *devs = NULL, *root = NULL;
		const char *pool;

		if (json_object_object_get_ex(inst, fields[i], &devs) &&
		    json_object_object_get_ex(devs, "root", &root)) {
			pool = api_get_string(root, "pool");
			if (pool)
				return pool;
		}
	}
	return "";
}

static bool is_active(json_object *inst)
{
	const char *status = api_get_string(inst, "status");

	return status && (strcmp(status, "Running") == 0 || strcmp(status, "Frozen") == 0);
}

/* The expanded value of config key `key` ("" when unset). Borrowed. */
static const char *config_value(json_object *inst, const char *key)
{
	static const char *const fields[] = {"expanded_config", "config"};

	for (size_t i = 0; i < 2; i++) {
		json_object *config = NULL;
		const char *v;

		if (json_object_object_get_ex(inst, fields[i], &config) &&
		    (v = api_get_string(config, key)))
			return v;
	}
	return "";
}

/* The instance's profiles, one per line. Caller frees. */
static char *profiles(json_object *inst)
{
	json_object *list = NULL;
	char *out = strdup("");

	if (!out || !json_object_object_get_ex(inst, "profiles", &list) ||
	    !json_object_is_type(list, json_type_array))
		return out;
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		const char *p = json_object_get_string(json_object_array_get_idx(list, i));
		char *next = str_printf("%s%s%s", out, *out ? "\n" : "", p ? p : "");

		free(out);
		if (!next)
			return NULL;
		out = next;
	}
	return out;
}

/* Memory use as a share of limits.memory, as Incus shows it ("12.5%"); "" without a limit in
 * bytes. Caller frees. */
static char *memory_percent(json_object *inst, json_object *state)
{
	const char *limit = config_value(inst, "limits.memory");
	json_object *mem = NULL;
	long long usage = -1;
	uint64_t bytes = 0;

	if (state && json_object_object_get_ex(state, "memory", &mem))
		usage = api_get_int(mem, "usage", -1);
	if (usage <= 0 || !is_active(inst) || !*limit || strchr(limit, '%') ||
	    parse_size(limit, &bytes, NULL) < 0 || bytes == 0)
		return strdup("");
	return str_printf("%.1f%%", (double)usage * 100.0 / (double)bytes);
}

/* One cell of the instance list for column letter `col`. Caller frees. */
static char *instance_cell(json_object *inst, char col)
{
	json_object *state = NULL, *snaps = NULL;
	const char *s;

	json_object_object_get_ex(inst, "state", &state);
	if (state && !json_object_is_type(state, json_type_object))
		state = NULL;
	switch (col) {
	case 'n':
		s = api_get_string(inst, "name");
		return strdup(s ? s : "");
	case 's':
		return upper(api_get_string(inst, "status"));
	case '4':
		return addresses(state, "inet");
	case '6':
		return addresses(state, "inet6");
	case 't': {
		_cleanup_free_ char *type = upper(api_get_string(inst, "type"));

		if (!type)
			return NULL;
		if (!*type) {
			free(type);
			type = strdup("CONTAINER");
		}
		if (api_get_bool(inst, "ephemeral", false))
			return str_printf("%s (EPHEMERAL)", type);
		return steal_pointer(&type);
	}
	case 'S':
		if (json_object_object_get_ex(inst, "snapshots", &snaps) &&
		    json_object_is_type(snaps, json_type_array))
			return str_printf("%zu", json_object_array_length(snaps));
		return strdup("0");
	case 'd':
		s = api_get_string(inst, "description");
		return strdup(s ? s : "");
	case 'a':
		s = api_get_string(inst, "architecture");
		return strdup(s ? s : "");
	case 'b':
		return strdup(root_pool(inst));
	case 'c': {
		char *t = cli_format_time(api_get_string(inst, "created_at"));

		return t ? t : strdup("");
	}
	case 'l': {
		char *t = cli_format_time(api_get_string(inst, "last_used_at"));

		return t ? t : strdup("");
	}
	case 'p': {
		long long pid = state ? api_get_int(state, "pid", 0) : 0;

		return pid > 0 ? str_printf("%lld", pid) : strdup("");
	}
	case 'N': {
		long long n = state ? api_get_int(state, "processes", -1) : -1;

		return n >= 0 && is_active(inst) ? str_printf("%lld", n) : strdup("");
	}
	case 'e':
		s = api_get_string(inst, "project");
		return strdup(s ? s : "default");
	case 'f':
	case 'F': {
		const char *fp = config_value(inst, "volatile.base_image");

		return col == 'f' ? strndup(fp, 12) : strdup(fp);
	}
	case 'P':
		return profiles(inst);
	case 'm': {
		json_object *mem = NULL;
		long long usage = -1;

		if (state && json_object_object_get_ex(state, "memory", &mem))
			usage = api_get_int(mem, "usage", -1);
		return usage > 0 && is_active(inst) ? format_size((uint64_t)usage) : strdup("");
	}
	case 'M':
		return memory_percent(inst, state);
	case 'u': {
		json_object *cpu = NULL;
		long long usage = -1;

		if (state && json_object_object_get_ex(state, "cpu", &cpu))
			usage = api_get_int(cpu, "usage", -1);
		return usage > 0 && is_active(inst) ? str_printf("%llds", usage / 1000000000LL)
						    : strdup("");
	}
	default:
		return NULL;
	}
}

/* One cell of a custom column: a config key (the instance's own, else the expanded one) or a
 * DEVICE.KEY of the devices, cut to the column's width. Caller frees. */
static char *custom_cell(json_object *inst, const struct cli_column *col)
{
	const char *v = "";

	if (col->device) {
		static const char *const fields[] = {"devices", "expanded_devices"};
		const char *dot = strchr(col->key, '.');
		_cleanup_free_ char *dev = strndup(col->key, (size_t)(dot - col->key));

		if (!dev)
			return NULL;
		for (size_t i = 0; i < 2; i++) {
			json_object *devs = NULL, *d = NULL;
			const char *x;

			if (json_object_object_get_ex(inst, fields[i], &devs) &&
			    json_object_object_get_ex(devs, dev, &d) &&
			    (x = api_get_string(d, dot + 1))) {
				v = x;
				break;
			}
		}
	} else {
		json_object *config = NULL;
		const char *x = NULL;

		if (json_object_object_get_ex(inst, "config", &config))
			x = api_get_string(config, col->key);
		v = x ? x : config_value(inst, col->key);
	}
	if (col->max_width >= 0 && strlen(v) > (size_t)col->max_width)
		return strndup(v, (size_t)col->max_width);
	return strdup(v);
}

/* Renders json or yaml output of a list as the API returned it. */
static int render_raw(FILE *out, json_object *list, enum cli_format fmt, struct err **err)
{
	if (fmt == CLI_FORMAT_JSON) {
		cli_render_json(out, list);
		return 0;
	}
	return cli_render_yaml(out, list, err);
}

/* The array's objects sorted by name, borrowed. Caller frees the array. */
static json_object **sorted_by_name(json_object *list, size_t *ret_n)
{
	size_t n =
	    list && json_object_is_type(list, json_type_array) ? json_object_array_length(list) : 0;
	json_object **v = calloc(n + 1, sizeof(json_object *));

	if (!v)
		return NULL;
	for (size_t i = 0; i < n; i++)
		v[i] = json_object_array_get_idx(list, i);
	qsort(v, n, sizeof(json_object *), name_cmp);
	*ret_n = n;
	return v;
}

int cli_render_instance_list(FILE *out, json_object *list, enum cli_format fmt, const char *columns,
			     struct err **err)
{
	_cleanup_free_ json_object **items = NULL;
	_cleanup_free_ const char **headers = NULL;
	_cleanup_free_ char **cells = NULL;
	struct cli_column *cols = NULL;
	struct cli_table t = {0};
	size_t n = 0, ncols = 0;
	int r = 0;

	if (fmt == CLI_FORMAT_JSON || fmt == CLI_FORMAT_YAML)
		return render_raw(out, list, fmt, err);
	r = cli_columns_parse(columns ? columns : CLI_DEFAULT_COLUMNS, &cols, &ncols, err);
	if (r < 0)
		return r;
	headers = calloc(ncols, sizeof(char *));
	cells = calloc(ncols, sizeof(char *));
	items = sorted_by_name(list, &n);
	if (!headers || !cells || !items) {
		cli_columns_free(cols, ncols);
		return err_set(err, -ENOMEM, "Out of memory");
	}
	for (size_t i = 0; i < ncols; i++)
		headers[i] = cols[i].header;
	t.ncols = ncols;
	t.headers = headers;
	for (size_t i = 0; i < n && r == 0; i++) {
		for (size_t c = 0; c < ncols; c++)
			cells[c] = cols[c].letter ? instance_cell(items[i], cols[c].letter)
						  : custom_cell(items[i], &cols[c]);
		for (size_t c = 0; c < ncols; c++)
			if (!cells[c])
				r = -ENOMEM;
		if (r == 0)
			r = cli_table_add(&t, (const char *const *)cells);
		for (size_t c = 0; c < ncols; c++) {
			free(cells[c]);
			cells[c] = NULL;
		}
	}
	if (r < 0) {
		cli_table_done(&t);
		cli_columns_free(cols, ncols);
		return err_set(err, r, "Out of memory");
	}
	cli_table_render(out, &t, fmt);
	cli_table_done(&t);
	cli_columns_free(cols, ncols);
	return 0;
}

static int snapshot_cmp(const void *a, const void *b)
{
	json_object *sa = *(json_object *const *)a, *sb = *(json_object *const *)b;
	const char *ta = api_get_string(sa, "created_at");
	const char *tb = api_get_string(sb, "created_at");
	int64_t xa = 0, xb = 0;

	if (ta)
		time_parse_rfc3339(ta, &xa, NULL);
	if (tb)
		time_parse_rfc3339(tb, &xb, NULL);
	if (xa != xb)
		return xa < xb ? -1 : 1;
	return name_cmp(a, b);
}

/* A time of the schedule summary ("" for none) as cairn shows times, or NULL. */
static char *schedule_time(json_object *policy, const char *key)
{
	const char *t = api_get_string(policy, key);

	return t && *t ? cli_format_time(t) : NULL;
}

/*
 * The policy lines at the top of the snapshot section: the schedule and its next slot, the last
 * scheduled snapshot, a failed or skipped slot, and what the snapshots hold on their own.
 */
static void render_schedule(FILE *out, json_object *policy, json_object **v, size_t n)
{
	const char *sched = api_get_string(policy, "schedule");
	const char *last = api_get_string(policy, "last_snapshot");
	const char *error = api_get_string(policy, "last_error");
	const char *skip = api_get_string(policy, "last_skip");
	_cleanup_free_ char *next = schedule_time(policy, "next_slot");
	_cleanup_free_ char *slot = schedule_time(policy, "last_slot");
	_cleanup_free_ char *failed = schedule_time(policy, "failed_slot");
	_cleanup_free_ char *held = NULL;
	uint64_t bytes = 0;
	size_t scheduled = 0;
	bool sized = false;

	if (sched && *sched)
		fprintf(out, "  Schedule: %s%s%s%s\n", sched, next ? " (next at " : "",
			next ? next : "", next ? ")" : "");
	if (last && *last)
		fprintf(out, "  Last scheduled: %s%s%s%s\n", last, slot ? " (slot " : "",
			slot ? slot : "", slot ? ")" : "");
	if (failed)
		fprintf(out, "  Failed slot: %s: %s\n", failed, error ? error : "");
	else if (error && *error)
		fprintf(out, "  Note: %s\n", error);
	if (skip && *skip)
		fprintf(out, "  Skipped slot: %s%s%s\n", slot ? slot : "", slot ? ": " : "", skip);
	for (size_t i = 0; i < n; i++) {
		long long size = api_get_int(v[i], "size", -1);

		scheduled += api_get_bool(v[i], "scheduled", false);
		if (size >= 0) {
			bytes += (uint64_t)size;
			sized = true;
		}
	}
	if (n == 0)
		return;
	held = sized ? format_size(bytes) : NULL;
	fprintf(out, "  Count: %zu (%zu scheduled, %zu manual)%s%s%s\n", n, scheduled,
		n - scheduled, held ? ", " : "", held ? held : "",
		held ? " held by them alone" : "");
}

/*
 * The snapshot server section (snapshots.copy.target): the target, the last refresh that worked
 * and what it sent, and the last failure with the next try while one is owed.
 */
static void render_snapshot_server(FILE *out, json_object *server)
{
	const char *remote = api_get_string(server, "remote");
	const char *instance = api_get_string(server, "instance");
	const char *error = api_get_string(server, "last_error");
	_cleanup_free_ char *ok = schedule_time(server, "last_success");
	_cleanup_free_ char *tried = schedule_time(server, "last_attempt");
	_cleanup_free_ char *next = schedule_time(server, "next_retry");
	_cleanup_free_ char *sent = NULL;

	if (!server || !json_object_is_type(server, json_type_object))
		return;
	if (remote && *remote)
		fprintf(out, "Snapshot server: %s (instance %s)\n", remote,
			instance ? instance : "");
	else
		fputs("Snapshot server: none (snapshots.copy.target is unset)\n", out);
	if (ok) {
		sent = format_size((uint64_t)api_get_int(server, "last_bytes", 0));
		fprintf(out, "  Last refresh: %s (%s sent)\n", ok, sent ? sent : "");
	} else {
		fputs("  Last refresh: never\n", out);
	}
	if (api_get_bool(server, "running", false))
		fputs("  Refreshing now\n", out);
	if (error && *error) {
		fprintf(out, "  Last error: %s (at %s", error, tried ? tried : "");
		if (next)
			fprintf(out, ", next try at %s", next);
		fputs(")\n", out);
	} else if (api_get_bool(server, "owed", false) && !api_get_bool(server, "running", false)) {
		fputs("  Refresh pending\n", out);
	}
}

static void render_snapshots(FILE *out, json_object *snapshots, json_object *policy)
{
	_cleanup_free_ json_object **v = NULL;
	const char *sched = api_get_string(policy, "schedule");
	size_t n = 0;

	if (snapshots && json_object_is_type(snapshots, json_type_array))
		n = json_object_array_length(snapshots);
	if (n == 0 && !(sched && *sched))
		return;
	v = calloc(n ? n : 1, sizeof(json_object *));
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		v[i] = json_object_array_get_idx(snapshots, i);
	qsort(v, n, sizeof(json_object *), snapshot_cmp);

	fputs("\nSnapshots:\n", out);
	if (policy)
		render_schedule(out, policy, v, n);
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *taken = cli_format_time(api_get_string(v[i], "created_at"));
		_cleanup_free_ char *expires = cli_format_time(api_get_string(v[i], "expires_at"));
		const char *name = api_get_string(v[i], "name");

		fprintf(out, "  %s", name ? name : "");
		if (taken)
			fprintf(out, " (taken at %s)", taken);
		if (expires)
			fprintf(out, " (expires at %s)", expires);
		fprintf(out, " (%s)\n",
			api_get_bool(v[i], "stateful", false) ? "stateful" : "stateless");
	}
}

/* The "Network usage" section of `cairn info`, as Incus prints it: each interface but lo, in
 * name order, with its addresses, MTU, MAC and counters. */
static void render_network_usage(FILE *out, json_object *state)
{
	json_object *net = NULL;
	_cleanup_free_ const char **names = NULL;
	size_t n = 0;

	if (!json_object_object_get_ex(state, "network", &net) ||
	    !json_object_is_type(net, json_type_object) || json_object_object_length(net) == 0)
		return;
	names = calloc((size_t)json_object_object_length(net) + 1, sizeof(char *));
	if (!names)
		return;
	json_object_object_foreach(net, key, val)
	{
		(void)val;
		if (strcmp(key, "lo") != 0)
			names[n++] = key;
	}
	if (n == 0)
		return;
	qsort(names, n, sizeof(char *), key_cmp);
	fputs("  Network usage:\n", out);
	for (size_t i = 0; i < n; i++) {
		json_object *iface = json_object_object_get(net, names[i]), *addrs = NULL,
			    *counters = NULL;
		char buf[32];

		fprintf(out, "    %s:\n", names[i]);
		fprintf(out, "      Type: %s\n", api_get_string(iface, "type") ?: "");
		fprintf(out, "      State: %s\n", api_get_string(iface, "state") ?: "");
		fprintf(out, "      MAC address: %s\n", api_get_string(iface, "hwaddr") ?: "");
		fprintf(out, "      MTU: %lld\n", api_get_int(iface, "mtu", 0));
		json_object_object_get_ex(iface, "counters", &counters);
		cli_progress_format_bytes(buf, sizeof(buf),
					  (double)api_get_int(counters, "bytes_received", 0));
		fprintf(out, "      Bytes received: %s\n", buf);
		cli_progress_format_bytes(buf, sizeof(buf),
					  (double)api_get_int(counters, "bytes_sent", 0));
		fprintf(out, "      Bytes sent: %s\n", buf);
		fprintf(out, "      Packets received: %lld\n",
			api_get_int(counters, "packets_received", 0));
		fprintf(out, "      Packets sent: %lld\n",
			api_get_int(counters, "packets_sent", 0));
		if (!json_object_object_get_ex(iface, "addresses", &addrs) ||
		    !json_object_is_type(addrs, json_type_array) ||
		    json_object_array_length(addrs) == 0)
			continue;
		fputs("      IP addresses:\n", out);
		for (size_t j = 0; j < json_object_array_length(addrs); j++) {
			json_object *a = json_object_array_get_idx(addrs, j);
			const char *fam = api_get_string(a, "family") ?: "";

			fprintf(out, "        %s:%s%s/%s (%s)\n", fam,
				strcmp(fam, "inet") == 0 ? "  " : " ",
				api_get_string(a, "address") ?: "",
				api_get_string(a, "netmask") ?: "",
				api_get_string(a, "scope") ?: "");
		}
	}
}

/* "Profiles: default, web" as the lxc client printed it; "Profiles:" alone for none. */
static void render_profiles_line(FILE *out, json_object *inst)
{
	json_object *list = NULL;

	fputs("Profiles:", out);
	if (json_object_object_get_ex(inst, "profiles", &list) &&
	    json_object_is_type(list, json_type_array))
		for (size_t i = 0; i < json_object_array_length(list); i++) {
			const char *p = json_object_get_string(json_object_array_get_idx(list, i));

			fprintf(out, "%s%s", i ? ", " : " ", p ? p : "");
		}
	fputc('\n', out);
}

void cli_render_info(FILE *out, json_object *inst, json_object *state, json_object *snapshots)
{
	_cleanup_free_ char *status = NULL;
	_cleanup_free_ char *created = cli_format_time(api_get_string(inst, "created_at"));
	_cleanup_free_ char *used = cli_format_time(api_get_string(inst, "last_used_at"));
	json_object *policy = NULL;
	const char *s;
	bool running;
	long long pid;

	s = api_get_string(state, "status");
	if (!s)
		s = api_get_string(inst, "status");
	status = upper(s);
	running = status && strcmp(status, "RUNNING") == 0;

	s = api_get_string(inst, "name");
	fprintf(out, "Name: %s\n", s ? s : "");
	s = api_get_string(inst, "description");
	if (s && *s)
		fprintf(out, "Description: %s\n", s);
	fprintf(out, "Status: %s\n", status ? status : "");
	s = api_get_string(inst, "type");
	fprintf(out, "Type: %s%s\n", s && *s ? s : "container",
		api_get_bool(inst, "ephemeral", false) ? " (ephemeral)" : "");
	s = api_get_string(inst, "architecture");
	fprintf(out, "Architecture: %s\n", s ? s : "");
	render_profiles_line(out, inst);
	pid = api_get_int(state, "pid", 0);
	if (running && pid > 0)
		fprintf(out, "PID: %lld\n", pid);
	if (created)
		fprintf(out, "Created: %s\n", created);
	if (used)
		fprintf(out, "Last Used: %s\n", used);
	if (api_get_bool(inst, "stateful", false))
		fputs("Checkpoint: holds the running state of a stateful stop; the next start "
		      "resumes it\n",
		      out);

	if (running && state) {
		json_object *mem = NULL, *cpu = NULL;
		long long procs = api_get_int(state, "processes", -1);

		fputs("\nResources:\n", out);
		if (procs >= 0)
			fprintf(out, "  Processes: %lld\n", procs);
		if (json_object_object_get_ex(state, "memory", &mem)) {
			long long usage = api_get_int(mem, "usage", 0);
			long long peak = api_get_int(mem, "usage_peak", 0);
			_cleanup_free_ char *u = format_size((uint64_t)(usage > 0 ? usage : 0));
			_cleanup_free_ char *p = format_size((uint64_t)(peak > 0 ? peak : 0));

			fputs("  Memory usage:\n", out);
			fprintf(out, "    Memory (current): %s\n", u ? u : "");
			if (peak > 0)
				fprintf(out, "    Memory (peak): %s\n", p ? p : "");
		}
		if (json_object_object_get_ex(state, "cpu", &cpu)) {
			long long ns = api_get_int(cpu, "usage", 0);

			fputs("  CPU usage:\n", out);
			fprintf(out, "    CPU usage (in seconds): %lld\n", ns / 1000000000LL);
		}
		render_network_usage(out, state);
	}
	{
		/* Before the snapshots, which end the output. */
		json_object *server = NULL;

		if (json_object_object_get_ex(state, "snapshot_server", &server))
			render_snapshot_server(out, server);
	}
	json_object_object_get_ex(state, "snapshot_schedule", &policy);
	render_snapshots(out, snapshots, policy);
}

static char *image_cell_alias(json_object *img)
{
	json_object *aliases = NULL;
	size_t n;
	const char *first;

	if (!json_object_object_get_ex(img, "aliases", &aliases) ||
	    !json_object_is_type(aliases, json_type_array) ||
	    (n = json_object_array_length(aliases)) == 0)
		return strdup("");
	first = api_get_string(json_object_array_get_idx(aliases, 0), "name");
	if (n == 1)
		return strdup(first ? first : "");
	return str_printf("%s (%zu more)", first ? first : "", n - 1);
}

int cli_render_image_list(FILE *out, json_object *list, enum cli_format fmt, struct err **err)
{
	static const char *const headers[] = {"ALIAS",	     "FINGERPRINT",  "PUBLIC",
					      "DESCRIPTION", "ARCHITECTURE", "TYPE",
					      "SIZE",	     "UPLOAD DATE"};
	struct cli_table t = {.ncols = 8, .headers = headers};
	size_t n;
	int r = 0;

	if (fmt == CLI_FORMAT_JSON || fmt == CLI_FORMAT_YAML)
		return render_raw(out, list, fmt, err);
	n = list && json_object_is_type(list, json_type_array) ? json_object_array_length(list) : 0;
	for (size_t i = 0; i < n && r == 0; i++) {
		json_object *img = json_object_array_get_idx(list, i);
		json_object *props = NULL;
		const char *fp = api_get_string(img, "fingerprint");
		const char *desc = NULL;
		_cleanup_free_ char *alias = image_cell_alias(img);
		_cleanup_free_ char *fp12 = strndup(fp ? fp : "", 12);
		_cleanup_free_ char *type = upper(api_get_string(img, "type"));
		_cleanup_free_ char *size = format_size((uint64_t)api_get_int(img, "size", 0));
		_cleanup_free_ char *date =
		    cli_format_date_long(api_get_string(img, "uploaded_at"));
		const char *arch = api_get_string(img, "architecture");
		const char *cells[8];

		if (json_object_object_get_ex(img, "properties", &props))
			desc = api_get_string(props, "description");
		if (!alias || !fp12 || !type || !size)
			r = -ENOMEM;
		cells[0] = alias;
		cells[1] = fp12;
		cells[2] = api_get_bool(img, "public", false) ? "yes" : "no";
		cells[3] = desc ? desc : "";
		cells[4] = arch ? arch : "";
		cells[5] = type && *type ? type : "CONTAINER";
		cells[6] = size;
		cells[7] = date ? date : "";
		if (r == 0)
			r = cli_table_add(&t, cells);
	}
	if (r < 0) {
		cli_table_done(&t);
		return err_set(err, r, "Out of memory");
	}
	cli_table_sort(&t);
	cli_table_render(out, &t, fmt);
	cli_table_done(&t);
	return 0;
}

int cli_render_pool_list(FILE *out, json_object *list, enum cli_format fmt, struct err **err)
{
	static const char *const headers[] = {"NAME",	     "DRIVER",	"SOURCE",
					      "DESCRIPTION", "USED BY", "STATE"};
	struct cli_table t = {.ncols = 6, .headers = headers};
	size_t n;
	int r = 0;

	if (fmt == CLI_FORMAT_JSON || fmt == CLI_FORMAT_YAML)
		return render_raw(out, list, fmt, err);
	n = list && json_object_is_type(list, json_type_array) ? json_object_array_length(list) : 0;
	for (size_t i = 0; i < n && r == 0; i++) {
		json_object *pool = json_object_array_get_idx(list, i);
		json_object *config = NULL, *used = NULL;
		const char *name = api_get_string(pool, "name");
		const char *driver = api_get_string(pool, "driver");
		const char *desc = api_get_string(pool, "description");
		const char *source = NULL;
		_cleanup_free_ char *state = upper(api_get_string(pool, "status"));
		_cleanup_free_ char *count = NULL;
		const char *cells[6];

		if (json_object_object_get_ex(pool, "config", &config))
			source = api_get_string(config, "source");
		json_object_object_get_ex(pool, "used_by", &used);
		count = str_printf("%zu", used && json_object_is_type(used, json_type_array)
					      ? json_object_array_length(used)
					      : (size_t)0);
		if (!state || !count)
			r = -ENOMEM;
		cells[0] = name ? name : "";
		cells[1] = driver ? driver : "";
		cells[2] = source ? source : "";
		cells[3] = desc ? desc : "";
		cells[4] = count;
		cells[5] = state;
		if (r == 0)
			r = cli_table_add(&t, cells);
	}
	if (r < 0) {
		cli_table_done(&t);
		return err_set(err, r, "Out of memory");
	}
	cli_table_sort(&t);
	cli_table_render(out, &t, fmt);
	cli_table_done(&t);
	return 0;
}

int cli_render_profile_list(FILE *out, json_object *list, enum cli_format fmt, struct err **err)
{
	static const char *const headers[] = {"NAME", "DESCRIPTION", "USED BY"};
	struct cli_table t = {.ncols = 3, .headers = headers};
	size_t n;
	int r = 0;

	if (fmt == CLI_FORMAT_JSON || fmt == CLI_FORMAT_YAML)
		return render_raw(out, list, fmt, err);
	n = list && json_object_is_type(list, json_type_array) ? json_object_array_length(list) : 0;
	for (size_t i = 0; i < n && r == 0; i++) {
		json_object *profile = json_object_array_get_idx(list, i);
		json_object *used = NULL;
		const char *name = api_get_string(profile, "name");
		const char *desc = api_get_string(profile, "description");
		_cleanup_free_ char *count = NULL;

		json_object_object_get_ex(profile, "used_by", &used);
		count = str_printf("%zu", used && json_object_is_type(used, json_type_array)
					      ? json_object_array_length(used)
					      : (size_t)0);
		if (!count)
			r = -ENOMEM;
		else
			r = cli_table_add(
			    &t, (const char *const[]){name ? name : "", desc ? desc : "", count});
	}
	if (r < 0) {
		cli_table_done(&t);
		return err_set(err, r, "Out of memory");
	}
	cli_table_sort(&t);
	cli_table_render(out, &t, fmt);
	cli_table_done(&t);
	return 0;
}
