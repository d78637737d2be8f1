/* metrics.h - Prometheus counters and histograms shared by every FastCGI
 * process: a fixed table of (series, value) slots in a MAP_SHARED file
 * under run_dir, updated with atomic adds, so /metrics answered by any
 * process reports the whole service.
 *
 * File layout: struct metrics_file, METRICS_SLOTS slots of
 * { u32 state (0 free, 1 being claimed, 2 in use) | key[200] | u64 value },
 * found by FNV-1a hash of the key with linear probing. A key is a complete
 * series name: 'isobox_http_requests_total{route="execute",status="200"}'. */
#ifndef ISOBOX_METRICS_H
#define ISOBOX_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define METRICS_SLOTS 4096
#define METRICS_KEY   200

/* Map (creating) the file. 0 or -errno. Until it succeeds every update is
 * a no-op, so metrics can never fail a request.
 *
 * The updates below are void on purpose (util.h): they are best-effort by
 * contract. A failure (no file, a key longer than METRICS_KEY, a full
 * table, a slot left half-claimed by a process that died) loses that
 * update and nothing else; no decision is ever taken on a metric. */
int metrics_open(const char *path);

/* Add v to the series named by the printf-style key. */
void metrics_add(uint64_t v, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Observe a duration (seconds) into histogram family with labels
 * ("" or 'language="python"'), using the standard buckets. */
void metrics_observe(const char *family, const char *labels, double seconds);

/* Render every series in the text exposition format, with # HELP/# TYPE
 * lines for known families, into out. */
void metrics_render(struct buf *out);

#endif
