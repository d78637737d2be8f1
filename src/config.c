/* config.c - the service configuration: built-in defaults, then
 * /etc/isobox/isobox.yaml (format in config.h), then ISOBOX_* / DOCKER_*
 * environment overrides, then validation. Keys are table-driven so the
 * file, the environment and the range checks cannot drift apart.
 *
 * An environment variable that is set but empty counts as unset (as the
 * docker CLI treats DOCKER_HOST), except ISOBOX_API_KEY, where empty turns
 * the key off. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pwd.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "yamlutil.h"

#ifndef ISOBOX_PKGDATADIR
#define ISOBOX_PKGDATADIR "/usr/local/share/isobox"
#endif
#ifndef ISOBOX_PKGLIBEXECDIR
#define ISOBOX_PKGLIBEXECDIR "/usr/local/libexec/isobox"
#endif

#define CFG_STATUS 500
#define CFG_CODE   "config_invalid"
/* Validation messages start with this; config_load puts the file there. */
#define VALIDATE_PREFIX "configuration: "

#define KIB (1024LL)
#define MIB (1024LL * 1024)
#define GIB (1024LL * 1024 * 1024)

/* Docker refuses memory limits below 6 MB, and a tmpfs of size 0 or a CPU
 * or pids limit of 0 means "unlimited", so floors must stay above these. */
#define DOCKER_MIN_MEMORY (6 * MIB)
#define DOCKER_MIN_CPUS	  0.01

enum config_type {
	CT_INT,	 /* int, decimal */
	CT_I64,	 /* int64_t, decimal */
	CT_SIZE, /* int64_t, decimal with K/M/G suffixes */
	CT_BOOL, /* int 0/1 */
	CT_STR,	 /* char *, non-empty */
	CT_STR0, /* char *, may be empty */
	CT_LIST, /* char *, comma-separated; YAML: a sequence or a string */
};

struct config_key {
	const char *name; /* YAML key; "docker.x" for keys under docker: */
	const char *env;  /* overriding environment variable, or NULL */
	enum config_type type;
	size_t off;
	long long min; /* range of numeric keys */
	long long max;
};

#define OFF(f) offsetof(struct config, f)

static const struct config_key keys[] = {
    {"threads", "ISOBOX_THREADS", CT_INT, OFF(threads), 1, 256},
    {"registry", "ISOBOX_REGISTRY", CT_STR, OFF(registry), 0, 0},
    {"images_lock", "ISOBOX_IMAGES_LOCK", CT_STR, OFF(images_lock), 0, 0},
    {"guest_path", "ISOBOX_GUEST", CT_STR, OFF(guest_path), 0, 0},
    {"state_dir", "ISOBOX_STATE_DIR", CT_STR, OFF(state_dir), 0, 0},
    {"run_dir", "ISOBOX_RUN_DIR", CT_STR, OFF(run_dir), 0, 0},
    {"concurrency", "ISOBOX_CONCURRENCY", CT_INT, OFF(concurrency), 1, 4096},
    {"queue_timeout_ms", "ISOBOX_QUEUE_TIMEOUT_MS", CT_I64,
     OFF(queue_timeout_ms), 0, 3600000},
    {"max_body_bytes", NULL, CT_SIZE, OFF(max_body_bytes), 1024, GIB},
    {"max_files", NULL, CT_INT, OFF(max_files), 1, 100000},
    {"allow_network", "ISOBOX_ALLOW_NETWORK", CT_BOOL, OFF(allow_network), 0,
     1},
    {"egress_network", "ISOBOX_EGRESS_NETWORK", CT_STR, OFF(egress_network), 0,
     0},
    {"egress_dns", "ISOBOX_EGRESS_DNS", CT_LIST, OFF(egress_dns), 0, 0},
    {"api_key", "ISOBOX_API_KEY", CT_STR0, OFF(api_key), 0, 0},
    {"rate_per_min", "ISOBOX_RATE_PER_MIN", CT_INT, OFF(rate_per_min), 1,
     1000000},
    {"rate_burst", "ISOBOX_RATE_BURST", CT_INT, OFF(rate_burst), 1, 1000000},
    {"cgroup_parent", "ISOBOX_CGROUP_PARENT", CT_STR, OFF(cgroup_parent), 0, 0},
    {"keys_file", "ISOBOX_KEYS_FILE", CT_STR0, OFF(keys_file), 0, 0},
    {"trusted_proxies", "ISOBOX_TRUSTED_PROXIES", CT_STR0, OFF(trusted_proxies),
     0, 0},
    {"pool_size", "ISOBOX_POOL_SIZE", CT_INT, OFF(pool_size), 0, 64},
    {"pool_languages", "ISOBOX_POOL_LANGUAGES", CT_STR0, OFF(pool_languages), 0,
     0},
    {"pool_ttl_ms", "ISOBOX_POOL_TTL_MS", CT_I64, OFF(pool_ttl_ms), 10000,
     86400000},
    {"pool_max", "ISOBOX_POOL_MAX", CT_INT, OFF(pool_max), 0, 64},
    {"pool_idle_ms", "ISOBOX_POOL_IDLE_MS", CT_I64, OFF(pool_idle_ms), 1000,
     86400000},
    {"pool_memory_budget_bytes", "ISOBOX_POOL_MEMORY_BUDGET_BYTES", CT_SIZE,
     OFF(pool_memory_budget_bytes), 0, 1024 * GIB},
    {"db_map_bytes", NULL, CT_SIZE, OFF(db_map_bytes), 1024 * 1024, 64 * GIB},
    {"state_map_bytes", NULL, CT_SIZE, OFF(state_map_bytes), 1024 * 1024,
     1024 * GIB},
    {"ratelimit_max_buckets", "ISOBOX_RATELIMIT_MAX_BUCKETS", CT_INT,
     OFF(ratelimit_max_buckets), 16, 100000000},
    {"memory_require_key", "ISOBOX_MEMORY_REQUIRE_KEY", CT_BOOL,
     OFF(memory_require_key), 0, 1},
    {"memory_max_value_bytes", NULL, CT_SIZE, OFF(memory_max_value_bytes), 1,
     256 * MIB},
    {"memory_max_key_bytes", NULL, CT_INT, OFF(memory_max_key_bytes), 1, 512},
    {"memory_tenant_bytes", NULL, CT_SIZE, OFF(memory_tenant_bytes), 1,
     1024 * GIB},
    {"memory_tenant_keys", NULL, CT_I64, OFF(memory_tenant_keys), 1, 100000000},
    {"memory_rate_per_min", "ISOBOX_MEMORY_RATE_PER_MIN", CT_INT,
     OFF(memory_rate_per_min), 0, 100000000},
    {"memory_rate_burst", NULL, CT_INT, OFF(memory_rate_burst), 0, 100000000},
    {"store_root", "ISOBOX_STORE_ROOT", CT_STR, OFF(store_root), 0, 0},
    {"store_image", "ISOBOX_STORE_IMAGE", CT_STR, OFF(store_image), 0, 0},
    {"store_size", "ISOBOX_STORE_SIZE", CT_SIZE, OFF(store_size), 256 * MIB,
     64 * 1024 * GIB},
    {"store_reserve_bytes", "ISOBOX_STORE_RESERVE_BYTES", CT_SIZE,
     OFF(store_reserve_bytes), 0, 1024 * GIB},
    {"session_disk_bytes", "ISOBOX_SESSION_DISK_BYTES", CT_SIZE,
     OFF(session_disk_bytes), MIB, 1024 * GIB},
    {"session_max", "ISOBOX_SESSION_MAX", CT_INT, OFF(session_max), 0, 1000000},
    {"session_max_per_tenant", "ISOBOX_SESSION_MAX_PER_TENANT", CT_INT,
     OFF(session_max_per_tenant), 0, 1000000},
    {"session_ttl_sec", "ISOBOX_SESSION_TTL_SEC", CT_I64, OFF(session_ttl_sec),
     10, 366LL * 86400},
    {"session_max_ttl_sec", "ISOBOX_SESSION_MAX_TTL_SEC", CT_I64,
     OFF(session_max_ttl_sec), 10, 366LL * 86400},
    {"session_idle_stop_ms", "ISOBOX_SESSION_IDLE_STOP_MS", CT_I64,
     OFF(session_idle_stop_ms), 1000, 7LL * 86400000},
    {"kernel_pool_size", "ISOBOX_KERNEL_POOL_SIZE", CT_INT,
     OFF(kernel_pool_size), 0, 64},
    {"kernel_pool_languages", "ISOBOX_KERNEL_POOL_LANGUAGES", CT_STR0,
     OFF(kernel_pool_languages), 0, 0},
    {"kernel_idle_stop_ms", "ISOBOX_KERNEL_IDLE_STOP_MS", CT_I64,
     OFF(kernel_idle_stop_ms), 1000, 7LL * 86400000},
    {"session_max_upload_bytes", "ISOBOX_SESSION_MAX_UPLOAD_BYTES", CT_SIZE,
     OFF(session_max_upload_bytes), 1024, 64 * GIB},
    {"session_files_via_guest", "ISOBOX_SESSION_FILES_VIA_GUEST", CT_BOOL,
     OFF(session_files_via_guest), 0, 1},
    {"volume_default_bytes", "ISOBOX_VOLUME_DEFAULT_BYTES", CT_SIZE,
     OFF(volume_default_bytes), MIB, 1024 * GIB},
    {"volume_max_bytes", "ISOBOX_VOLUME_MAX_BYTES", CT_SIZE,
     OFF(volume_max_bytes), MIB, 1024 * GIB},
    {"volume_max_per_tenant", "ISOBOX_VOLUME_MAX_PER_TENANT", CT_INT,
     OFF(volume_max_per_tenant), 0, 1000000},
    {"volume_max_total_bytes_per_tenant",
     "ISOBOX_VOLUME_MAX_TOTAL_BYTES_PER_TENANT", CT_SIZE,
     OFF(volume_max_total_bytes_per_tenant), MIB, 64 * 1024 * GIB},
    {"docker.host", "DOCKER_HOST", CT_STR, OFF(docker_host), 0, 0},
    /* DOCKER_TLS_VERIFY has docker CLI semantics; see apply_env(). */
    {"docker.tls_verify", NULL, CT_BOOL, OFF(docker_tls_verify), 0, 1},
    {"docker.cert_path", "DOCKER_CERT_PATH", CT_STR0, OFF(docker_cert_path), 0,
     0},
    {"docker.api_version", "DOCKER_API_VERSION", CT_STR,
     OFF(docker_api_version), 0, 0},
    {"docker.runtime", "ISOBOX_RUNTIME", CT_STR, OFF(runtime), 0, 0},
    {"docker.network_runtime", NULL, CT_STR, OFF(network_runtime), 0, 0},
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))

/* clang-format off */
static const char *const top_allowed[] = {
    "threads",
    "registry",
    "images_lock",
    "guest_path",
    "state_dir",
    "run_dir",
    "concurrency",
    "queue_timeout_ms",
    "max_body_bytes",
    "max_files",
    "allow_network",
    "egress_network",
    "egress_dns",
    "api_key",
    "rate_per_min",
    "rate_burst",
    "cgroup_parent",
    "keys_file",
    "trusted_proxies",
    "pool_size",
    "pool_languages",
    "pool_ttl_ms",
    "pool_max",
    "pool_idle_ms",
    "pool_memory_budget_bytes",
    "db_map_bytes",
    "state_map_bytes",
    "ratelimit_max_buckets",
    "store_root",
    "store_image",
    "store_size",
    "store_reserve_bytes",
    "session_disk_bytes",
    "session_max",
    "session_max_per_tenant",
    "session_ttl_sec",
    "session_max_ttl_sec",
    "session_idle_stop_ms",
    "kernel_idle_stop_ms",
    "kernel_pool_size",
    "kernel_pool_languages",
    "session_max_upload_bytes",
    "session_files_via_guest",
    "volume_default_bytes",
    "volume_max_bytes",
    "volume_max_per_tenant",
    "volume_max_total_bytes_per_tenant",
    "docker",
    "limits",
    "memory_require_key",
    "memory_max_value_bytes",
    "memory_max_key_bytes",
    "memory_tenant_bytes",
    "memory_tenant_keys",
    "memory_rate_per_min",
    "memory_rate_burst",
    NULL,
};
/* clang-format on */

static const char *const docker_allowed[] = {
    "host",    "tls_verify",	  "cert_path", "api_version",
    "runtime", "network_runtime", NULL,
};

static const char *const limits_allowed[] = {"defaults", "floors", "ceilings",
					     NULL};

static int *int_at(struct config *c, const struct config_key *k)
{
	return (int *)(void *)((char *)c + k->off);
}

static int64_t *i64_at(struct config *c, const struct config_key *k)
{
	return (int64_t *)(void *)((char *)c + k->off);
}

static char **str_at(struct config *c, const struct config_key *k)
{
	return (char **)(void *)((char *)c + k->off);
}

static long long num_of(const struct config *c, const struct config_key *k)
{
	const void *p = (const char *)c + k->off;

	if (k->type == CT_INT || k->type == CT_BOOL) {
		return *(const int *)p;
	}
	return *(const int64_t *)p;
}

static const char *str_of(const struct config *c, const struct config_key *k)
{
	return *(char *const *)(const void *)((const char *)c + k->off);
}

static void set_str(char **slot, const char *v)
{
	free(*slot);
	*slot = xstrdup(v);
}

void config_defaults(struct config *c)
{
	memset(c, 0, sizeof(*c));
	c->threads = 8;
	c->registry = xstrdup(ISOBOX_PKGDATADIR "/registry");
	c->images_lock = xstrdup("/var/lib/isobox/images.lock");
	c->guest_path = xstrdup(ISOBOX_PKGLIBEXECDIR "/isobox-guest");
	c->state_dir = xstrdup("/var/lib/isobox");
	c->run_dir = xstrdup("/run/isobox");
	c->concurrency = 4;
	c->queue_timeout_ms = 10000;
	c->max_body_bytes = 4 * MIB;
	c->max_files = 64;
	c->allow_network = 0;
	c->egress_network = xstrdup("isobox-egress");
	c->egress_dns = xstrdup("");
	c->api_key = xstrdup("");
	c->rate_per_min = 30;
	c->rate_burst = 10;
	c->cgroup_parent = xstrdup("isobox.slice");
	c->keys_file = xstrdup("");
	c->trusted_proxies = xstrdup("");
	c->pool_size = 2;
	c->pool_languages = xstrdup("python");
	c->pool_ttl_ms = 600000;
	c->pool_max = 4;
	c->pool_idle_ms = 300000;
	c->pool_memory_budget_bytes = 0;
	c->db_map_bytes = 256 * MIB;
	c->state_map_bytes = 1 * GIB;
	c->ratelimit_max_buckets = 100000;
	c->memory_require_key = 0;
	c->memory_max_value_bytes = 8 * MIB;
	c->memory_max_key_bytes = 512;
	c->memory_tenant_bytes = 10 * MIB;
	c->memory_tenant_keys = 10000;
	c->memory_rate_per_min = 60000;
	c->memory_rate_burst = 2000;
	c->store_root = xstrdup("/var/lib/isobox/store");
	c->store_image = xstrdup("/var/lib/isobox/store.img");
	c->store_size = 8 * GIB;
	c->store_reserve_bytes = 512 * MIB;
	c->session_disk_bytes = 512 * MIB;
	c->session_max = 200;
	c->session_max_per_tenant = 20;
	c->session_ttl_sec = 86400;
	c->session_max_ttl_sec = 7 * 86400;
	c->session_idle_stop_ms = 300000;
	c->kernel_idle_stop_ms = 1800000;
	c->kernel_pool_size = 1;
	c->kernel_pool_languages = xstrdup("python");
	c->session_max_upload_bytes = 64 * MIB;
	c->session_files_via_guest = 0;
	c->volume_default_bytes = 512 * MIB;
	c->volume_max_bytes = 8 * GIB;
	c->volume_max_per_tenant = 100;
	c->volume_max_total_bytes_per_tenant = 16 * GIB;

	c->docker_host = xstrdup("unix:///var/run/docker.sock");
	c->docker_tls_verify = 0;
	c->docker_cert_path = xstrdup("");
	c->docker_api_version = xstrdup("1.41");
	c->runtime = xstrdup("runsc-isobox");
	c->network_runtime = xstrdup("runsc-isobox-net");

	c->defaults = (struct limits){
	    .memory_bytes = 256 * MIB,
	    .cpus = 1.0,
	    .pids = 64,
	    .output_bytes = 64 * KIB,
	    .wall_time_ms = 5000,
	    .compile_wall_time_ms = 15000,
	    .compile_memory_bytes = 512 * MIB,
	    .tmpfs_bytes = 64 * MIB,
	};
	c->floors = (struct limits){
	    .memory_bytes = 8 * MIB,
	    .cpus = 0.1,
	    .pids = 1,
	    .output_bytes = 1 * KIB,
	    .wall_time_ms = 100,
	    .compile_wall_time_ms = 1000,
	    .compile_memory_bytes = 64 * MIB,
	    .tmpfs_bytes = 1 * MIB,
	};
	c->ceilings = (struct limits){
	    .memory_bytes = 512 * MIB,
	    .cpus = 2.0,
	    .pids = 256,
	    .output_bytes = 256 * KIB,
	    .wall_time_ms = 20000,
	    .compile_wall_time_ms = 60000,
	    .compile_memory_bytes = 1 * GIB,
	    .tmpfs_bytes = 256 * MIB,
	};
}

void config_free(struct config *c)
{
	size_t i;

	for (i = 0; i < NKEYS; i++) {
		if (keys[i].type == CT_STR || keys[i].type == CT_STR0 ||
		    keys[i].type == CT_LIST) {
			char **s = str_at(c, &keys[i]);

			free(*s);
			*s = NULL;
		}
	}
	memset(c, 0, sizeof(*c));
}

/* Store a parsed number into the slot of k after a range check. what names
 * the source in messages ("FILE:LINE: threads", "environment variable
 * ISOBOX_THREADS"). */
static int store_number(struct config *c, const struct config_key *k,
			long long v, const char *what, struct isobox_err *err)
{
	if (v < k->min || v > k->max) {
		return err_set(err, CFG_STATUS, CFG_CODE,
			       "%s: %lld is out of range (%lld..%lld)", what, v,
			       k->min, k->max);
	}
	if (k->type == CT_INT || k->type == CT_BOOL) {
		*int_at(c, k) = (int)v;
	} else {
		*i64_at(c, k) = (int64_t)v;
	}
	return 0;
}

static int apply_yaml_key(struct config *c, struct yamlutil_doc *d,
			  yaml_node_t *n, const struct config_key *k,
			  struct isobox_err *err)
{
	char what[600];
	long long v;
	int b;
	char *s;

	switch (k->type) {
	case CT_LIST:
		if (n->type == YAML_SEQUENCE_NODE) {
			char **sv = NULL;
			struct buf joined = {0};
			size_t i;

			if (yamlutil_to_strv(d, n, k->name, &sv, err) < 0) {
				return -1;
			}
			buf_adds(&joined, "");
			for (i = 0; sv[i]; i++) {
				if (i > 0) {
					buf_adds(&joined, ",");
				}
				buf_adds(&joined, sv[i]);
			}
			strv_free(sv);
			free(*str_at(c, k));
			*str_at(c, k) = xstrdup(joined.p);
			buf_free(&joined);
			return 0;
		}
		/* FALLTHROUGH */
	case CT_STR:
	case CT_STR0:
		if (yamlutil_is_null(n)) {
			set_str(str_at(c, k), "");
			return 0;
		}
		if (yamlutil_to_str(d, n, k->name, &s, err) < 0) {
			return -1;
		}
		free(*str_at(c, k));
		*str_at(c, k) = s;
		return 0;
	case CT_BOOL:
		if (yamlutil_to_bool(d, n, k->name, &b, err) < 0) {
			return -1;
		}
		*int_at(c, k) = b;
		return 0;
	case CT_SIZE:
		if (yamlutil_to_size(d, n, k->name, &v, err) < 0) {
			return -1;
		}
		break;
	case CT_INT:
	case CT_I64:
		if (yamlutil_to_ll(d, n, k->name, &v, err) < 0) {
			return -1;
		}
		break;
	}
	snprintf(what, sizeof(what), "%s:%d: %s", d->file, yamlutil_line(n),
		 k->name);
	return store_number(c, k, v, what, err);
}

static int apply_yaml_limits(struct config *c, struct yamlutil_doc *d,
			     yaml_node_t *lim, struct isobox_err *err)
{
	static const char *const sets[] = {"defaults", "floors", "ceilings"};
	struct limits *dst[3];
	size_t i;

	dst[0] = &c->defaults;
	dst[1] = &c->floors;
	dst[2] = &c->ceilings;
	if (yamlutil_map_check(d, lim, limits_allowed, "limits", err) < 0) {
		return -1;
	}
	for (i = 0; i < 3; i++) {
		yaml_node_t *n = yamlutil_map_get(d, lim, sets[i]);
		struct limits_partial p = {0};
		char key[32];

		if (n == NULL) {
			continue;
		}
		snprintf(key, sizeof(key), "limits.%s", sets[i]);
		if (yamlutil_to_limits(d, n, key, &p, err) < 0) {
			return -1;
		}
		limits_overlay(dst[i], &p);
	}
	return 0;
}

static int apply_file(struct config *c, const char *file,
		      struct isobox_err *err)
{
	struct yamlutil_doc d;
	yaml_node_t *root;
	yaml_node_t *docker;
	yaml_node_t *lim;
	size_t i;
	int rc = -1;

	if (yamlutil_load_file(&d, file, err) < 0) {
		return -1;
	}
	root = yamlutil_root(&d);
	if (root == NULL || yamlutil_is_null(root)) {
		/* An empty file (or only comments): all defaults. */
		rc = 0;
		goto out;
	}
	if (yamlutil_map_check(&d, root, top_allowed, "", err) < 0) {
		goto out;
	}
	docker = yamlutil_map_get(&d, root, "docker");
	if (docker != NULL &&
	    yamlutil_map_check(&d, docker, docker_allowed, "docker", err) < 0) {
		goto out;
	}
	for (i = 0; i < NKEYS; i++) {
		const struct config_key *k = &keys[i];
		yaml_node_t *n;

		if (strncmp(k->name, "docker.", 7) == 0) {
			n = yamlutil_map_get(&d, docker, k->name + 7);
		} else {
			n = yamlutil_map_get(&d, root, k->name);
		}
		if (n != NULL && apply_yaml_key(c, &d, n, k, err) < 0) {
			goto out;
		}
	}
	lim = yamlutil_map_get(&d, root, "limits");
	if (lim != NULL && apply_yaml_limits(c, &d, lim, err) < 0) {
		goto out;
	}
	rc = 0;
out:
	yamlutil_free(&d);
	return rc;
}

static int apply_env(struct config *c, struct isobox_err *err)
{
	const char *tls;
	size_t i;

	for (i = 0; i < NKEYS; i++) {
		const struct config_key *k = &keys[i];
		const char *v;
		char what[96];
		long long n;
		int b;

		if (k->env == NULL || (v = getenv(k->env)) == NULL) {
			continue;
		}
		if (v[0] == '\0' && strcmp(k->env, "ISOBOX_API_KEY") != 0) {
			continue;
		}
		snprintf(what, sizeof(what), "environment variable %s", k->env);
		switch (k->type) {
		case CT_STR:
		case CT_STR0:
		case CT_LIST:
			set_str(str_at(c, k), v);
			break;
		case CT_BOOL:
			if (parse_bool(v, &b) < 0) {
				return err_set(err, CFG_STATUS, CFG_CODE,
					       "%s: expected true or false, "
					       "got '%.64s'",
					       what, v);
			}
			*int_at(c, k) = b;
			break;
		case CT_SIZE:
			if (parse_size(v, &n) < 0) {
				return err_set(err, CFG_STATUS, CFG_CODE,
					       "%s: expected a byte count, "
					       "got '%.64s'",
					       what, v);
			}
			if (store_number(c, k, n, what, err) < 0) {
				return -1;
			}
			break;
		case CT_INT:
		case CT_I64:
			if (parse_ll(v, &n) < 0) {
				return err_set(err, CFG_STATUS, CFG_CODE,
					       "%s: expected an integer, "
					       "got '%.64s'",
					       what, v);
			}
			if (store_number(c, k, n, what, err) < 0) {
				return -1;
			}
			break;
		}
	}
	/* docker CLI semantics: any non-empty value turns verification on,
	 * "0" and "false" included. */
	tls = getenv("DOCKER_TLS_VERIFY");
	if (tls != NULL && tls[0] != '\0') {
		c->docker_tls_verify = 1;
	}
	return 0;
}

/* The invoking user's home directory, for ~/.docker. */
static char *home_dir(void)
{
	const char *h = getenv("HOME");
	struct passwd pw;
	struct passwd *res = NULL;
	char tmp[4096];

	if (h != NULL && h[0] != '\0') {
		return xstrdup(h);
	}
	if (getpwuid_r(getuid(), &pw, tmp, sizeof(tmp), &res) == 0 &&
	    res != NULL && pw.pw_dir != NULL) {
		return xstrdup(pw.pw_dir);
	}
	return xstrdup("/");
}

static int api_version_ok(const char *v)
{
	const char *p = v;
	int dots = 0;

	if (*p < '0' || *p > '9') {
		return 0;
	}
	for (; *p != '\0'; p++) {
		if (*p == '.') {
			if (p[1] < '0' || p[1] > '9') {
				return 0;
			}
			dots++;
		} else if (*p < '0' || *p > '9') {
			return 0;
		}
	}
	return dots == 1;
}

static int docker_host_ok(const char *h)
{
	if (strncmp(h, "unix://", 7) == 0) {
		return h[7] == '/';
	}
	if (strncmp(h, "tcp://", 6) == 0) {
		return h[6] != '\0' && h[6] != '/';
	}
	return 0;
}

/* Parse a comma/blank-separated list of IPv4 resolvers into out (canonical
 * dotted form, as iptables prints it). On error, -1 and, when bad is not
 * NULL, the first wrong entry (or the whole list when there are too many). */
static int dns_list_parse(const char *list, char out[][16], int max, char *bad,
			  size_t cap)
{
	const char *p = list;
	int n = 0;

	while (*p) {
		size_t len = strcspn(p, ", \t");
		struct in_addr a;
		char tmp[64];

		if (len == 0) {
			p++;
			continue;
		}
		snprintf(tmp, sizeof(tmp), "%.*s", (int)(len < 63 ? len : 63),
			 p);
		if (len > 15 || inet_pton(AF_INET, tmp, &a) != 1) {
			if (bad != NULL) {
				snprintf(bad, cap, "%s", tmp);
			}
			return -1;
		}
		if (n < max) {
			inet_ntop(AF_INET, &a, out[n], 16);
		}
		n++;
		p += len;
	}
	if (n > max) {
		/* Too many (a wrong entry anywhere was named instead). */
		if (bad != NULL) {
			snprintf(bad, cap, "%.40s", list);
		}
		return -1;
	}
	return n;
}

int config_dns_list(const char *list, char out[][16], int max)
{
	return dns_list_parse(list, out, max, NULL, 0);
}

static int dns_list_ok(const char *list, char *bad, size_t cap)
{
	char v[CONFIG_MAX_DNS][16];

	return dns_list_parse(list, v, CONFIG_MAX_DNS, bad, cap) < 0 ? -1 : 0;
}

/* Fill err for "limits.A.FIELD (x) is above limits.B.FIELD (y)". */
static int limits_above(const char *a, const char *b, const char *name,
			double x, double y, struct isobox_err *err)
{
	return err_set(err, CFG_STATUS, CFG_CODE,
		       VALIDATE_PREFIX "limits.%s.%s (%.15g) is above "
				       "limits.%s.%s (%.15g)",
		       a, name, x, b, name, y);
}

static int validate_limits(const struct config *c, struct isobox_err *err)
{
	unsigned bit;

	for (bit = 1; bit & LIM_ALL; bit <<= 1) {
		const char *name = limits_name(bit);
		double lo = limits_get(&c->floors, bit);
		double def = limits_get(&c->defaults, bit);
		double hi = limits_get(&c->ceilings, bit);
		double min = 1;

		if (bit == LIM_CPUS) {
			min = DOCKER_MIN_CPUS;
		} else if (bit == LIM_MEMORY || bit == LIM_COMPILE_MEMORY) {
			min = (double)DOCKER_MIN_MEMORY;
		}
		if (!(lo >= min)) {
			return err_set(err, CFG_STATUS, CFG_CODE,
				       VALIDATE_PREFIX
				       "limits.floors.%s "
				       "(%.15g) must be at least %.15g",
				       name, lo, min);
		}
		if (lo > hi) {
			return limits_above("floors", "ceilings", name, lo, hi,
					    err);
		}
		if (lo > def) {
			return limits_above("floors", "defaults", name, lo, def,
					    err);
		}
		if (def > hi) {
			return limits_above("defaults", "ceilings", name, def,
					    hi, err);
		}
	}
	return 0;
}

/* "threads (ISOBOX_THREADS)": a key and the variable that overrides it. */
static const char *key_label(const struct config_key *k, char *buf, size_t cap)
{
	if (k->env == NULL) {
		return k->name;
	}
	snprintf(buf, cap, "%s (%s)", k->name, k->env);
	return buf;
}

int config_validate(const struct config *c, struct isobox_err *err)
{
	char bad[64];
	char label[96];
	size_t i;

	for (i = 0; i < NKEYS; i++) {
		const struct config_key *k = &keys[i];
		long long v;

		if (k->type == CT_STR || k->type == CT_STR0 ||
		    k->type == CT_LIST) {
			const char *s = str_of(c, k);

			if (s == NULL || (k->type == CT_STR && s[0] == '\0')) {
				return err_set(
				    err, CFG_STATUS, CFG_CODE,
				    VALIDATE_PREFIX "%s must not "
						    "be empty",
				    key_label(k, label, sizeof(label)));
			}
			continue;
		}
		v = num_of(c, k);
		if (v < k->min || v > k->max) {
			return err_set(err, CFG_STATUS, CFG_CODE,
				       VALIDATE_PREFIX "%s: %lld is out of "
						       "range (%lld..%lld)",
				       key_label(k, label, sizeof(label)), v,
				       k->min, k->max);
		}
	}
	if (!docker_host_ok(c->docker_host)) {
		return err_set(err, CFG_STATUS, CFG_CODE,
			       VALIDATE_PREFIX
			       "docker.host (DOCKER_HOST) "
			       "'%.200s' must be unix:///PATH or "
			       "tcp://HOST:PORT",
			       c->docker_host);
	}
	if (!name_ok(c->egress_network, 63)) {
		return err_set(err, CFG_STATUS, CFG_CODE,
			       VALIDATE_PREFIX
			       "egress_network (ISOBOX_EGRESS_NETWORK) "
			       "'%.64s' must be 1-63 of [A-Za-z0-9_.-]",
			       c->egress_network);
	}
	if (dns_list_ok(c->egress_dns, bad, sizeof(bad)) < 0) {
		return err_set(err, CFG_STATUS, CFG_CODE,
			       VALIDATE_PREFIX
			       "egress_dns (ISOBOX_EGRESS_DNS): '%s' is not "
			       "an IPv4 address (at most %d resolvers)",
			       bad, CONFIG_MAX_DNS);
	}
	if (!api_version_ok(c->docker_api_version)) {
		return err_set(err, CFG_STATUS, CFG_CODE,
			       VALIDATE_PREFIX
			       "docker.api_version "
			       "(DOCKER_API_VERSION) '%.64s' must look like "
			       "1.41",
			       c->docker_api_version);
	}
	if (c->store_root[0] != '/' || c->store_image[0] != '/') {
		return err_set(err, CFG_STATUS, CFG_CODE,
			       VALIDATE_PREFIX
			       "store_root and store_image must be absolute "
			       "paths");
	}
	return validate_limits(c, err);
}

int config_load(struct config *c, const char *path, struct isobox_err *err)
{
	const char *file = path;
	int explicit = 1;
	int have_file = 0;

	config_defaults(c);
	if (file == NULL) {
		const char *env = getenv("ISOBOX_CONFIG");

		if (env != NULL && env[0] != '\0') {
			file = env;
		} else {
			file = ISOBOX_DEFAULT_CONFIG;
			explicit = 0;
		}
	}
	if (explicit || access(file, F_OK) == 0 || errno != ENOENT) {
		if (apply_file(c, file, err) < 0) {
			goto fail;
		}
		have_file = 1;
	}
	if (apply_env(c, err) < 0) {
		goto fail;
	}
	if (c->docker_tls_verify && c->docker_cert_path[0] == '\0') {
		char *home = home_dir();

		free(c->docker_cert_path);
		c->docker_cert_path = xasprintf("%s/.docker", home);
		free(home);
	}
	if (config_validate(c, err) < 0) {
		/* Name the file the operator is most likely to fix. */
		if (err != NULL && have_file &&
		    strncmp(err->msg, VALIDATE_PREFIX,
			    strlen(VALIDATE_PREFIX)) == 0) {
			char *m = xasprintf("%s: %s", file,
					    err->msg + strlen(VALIDATE_PREFIX));

			snprintf(err->msg, sizeof(err->msg), "%s", m);
			free(m);
		}
		goto fail;
	}
	return 0;
fail:
	config_free(c);
	return -1;
}
