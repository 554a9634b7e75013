/* One line of progress on a terminal, redrawn in place with '\r', as Incus' client shows
 * uploads and long operations; nothing at all when the output is not a terminal. */
#include "cmd/cairn/cli.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define REDRAW_SEC 0.1

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void cli_progress_format_bytes(char *buf, size_t len, double bytes)
{
	static const char *const units[] = {"B", "kB", "MB", "GB", "TB", "PB"};
	size_t u = 0;

	while (bytes >= 1000 && u + 1 < sizeof(units) / sizeof(units[0])) {
		bytes /= 1000;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%.0f%s", bytes, units[u]);
	else
		snprintf(buf, len, "%.2f%s", bytes, units[u]);
}

void cli_progress_start(struct cli_progress *p, FILE *out, bool quiet, const char *label,
			long long total)
{
	memset(p, 0, sizeof(*p));
	if (quiet || !out || !isatty(fileno(out)))
		return;
	p->label = strdup(label);
	if (!p->label)
		return;
	p->out = out;
	p->total = total;
	p->started = now();
}

static void draw(struct cli_progress *p, const char *text)
{
	int n;

	n = fprintf(p->out, "\r%s: %s", p->label, text);
	/* Blank what a longer previous line leaves behind. */
	if (n > 0 && (size_t)n < p->last_len)
		fprintf(p->out, "%*s", (int)(p->last_len - (size_t)n), "");
	if (n > 0 && (size_t)n > p->last_len)
		p->last_len = (size_t)n;
	fflush(p->out);
	p->last_shown = now();
}

void cli_progress_update(struct cli_progress *p, long long done)
{
	char amount[32], rate[32], text[96];
	double elapsed;

	if (!p->out)
		return;
	p->done = done;
	if (now() - p->last_shown < REDRAW_SEC && (!p->total || done < p->total))
		return;
	elapsed = now() - p->started;
	cli_progress_format_bytes(amount, sizeof(amount), (double)done);
	cli_progress_format_bytes(rate, sizeof(rate), elapsed > 0 ? (double)done / elapsed : 0);
	if (p->total > 0 && done > 0 && done < p->total && elapsed > 0.5) {
		double left = elapsed * (double)(p->total - done) / (double)done;

		/* The time left at the rate so far. */
		if (left >= 60)
			snprintf(text, sizeof(text), "%s (%s/s) %d%% %dm%02ds left", amount, rate,
				 (int)(done * 100 / p->total), (int)left / 60, (int)left % 60);
		else
			snprintf(text, sizeof(text), "%s (%s/s) %d%% %ds left", amount, rate,
				 (int)(done * 100 / p->total), (int)left);
	} else if (p->total > 0)
		snprintf(text, sizeof(text), "%s (%s/s) %d%%", amount, rate,
			 (int)(done * 100 / p->total));
	else
		snprintf(text, sizeof(text), "%s (%s/s)", amount, rate);
	draw(p, text);
}

void cli_progress_text(struct cli_progress *p, const char *text)
{
	if (!p->out || now() - p->last_shown < REDRAW_SEC)
		return;
	draw(p, text);
}

void cli_progress_done(struct cli_progress *p)
{
	if (p->out && p->last_len) {
		fprintf(p->out, "\r%*s\r", (int)p->last_len, "");
		fflush(p->out);
	}
	free(p->label);
	memset(p, 0, sizeof(*p));
}
