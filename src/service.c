/* service.c - process-wide set-up and the reaper; see service.h. */
#include "service.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"
#include "cgroup.h"
#include "metrics.h"
#include "registry.h"

/* Field 22 of /proc/PID/stat: the process start time in clock ticks since
 * boot. Together with the pid it names a process without reuse races. */
static int proc_start_time(pid_t pid, unsigned long long *out)
{
	char path[64];
	char line[1024];
	FILE *f;
	char *p;
	int field = 2;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (f == NULL) {
		return -1;
	}
	if (fgets(line, sizeof(line), f) == NULL) {
		fclose(f);
		return -1;
	}
	fclose(f);
	p = strrchr(line, ')'); /* the command name may hold spaces */
	if (p == NULL) {
		return -1;
	}
	p++;
	while (*p && field < 22) {
		if (*p == ' ') {
			field++;
		}
		p++;
	}
	return sscanf(p, "%llu", out) == 1 ? 0 : -1;
}

void service_identity(struct service *s)
{
	unsigned long long st = 0;

	if (gethostname(s->hostname, sizeof(s->hostname) - 1) < 0) {
		snprintf(s->hostname, sizeof(s->hostname), "localhost");
	}
	proc_start_time(getpid(), &st);
	snprintf(s->owner, sizeof(s->owner), "%s:%d:%llu", s->hostname,
		 (int)getpid(), st);
}

int service_open_store(struct service *s, struct isobox_err *err)
{
	char *db;
	int rc;

	if (mkdir(s->cfg.run_dir, 0755) < 0 && errno != EEXIST) {
		return err_set(err, 500, "store_unavailable",
			       "cannot create %s: %s", s->cfg.run_dir,
			       strerror(errno));
	}
	db = xasprintf("%s/db", s->cfg.run_dir);
	rc = store_env_open(&s->store, STORE_RUN, db, s->cfg.db_map_bytes, err);
	free(db);
	if (rc < 0) {
		return -1;
	}
	store_bound_set(&s->store, STORE_BUCKETS,
			(size_t)s->cfg.ratelimit_max_buckets);
	if (mkdir(s->cfg.state_dir, 0750) < 0 && errno != EEXIST) {
		return err_set(err, 500, "store_unavailable",
			       "cannot create %s: %s", s->cfg.state_dir,
			       strerror(errno));
	}
	db = xasprintf("%s/db", s->cfg.state_dir);
	rc = store_env_open(&s->store, STORE_STATE, db, s->cfg.state_map_bytes,
			    err);
	free(db);
	return rc;
}

int service_init(struct service *s, const char *config_path,
		 struct isobox_err *err)
{
	struct registry *r;
	int rc;

	memset(s, 0, sizeof(*s));
	bstore_init(&s->bstore);
	atomic_init(&s->stopping, 0);
	pthread_mutex_init(&s->hk_lock, NULL);
	pthread_cond_init(&s->hk_cond, NULL);
	s->config_path = config_path ? xstrdup(config_path) : NULL;
	if (config_load(&s->cfg, config_path, err) < 0) {
		return -1;
	}
	if (docker_init(&s->docker, s->cfg.docker_host,
			s->cfg.docker_tls_verify, s->cfg.docker_cert_path,
			s->cfg.docker_api_version, err) < 0) {
		return -1;
	}
	rc = slots_init(&s->slots, s->cfg.run_dir, s->cfg.concurrency);
	if (rc < 0) {
		return err_set(err, 500, "internal",
			       "cannot create the slot files in %s: %s",
			       s->cfg.run_dir, strerror(-rc));
	}
	service_identity(s);
	s->started_ms = now_ms();
	{
		char h[65];
		char *id = xasprintf("%s:%s", s->hostname, s->cfg.run_dir);

		auth_sha256_hex(id, h);
		free(id);
		snprintf(s->deployment, sizeof(s->deployment), "%.16s", h);
	}
	/* Runtime state (pool claims, rate buckets, admissions) lives under
	 * run_dir: it means nothing after a reboot. Durable user data lives
	 * under state_dir, with synchronous commits. */
	store_init(&s->store);
	kv_init(&s->kv, &s->store);
	if (service_open_store(s, err) < 0) {
		return -1;
	}
	{
		struct isobox_err be;

		if (bstore_open(&s->bstore, s->cfg.store_root,
				s->cfg.store_reserve_bytes, &be) < 0) {
			log_warn("sessions and volumes unavailable: %s",
				 be.msg);
		}
	}
	{
		char *mp = xasprintf("%s/metrics", s->cfg.run_dir);
		int mrc = metrics_open(mp);

		if (mrc < 0) {
			log_warn("metrics disabled: %s: %s", mp,
				 strerror(-mrc));
		}
		free(mp);
	}
	{
		struct keyring *k =
		    auth_load(s->cfg.api_key, s->cfg.keys_file, err);

		if (k == NULL) {
			return -1;
		}
		auth_free(k);
		auth_reload(s->cfg.api_key, s->cfg.keys_file, 1);
	}
	r = registry_load(s->cfg.registry, s->cfg.images_lock, err);
	if (r == NULL) {
		return -1;
	}
	registry_current_set(r);
	return 0;
}

const char *service_cgroup_parent(struct service *s)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	struct isobox_err e;
	json_object *info;
	json_object *v;
	const char *name = s->cfg.cgroup_parent;

	pthread_mutex_lock(&lock);
	if (!s->cgroup_parent_known) {
		while (*name == '/') {
			name++;
		}
		info = docker_info(&s->docker, &e);
		if (info &&
		    json_object_object_get_ex(info, "CgroupDriver", &v)) {
			s->cgroup_systemd =
			    strcmp(json_object_get_string(v), "systemd") == 0;
			s->cgroup_parent_known = 1;
		}
		json_object_put(info);
		snprintf(s->cgroup_parent, sizeof(s->cgroup_parent), "%s%s",
			 s->cgroup_systemd ? "" : "/", name);
	}
	pthread_mutex_unlock(&lock);
	return s->cgroup_parent;
}

void service_free(struct service *s)
{
	registry_current_set(NULL);
	kv_free(&s->kv);
	store_close(&s->store);
	bstore_close(&s->bstore);
	slots_free(&s->slots);
	docker_free(&s->docker);
	config_free(&s->cfg);
	free(s->config_path);
	free(s->cg_suspects);
	s->cg_suspects = NULL;
}

void service_kick(struct service *s)
{
	pthread_mutex_lock(&s->hk_lock);
	s->hk_kicked = 1;
	pthread_cond_broadcast(&s->hk_cond);
	pthread_mutex_unlock(&s->hk_lock);
}

int service_owner_alive(const struct service *s, const char *owner)
{
	char host[256];
	int pid;
	unsigned long long start;
	unsigned long long now_start;
	const char *c1 = strchr(owner, ':');

	if (c1 == NULL || (size_t)(c1 - owner) >= sizeof(host)) {
		return 0;
	}
	memcpy(host, owner, (size_t)(c1 - owner));
	host[c1 - owner] = '\0';
	if (strcmp(host, s->hostname) != 0) {
		return 1; /* another host's: not ours to judge by pid */
	}
	if (sscanf(c1 + 1, "%d:%llu", &pid, &start) != 2) {
		return 0;
	}
	if (proc_start_time(pid, &now_start) < 0) {
		return 0;
	}
	return now_start == start;
}

int service_reap(struct service *s)
{
	struct isobox_err e;
	json_object *list;
	char *lockp = xasprintf("%s/reaper.lock", s->cfg.run_dir);
	int fd = open(lockp, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
	size_t i;
	int removed = 0;
	int64_t now = wall_ms();

	free(lockp);
	if (fd < 0) {
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		close(fd);
		return 0; /* another process is sweeping */
	}
	list = docker_container_list(&s->docker, "isobox.managed=1", &e);
	if (list == NULL) {
		close(fd);
		return -1;
	}
	for (i = 0; i < json_object_array_length(list); i++) {
		json_object *c = json_object_array_get_idx(list, i);
		json_object *labels;
		json_object *v;
		json_object *idv;
		const char *owner = "";
		long long deadline = 0;
		int dead;

		if (!json_object_object_get_ex(c, "Id", &idv) ||
		    !json_object_object_get_ex(c, "Labels", &labels)) {
			continue;
		}
		if (json_object_object_get_ex(labels, "isobox.owner", &v)) {
			owner = json_object_get_string(v);
		}
		if (json_object_object_get_ex(labels, "isobox.deadline", &v)) {
			parse_ll(json_object_get_string(v), &deadline);
		}
		/* Warm sandboxes outlive the process that made them: the
		 * pool manages them, and only their deadline counts here. */
		/* Session sandboxes belong to their rows (session.c
		 * reconciles them), never to the process that started
		 * them. */
		if (json_object_object_get_ex(labels, "isobox.kind", &v) &&
		    (strcmp(json_object_get_string(v), "session") == 0 ||
		     strcmp(json_object_get_string(v), "kernelpool") == 0)) {
			continue; /* kernelpool: warm kernel sandboxes, too */
		}
		if (json_object_object_get_ex(labels, "isobox.kind", &v) &&
		    strcmp(json_object_get_string(v), "pool") == 0) {
			dead = deadline > 0 && deadline < now;
		} else {
			dead = !service_owner_alive(s, owner) ||
			       (deadline > 0 && deadline < now);
		}
		if (!dead) {
			continue;
		}
		if (docker_container_remove(
			&s->docker, json_object_get_string(idv), &e) == 0) {
			removed++;
			log_info("reaped sandbox %.12s (owner %s)",
				 json_object_get_string(idv), owner);
		}
	}
	json_object_put(list);
	close(fd);
	return removed;
}

enum { REAP_CGROUPS_MAX = 512 };

static int id_in(char (*ids)[65], int n, const char *id)
{
	int i;

	for (i = 0; i < n; i++) {
		if (strcmp(ids[i], id) == 0) {
			return 1;
		}
	}
	return 0;
}

/* 1 when shim (a pid from cgroup_container_shim) serves container id by
 * its -id; its -address (its containerd's socket) is then in addr. */
static int shim_serves(long shim, const char *id, char *addr, size_t size)
{
	char sid[65];

	return shim > 0 &&
	       cgroup_shim_args(shim, sid, sizeof(sid), addr, size) &&
	       strcmp(sid, id) == 0;
}

/* A live shim whose sandbox's container the engine has forgotten (seen
 * after a `docker rm -f` that returned while containerd kept the task):
 * killed, so that its sandbox can go too, when it is one of our engine's
 * (its -address is our engine's containerd, its -id the container's).
 * Another engine's shim is never touched. 1 when killed. */
static int kill_forgotten_shim(struct service *s, long shim, const char *id)
{
	char addr[sizeof(s->engine_shim_address)];

	if (s->engine_shim_address[0] == '\0' ||
	    !shim_serves(shim, id, addr, sizeof(addr)) ||
	    strcmp(addr, s->engine_shim_address) != 0 ||
	    kill((pid_t)shim, SIGKILL) < 0) {
		return 0;
	}
	log_warn("killed the shim (pid %ld) of gone container %.12s: the "
		 "engine no longer lists it",
		 shim, id);
	return 1;
}

int service_reap_cgroups(struct service *s)
{
	struct isobox_err e;
	char(*ids)[65] = xcalloc(REAP_CGROUPS_MAX, sizeof(*ids));
	char(*suspects)[65] = xcalloc(REAP_CGROUPS_MAX, sizeof(*suspects));
	json_object *list;
	int n = cgroup_slice_ids("/sys/fs/cgroup", s->cfg.cgroup_parent, ids,
				 REAP_CGROUPS_MAX);
	int nsuspects = 0;
	int removed = 0;
	int i;

	list = n > 0 ? docker_container_list(&s->docker, NULL, &e) : NULL;
	if (n > 0 && list == NULL) {
		free(ids);
		free(suspects);
		return -1; /* the engine did not answer: touch nothing */
	}
	for (i = 0; i < n; i++) {
		size_t j;
		int known = 0;
		int killed = 0;
		long shim;
		char addr[sizeof(s->engine_shim_address)];

		/* Every container, whoever made it: one the engine has
		 * never heard of (or has forgotten) may be an orphan. */
		for (j = 0; j < json_object_array_length(list) && !known; j++) {
			json_object *idv;

			known =
			    json_object_object_get_ex(
				json_object_array_get_idx(list, j), "Id",
				&idv) &&
			    strcmp(json_object_get_string(idv), ids[i]) == 0;
		}
		if (known) {
			/* The containerd socket our engine's shims use,
			 * from a container the engine lists. */
			if (s->engine_shim_address[0] == '\0' &&
			    shim_serves(cgroup_container_shim(
					    "/sys/fs/cgroup",
					    s->cfg.cgroup_parent, ids[i]),
					ids[i], addr, sizeof(addr))) {
				memcpy(s->engine_shim_address, addr,
				       sizeof(addr));
				log_info("engine shims use containerd at %s",
					 addr);
			}
			continue;
		}
		/* Judged on the second sweep that finds it unknown, so a
		 * cgroup that another engine's runtime is just filling is
		 * not taken for one; and never while a process in it is a
		 * live shim's child (another dockerd sharing the slice). */
		if (!id_in(s->cg_suspects, s->cg_nsuspects, ids[i])) {
			memcpy(suspects[nsuspects++], ids[i], 65);
			continue;
		}
		shim = cgroup_container_shim("/sys/fs/cgroup",
					     s->cfg.cgroup_parent, ids[i]);
		if (shim != 0 && !kill_forgotten_shim(s, shim, ids[i])) {
			continue;
		}
		if (cgroup_remove_container("/sys/fs/cgroup",
					    s->cfg.cgroup_parent, ids[i],
					    &killed)) {
			removed++;
			log_info("removed the cgroups of gone container %.12s "
				 "(%d processes killed)",
				 ids[i], killed);
		} else {
			memcpy(suspects[nsuspects++], ids[i], 65);
			log_warn("the cgroups of gone container %.12s are not "
				 "empty yet (%d processes killed)",
				 ids[i], killed);
		}
	}
	json_object_put(list);
	free(ids);
	free(s->cg_suspects);
	s->cg_suspects = suspects;
	s->cg_nsuspects = nsuspects;
	return removed;
}
