/* config.h - the service configuration: /etc/isobox/isobox.yaml read with
 * libyaml, then ISOBOX_* (and DOCKER_*) environment overrides on top.
 *
 * File format (every key optional; unknown keys are an error):
 *
 *   threads: 8                      # FastCGI worker threads per process
 *   registry: /usr/local/share/isobox/registry   # catalogue dir or file
 *   images_lock: /var/lib/isobox/images.lock     # image pins written by builds
 *   guest_path: /usr/local/libexec/isobox/isobox-guest
 *   state_dir: /var/lib/isobox      # durable state: state_dir/db, the
 *                                   # LMDB of user data (synchronous)
 *   run_dir: /run/isobox            # runtime state: slot locks, metrics,
 *                                   # run_dir/db (pool, rate buckets,
 *                                   # admissions; not fsynced)
 *   concurrency: 4                  # sandboxes at once, across processes
 *   queue_timeout_ms: 10000         # wait for a slot before 429 capacity
 *   max_body_bytes: 4194304
 *   max_files: 64
 *   allow_network: false
 *   egress_network: isobox-egress   # Docker network of network runs
 *   egress_dns: [198.51.100.53]     # resolvers for network runs (IPv4)
 *   api_key: ""
 *   rate_per_min: 30
 *   rate_burst: 10
 *   cgroup_parent: isobox.slice
 *   keys_file: ""                   # API keys and tenants (see auth.h)
 *   trusted_proxies: ""             # e.g. "10.0.0.0/8, ::1/128"
 *   pool_size: 2                    # warm sandboxes per pooled language
 *   pool_languages: python          # comma-separated; "" turns the pool off
 *   pool_ttl_ms: 600000             # recycle warm sandboxes older than this
 *   pool_max: 4                     # warm sandboxes per language at most,
 *                                   # by demand (catalogue pool.max wins)
 *   pool_idle_ms: 300000            # no request this long: none kept warm
 *                                   # (catalogue pool.idle_ms wins)
 *   pool_memory_budget_bytes: 0     # the memory warm sandboxes may hold in
 *                                   # all; 0: half the admission budget
 *   db_map_bytes: 256MiB            # LMDB map size of run_dir/db
 *   state_map_bytes: 1GiB           # LMDB map size of state_dir/db
 *   ratelimit_max_buckets: 100000   # rate-limit buckets kept at most
 *   memory_require_key: false       # /v1/memory refuses the public tenant
 *   memory_max_value_bytes: 8MiB    # one /v1/memory value
 *   memory_max_key_bytes: 512       # one /v1/memory key (bytes, <= 512)
 *   memory_tenant_bytes: 10MiB      # per tenant: keys + values
 *   memory_tenant_keys: 10000       # per tenant
 *   memory_rate_per_min: 60000      # /v1/memory calls per address and
 *   memory_rate_burst: 2000         # per key tenant (0: unlimited)
 *   store_root: /var/lib/isobox/store  # btrfs (quotas on): one subvolume
 *                                   # per session workspace and volume
 *   store_image: /var/lib/isobox/store.img  # loop image setup-host makes
 *                                   # when store_root is not on btrfs
 *   store_size: 8GiB                # size of that (sparse) image
 *   store_reserve_bytes: 512MiB     # free bytes kept: 507 storage_full
 *   session_disk_bytes: 512MiB      # a session workspace's hard cap
 *                                   # (qgroup; a keys_file entry's
 *                                   # session_disk_bytes lowers it)
 *   session_max: 200                # sessions on this deployment
 *   session_max_per_tenant: 20      # sessions per tenant (429 above)
 *   session_ttl_sec: 86400          # idle TTL when a create sends none
 *   session_max_ttl_sec: 604800     # ttlSec is clamped to this
 *   session_idle_stop_ms: 300000    # an idle session's sandbox is stopped
 *                                   # (the workspace stays)
 *   kernel_idle_stop_ms: 1800000    # the same for a kernel session (its
 *                                   # variables are lost with the sandbox)
 *   kernel_pool_size: 1             # warm kernel sandboxes per runtime in
 *   kernel_pool_languages: python   # this list (0 or "": none)
 *   session_max_upload_bytes: 64MiB # one PUT .../fs (the web server's
 *                                   # body cap must allow it)
 *   session_files_via_guest: false  # file calls to a running sandbox go
 *                                   # through its guest (for runtimes whose
 *                                   # bind mounts cache: session_run.c)
 *   volume_default_bytes: 512MiB    # a volume's cap when a create sends
 *                                   # no sizeBytes
 *   volume_max_bytes: 8GiB          # the largest sizeBytes
 *   volume_max_per_tenant: 100      # volumes per tenant (429 above)
 *   volume_max_total_bytes_per_tenant: 16GiB  # sum of a tenant's caps
 *   docker:
 *     host: unix:///var/run/docker.sock  # or tcp://HOST:PORT
 *     tls_verify: false
 *     cert_path: ""                 # ca.pem, cert.pem, key.pem
 *     api_version: "1.41"
 *     runtime: runsc-isobox         # named runtime registered with dockerd
 *     network_runtime: runsc-isobox-net
 *   limits:
 *     defaults: {memoryBytes: ..., cpus: ..., pids: ..., outputBytes: ...,
 *                wallTimeMs: ..., compileWallTimeMs: ..., compileMemoryBytes:
 * ..., tmpfsBytes: ...} floors:   {same keys} ceilings: {same keys}
 *
 * Environment overrides: ISOBOX_CONFIG (the path itself), ISOBOX_REGISTRY,
 * ISOBOX_IMAGES_LOCK, ISOBOX_GUEST, ISOBOX_STATE_DIR, ISOBOX_RUN_DIR,
 * ISOBOX_THREADS, ISOBOX_CONCURRENCY, ISOBOX_QUEUE_TIMEOUT_MS,
 * ISOBOX_API_KEY, ISOBOX_RATE_PER_MIN, ISOBOX_RATE_BURST,
 * ISOBOX_ALLOW_NETWORK, ISOBOX_EGRESS_NETWORK, ISOBOX_EGRESS_DNS
 * (comma-separated), ISOBOX_CGROUP_PARENT,
 * ISOBOX_POOL_SIZE, ISOBOX_POOL_LANGUAGES, ISOBOX_POOL_TTL_MS,
 * ISOBOX_KEYS_FILE, ISOBOX_TRUSTED_PROXIES, ISOBOX_RATELIMIT_MAX_BUCKETS,
 * ISOBOX_MEMORY_REQUIRE_KEY, ISOBOX_MEMORY_RATE_PER_MIN,
 * ISOBOX_STORE_ROOT, ISOBOX_STORE_IMAGE, ISOBOX_STORE_SIZE,
 * ISOBOX_STORE_RESERVE_BYTES, ISOBOX_SESSION_DISK_BYTES, ISOBOX_SESSION_MAX,
 * ISOBOX_SESSION_MAX_PER_TENANT, ISOBOX_SESSION_TTL_SEC,
 * ISOBOX_SESSION_MAX_TTL_SEC, ISOBOX_SESSION_IDLE_STOP_MS,
 * ISOBOX_SESSION_MAX_UPLOAD_BYTES, ISOBOX_SESSION_FILES_VIA_GUEST,
 * ISOBOX_RUNTIME, DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH,
 * DOCKER_API_VERSION.
 */
#ifndef ISOBOX_CONFIG_H
#define ISOBOX_CONFIG_H

#include "limits.h"
#include "util.h"

#define ISOBOX_DEFAULT_CONFIG "/etc/isobox/isobox.yaml"
/* At most this many egress_dns resolvers. */
#define CONFIG_MAX_DNS 8

struct config {
	int threads;
	char *registry;
	char *images_lock;
	char *guest_path;
	char *state_dir;
	char *run_dir;
	int concurrency;
	int64_t queue_timeout_ms;
	int64_t max_body_bytes;
	int max_files;
	int allow_network;
	char *egress_network;
	char *egress_dns; /* comma-separated IPv4 resolvers, "" for none */
	char *api_key;
	int rate_per_min;
	int rate_burst;
	char *cgroup_parent;
	char *keys_file;       /* API keys and tenants (auth.h), "" for none */
	char *trusted_proxies; /* CIDRs whose X-Forwarded-For is believed */
	int pool_size;	       /* warm sandboxes kept per pooled language */
	char *pool_languages;  /* comma-separated names, "" for no pool */
	int64_t pool_ttl_ms;   /* a warm sandbox older than this is recycled */
	int pool_max;	       /* warm sandboxes per language, by demand */
	int64_t pool_idle_ms;  /* unused this long: no warm sandbox */
	int64_t pool_memory_budget_bytes; /* 0: half the admission budget */
	int64_t db_map_bytes;		  /* LMDB map size of run_dir/db */
	int64_t state_map_bytes;	  /* LMDB map size of state_dir/db */
	int ratelimit_max_buckets;	  /* bound of the rate-limit table */
	/* /v1/memory (kv.h): its tables are in state_dir/db. */
	int memory_require_key; /* keyless (public) calls get 403 */
	int64_t memory_max_value_bytes;
	int memory_max_key_bytes;
	int64_t memory_tenant_bytes; /* defaults; keys_file entries override */
	int64_t memory_tenant_keys;
	int memory_rate_per_min; /* the memory routes' own buckets, 0: off */
	int memory_rate_burst;
	char *store_root;   /* btrfs mount of workspaces and volumes */
	char *store_image;  /* loop image setup-host makes when the host has
			     * no btrfs at store_root */
	int64_t store_size; /* size of that image (setup-host) */
	int64_t store_reserve_bytes; /* free bytes kept: 507 below */
	/* Sessions (session.h). */
	int64_t session_disk_bytes;   /* workspace qgroup limit */
	int session_max;	      /* sessions in all */
	int session_max_per_tenant;   /* sessions per tenant */
	int64_t session_ttl_sec;      /* default idle TTL */
	int64_t session_max_ttl_sec;  /* ttlSec is clamped to this */
	int64_t session_idle_stop_ms; /* idle sandbox stopped after */
	int64_t kernel_idle_stop_ms;  /* the same for kernel sessions */
	int kernel_pool_size;	      /* warm kernel sandboxes per runtime */
	char *kernel_pool_languages;  /* comma-separated runtimes */
	int64_t session_max_upload_bytes; /* one file upload */
	int session_files_via_guest;	  /* file calls of a running sandbox go
					   * through its guest */
	/* Volumes (volume.h). */
	int64_t volume_default_bytes; /* cap when none is asked for */
	int64_t volume_max_bytes;     /* the largest cap */
	int volume_max_per_tenant;    /* volumes per tenant */
	int64_t volume_max_total_bytes_per_tenant; /* sum of caps */

	char *docker_host; /* "unix:///path" or "tcp://host:port" */
	int docker_tls_verify;
	char *docker_cert_path;
	char *docker_api_version;
	char *runtime;
	char *network_runtime;

	struct limits defaults;
	struct limits floors;
	struct limits ceilings;
};

/* Fill c with built-in defaults (all strings allocated). */
void config_defaults(struct config *c);
/* Load: defaults, then the file at path (NULL: $ISOBOX_CONFIG or the default
 * path; a missing file is fine only when the path was not given
 * explicitly), then environment overrides, then validation (floors <=
 * defaults <= ceilings, positive counts). On error returns -1 and writes a
 * sentence naming the file, line and key into err->msg; c is then freed. */
int config_load(struct config *c, const char *path, struct isobox_err *err);
void config_free(struct config *c);
/* Split a comma/space-separated list of IPv4 addresses (egress_dns) into
 * out (canonical dotted form). Returns how many, or -1 when one is not an
 * IPv4 address or there are more than max. */
int config_dns_list(const char *list, char out[][16], int max);
/* Check c as config_load does after the overrides: numeric ranges (threads
 * 1..256, concurrency 1..4096, ...), non-empty strings, docker.host and
 * docker.api_version syntax, and per limit field floor <= default <=
 * ceiling with floors above the engine's minimums. Returns 0, or -1 with
 * err naming the key. */
int config_validate(const struct config *c, struct isobox_err *err);

#endif
