/* metrics.c - shared-memory Prometheus series; see metrics.h. */
#include "metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define METRICS_MAGIC 0x69736f6dU /* "isom" */
/* Loads of a slot's state before a claim left half-done counts as dead. */
#define METRICS_SPIN_MAX 10000000L

struct metric_slot {
	uint32_t state;
	char key[METRICS_KEY];
	uint64_t value;
};

struct metrics_file {
	uint32_t magic;
	uint32_t version;
	struct metric_slot slots[METRICS_SLOTS];
};

static struct metrics_file *mf;

static const double buckets[] = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
#define NBUCKETS (sizeof(buckets) / sizeof(buckets[0]))

/* Known families: name, type, help. Series of other names still render,
 * typed "untyped". */
static const struct family {
	const char *name;
	const char *type;
	const char *help;
} families[] = {
    {"isobox_http_requests_total", "counter",
     "HTTP requests answered, by route and status."},
    {"isobox_executions_total", "counter",
     "Executions by language and outcome (ok, error, timeout, oom, "
     "truncated, compile_error)."},
    {"isobox_execution_duration_seconds", "histogram",
     "Wall time of executions, request start to result."},
    {"isobox_queue_wait_seconds", "histogram",
     "Time requests waited for a sandbox slot and memory."},
    {"isobox_rejections_total", "counter",
     "Requests refused by reason (rate_limited, capacity, "
     "unauthorized)."},
    {"isobox_pool_claims_total", "counter",
     "Warm-pool lookups by result (hit, miss)."},
    {"isobox_pool_evictions_total", "counter",
     "Warm sandboxes removed from a full pool memory budget for a language "
     "in more demand."},
    {"isobox_sandboxes_active", "gauge", "Sandboxes running jobs right now."},
    {"isobox_pool_ready", "gauge", "Warm sandboxes waiting."},
    {"isobox_prestart_total", "counter",
     "Warm runs of a language with a prestarted interpreter, by whether "
     "it served them (used) or they ran the ordinary way (skipped)."},
    {"isobox_slice_memory_bytes", "gauge",
     "Memory in use by the isobox slice cgroup."},
    {"isobox_slice_memory_limit_bytes", "gauge",
     "Memory cap of the isobox slice cgroup."},
    {"isobox_admitted_memory_bytes", "gauge",
     "Sum of the memory limits of admitted sandboxes."},
};

int metrics_open(const char *path)
{
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	struct stat st;
	void *p;

	if (fd < 0) {
		return -errno;
	}
	if (fstat(fd, &st) < 0 || (st.st_size < (off_t)sizeof(*mf) &&
				   ftruncate(fd, sizeof(*mf)) < 0)) {
		int e = errno;

		close(fd);
		return -e;
	}
	p = mmap(NULL, sizeof(*mf), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED) {
		return -errno;
	}
	mf = p;
	/* A fresh file is all zeroes; the magic is informational. */
	__atomic_store_n(&mf->magic, METRICS_MAGIC, __ATOMIC_RELAXED);
	__atomic_store_n(&mf->version, 1, __ATOMIC_RELAXED);
	return 0;
}

static uint32_t fnv1a(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 16777619u;
	}
	return h;
}

static struct metric_slot *slot_for(const char *key)
{
	uint32_t i = fnv1a(key) % METRICS_SLOTS;
	uint32_t n;
	long spins;

	for (n = 0; n < METRICS_SLOTS; n++, i = (i + 1) % METRICS_SLOTS) {
		struct metric_slot *s = &mf->slots[i];
		uint32_t st = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);

		if (st == 0) {
			uint32_t zero = 0;

			if (__atomic_compare_exchange_n(&s->state, &zero, 1, 0,
							__ATOMIC_ACQ_REL,
							__ATOMIC_ACQUIRE)) {
				snprintf(s->key, sizeof(s->key), "%s", key);
				__atomic_store_n(&s->state, 2,
						 __ATOMIC_RELEASE);
				return s;
			}
			st = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
		}
		/* Another process is writing the key, which takes a few
		 * instructions; one that died there leaves the slot claimed
		 * for good, so give up on it after a while instead of
		 * spinning forever. */
		for (spins = 0; st == 1 && spins < METRICS_SPIN_MAX; spins++) {
			st = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
		}
		if (st == 2 && strncmp(s->key, key, sizeof(s->key)) == 0) {
			return s;
		}
	}
	return NULL; /* table full: drop the update */
}

static void add_key(const char *key, uint64_t v)
{
	struct metric_slot *s;

	if (mf == NULL || strlen(key) >= METRICS_KEY) {
		return;
	}
	s = slot_for(key);
	if (s) {
		__atomic_fetch_add(&s->value, v, __ATOMIC_RELAXED);
	}
}

void metrics_add(uint64_t v, const char *fmt, ...)
{
	char key[METRICS_KEY + 8];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(key, sizeof(key), fmt, ap);
	va_end(ap);
	if (n > 0 && n < METRICS_KEY) {
		add_key(key, v);
	}
}

void metrics_observe(const char *family, const char *labels, double seconds)
{
	size_t i;
	const char *sep = labels && *labels ? "," : "";

	if (labels == NULL) {
		labels = "";
	}
	for (i = 0; i < NBUCKETS; i++) {
		if (seconds <= buckets[i]) {
			metrics_add(1, "%s_bucket{%s%sle=\"%g\"}", family,
				    labels, sep, buckets[i]);
		} else {
			/* Touch the series so every bucket exists. */
			metrics_add(0, "%s_bucket{%s%sle=\"%g\"}", family,
				    labels, sep, buckets[i]);
		}
	}
	metrics_add(1, "%s_bucket{%s%sle=\"+Inf\"}", family, labels, sep);
	/* The sum is kept in microseconds to stay an integer. */
	metrics_add((uint64_t)(seconds * 1e6), "%s_sum_us{%s}", family, labels);
	metrics_add(1, "%s_count{%s}", family, labels);
}

/* Family of a series: the name up to '{', without _bucket/_sum_us/_count
 * for histograms. */
static void family_of(const char *key, char *out, size_t n)
{
	static const char *const sfx[] = {"_bucket", "_sum_us", "_count"};
	size_t l = strcspn(key, "{");
	size_t i;

	snprintf(out, n, "%.*s", (int)l, key);
	for (i = 0; i < 3; i++) {
		size_t sl = strlen(sfx[i]);
		size_t ol = strlen(out);

		if (ol > sl && strcmp(out + ol - sl, sfx[i]) == 0) {
			out[ol - sl] = '\0';
			return;
		}
	}
}

static int key_cmp(const void *a, const void *b)
{
	return strcmp(((const struct metric_slot *)a)->key,
		      ((const struct metric_slot *)b)->key);
}

void metrics_render(struct buf *out)
{
	struct metric_slot *copy;
	size_t n = 0;
	size_t i;
	char last[METRICS_KEY] = "";

	if (mf == NULL) {
		return;
	}
	copy = xcalloc(METRICS_SLOTS, sizeof(*copy));
	for (i = 0; i < METRICS_SLOTS; i++) {
		struct metric_slot *s = &mf->slots[i];

		if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) == 2) {
			memcpy(copy[n].key, s->key, sizeof(s->key));
			copy[n].value =
			    __atomic_load_n(&s->value, __ATOMIC_RELAXED);
			n++;
		}
	}
	qsort(copy, n, sizeof(*copy), key_cmp);
	for (i = 0; i < n; i++) {
		char fam[METRICS_KEY];
		const char *k = copy[i].key;
		const char *brace = strchr(k, '{');
		size_t j;

		family_of(k, fam, sizeof(fam));
		if (strcmp(fam, last) != 0) {
			const char *type = "untyped";
			const char *help = NULL;

			for (j = 0; j < sizeof(families) / sizeof(families[0]);
			     j++) {
				if (strcmp(families[j].name, fam) == 0) {
					type = families[j].type;
					help = families[j].help;
				}
			}
			if (help) {
				buf_addf(out, "# HELP %s %s\n", fam, help);
			}
			buf_addf(out, "# TYPE %s %s\n", fam, type);
			snprintf(last, sizeof(last), "%s", fam);
		}
		if (strstr(k, "_sum_us{")) {
			/* name_sum_us{labels} -> name_sum{labels} seconds */
			const char *p = strstr(k, "_sum_us{");

			buf_addf(out, "%.*s_sum%s %.6f\n", (int)(p - k), k,
				 strcmp(p + 7, "{}") == 0 ? "" : p + 7,
				 (double)copy[i].value / 1e6);
		} else if (brace && strcmp(brace, "{}") == 0) {
			buf_addf(out, "%.*s %llu\n", (int)(brace - k), k,
				 (unsigned long long)copy[i].value);
		} else {
			buf_addf(out, "%s %llu\n", k,
				 (unsigned long long)copy[i].value);
		}
	}
	free(copy);
}
