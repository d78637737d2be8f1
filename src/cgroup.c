/* cgroup.c - slice checks for cgroup v1 and v2; see cgroup.h. */
#include "cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

/* Read a one-line value; "max" (v2) and huge v1 values mean unlimited.
 * 0, or -errno (-EINVAL for a value that is not a number). */
static int read_limit(const char *path, int64_t *out)
{
	FILE *f = fopen(path, "re");
	char line[64];
	long long v;

	if (f == NULL) {
		return -errno;
	}
	if (fgets(line, sizeof(line), f) == NULL) {
		fclose(f);
		return -EIO;
	}
	fclose(f);
	line[strcspn(line, "\n")] = '\0';
	if (strcmp(line, "max") == 0) {
		*out = -1;
		return 0;
	}
	if (parse_ll(line, &v) < 0) {
		return -EINVAL;
	}
	/* cgroup v1 reports "unlimited" as a page-rounded LONG_MAX. */
	*out = v >= (1LL << 62) ? -1 : v;
	return 0;
}

/* Read dir/file into *out; keep the first error in *rc. */
static void read_into(const char *dir, const char *file, int64_t *out, int *rc)
{
	char *p = xasprintf("%s/%s", dir, file);
	int r = read_limit(p, out);

	free(p);
	if (r < 0 && *rc == 0) {
		*rc = r;
	}
}

static int count_children(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (d == NULL) {
		return 0;
	}
	while ((e = readdir(d)) != NULL) {
		if (e->d_type == DT_DIR && e->d_name[0] != '.') {
			n++;
		}
	}
	closedir(d);
	return n;
}

static int is_dir(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

int cgroup_slice_read(const char *root, const char *slice,
		      struct slice_state *st)
{
	char *p;
	char *d;
	int rc = 0;

	memset(st, 0, sizeof(*st));
	st->memory_limit = -1;
	st->pids_limit = -1;
	p = xasprintf("%s/cgroup.controllers", root);
	st->v2 = access(p, F_OK) == 0;
	free(p);
	while (*slice == '/') {
		slice++;
	}
	if (st->v2) {
		d = xasprintf("%s/%s", root, slice);
		st->exists = is_dir(d);
		if (st->exists) {
			read_into(d, "memory.max", &st->memory_limit, &rc);
			read_into(d, "memory.current", &st->memory_usage, &rc);
			read_into(d, "pids.max", &st->pids_limit, &rc);
			st->children = count_children(d);
		}
		free(d);
		return st->exists ? rc : -ENOENT;
	}
	d = xasprintf("%s/memory/%s", root, slice);
	st->exists = is_dir(d);
	if (st->exists) {
		read_into(d, "memory.limit_in_bytes", &st->memory_limit, &rc);
		read_into(d, "memory.usage_in_bytes", &st->memory_usage, &rc);
		st->children = count_children(d);
	}
	free(d);
	d = xasprintf("%s/pids/%s", root, slice);
	if (is_dir(d)) {
		read_into(d, "pids.max", &st->pids_limit, &rc);
	} else {
		st->exists = 0;
	}
	free(d);
	return st->exists ? rc : -ENOENT;
}

int cgroup_slice_ready(const struct slice_state *st, char *why, size_t n)
{
	if (!st->exists) {
		snprintf(why, n,
			 "the isobox slice cgroup does not exist "
			 "(run scripts/setup-host)");
		return 0;
	}
	if (st->memory_limit < 0) {
		snprintf(why, n, "the isobox slice has no memory cap");
		return 0;
	}
	if (st->pids_limit < 0) {
		snprintf(why, n, "the isobox slice has no pids cap");
		return 0;
	}
	return 1;
}

/* The number after "key " in a flat-keyed cgroup file, or -ENOENT when the
 * file or the key is missing. */
static long long key_line(const char *path, const char *key)
{
	FILE *f = fopen(path, "re");
	char line[128];
	size_t klen = strlen(key);
	long long n = -ENOENT;

	if (f == NULL) {
		return -ENOENT;
	}
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, key, klen) == 0 && line[klen] == ' ') {
			n = atoll(line + klen + 1);
		}
	}
	fclose(f);
	return n;
}

/* Path i (0-3) of a container's own cgroup file under slice, in the order
 * they are tried: v1 controller hierarchy in the cgroupfs layout (ID), then
 * the systemd layout (docker-ID.scope); then the same two in the v2 tree.
 * The caller frees it. */
static char *container_file(const char *root, const char *controller,
			    const char *slice, const char *id,
			    const char *v1_file, const char *v2_file, int i)
{
	while (*slice == '/') {
		slice++;
	}
	return xasprintf("%s/%s%s%s/%s%s%s/%s", root, i < 2 ? controller : "",
			 i < 2 ? "/" : "", slice, i % 2 ? "docker-" : "", id,
			 i % 2 ? ".scope" : "", i < 2 ? v1_file : v2_file);
}

/* A counter of a container's own cgroup under parent (container_file's
 * paths, under /sys/fs/cgroup). */
static int container_counter(const char *parent, const char *container_id,
			     const char *controller, const char *v1_file,
			     const char *v2_file, const char *key)
{
	int i;

	for (i = 0; i < 4; i++) {
		char *p = container_file("/sys/fs/cgroup", controller, parent,
					 container_id, v1_file, v2_file, i);
		long long n = key_line(p, key);

		free(p);
		if (n >= 0) {
			return n > INT_MAX ? INT_MAX : (int)n;
		}
	}
	return -ENOENT;
}

int cgroup_oom_kills(const char *parent, const char *container_id)
{
	return container_counter(parent, container_id, "memory",
				 "memory.oom_control", "memory.events",
				 "oom_kill");
}

/* Whether the kernel log (read from its start, non-blocking) has a record
 * with tag followed by a cgroup path naming the container: ".../ID" under
 * cgroupfs or ".../docker-ID.scope" under systemd, the path ending at a
 * ',' or the end of the line. 1 found, 0 not, -errno when /dev/kmsg cannot
 * be read (not root, or no kernel log in this namespace). */
static int kmsg_names_container(const char *tag, const char *container_id)
{
	char rec[8192];
	char scope[128];
	size_t idlen = strlen(container_id);
	size_t taglen = strlen(tag);
	size_t slen;
	int fd;
	int found = 0;

	if (idlen == 0 || idlen > 96) {
		return -EINVAL;
	}
	fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		return -errno;
	}
	snprintf(scope, sizeof(scope), "docker-%s.scope", container_id);
	slen = strlen(scope);
	for (;;) {
		ssize_t n = read(fd, rec, sizeof(rec) - 1);
		char *msg;
		size_t len;

		if (n < 0 && (errno == EPIPE || errno == EINTR)) {
			continue; /* EPIPE: records overwritten while reading */
		}
		if (n <= 0) {
			break; /* EAGAIN: the end of the log */
		}
		rec[n] = '\0';
		for (msg = strstr(rec, tag); msg != NULL;
		     msg = strstr(msg, tag)) {
			msg += taglen;
			len = strcspn(msg, ",\n");
			if ((len > idlen && msg[len - idlen - 1] == '/' &&
			     memcmp(msg + len - idlen, container_id, idlen) ==
				 0) ||
			    (len > slen && msg[len - slen - 1] == '/' &&
			     memcmp(msg + len - slen, scope, slen) == 0)) {
				found = 1;
				break;
			}
		}
		if (found) {
			break;
		}
	}
	close(fd);
	return found;
}

int cgroup_pids_refused(const char *parent, const char *container_id)
{
	int n = container_counter(parent, container_id, "pids", "pids.events",
				  "pids.events", "max");

	if (n >= 0) {
		return n;
	}
	/* The engine usually removed the cgroup before the service learnt
	 * that the sandbox ended. */
	return kmsg_names_container("fork rejected by pids controller in ",
				    container_id);
}

int cgroup_oom_logged(const char *container_id)
{
	/* "oom-kill:constraint=CONSTRAINT_MEMCG,...,oom_memcg=/PATH,..." */
	return kmsg_names_container("oom_memcg=", container_id);
}

/* 1 when name is 64 lowercase hex digits, or "docker-" those ".scope";
 * copies the id into id. */
static int container_dir_name(const char *name, char id[65])
{
	size_t n = strlen(name);
	size_t i;

	if (n == 7 + 64 + 6 && strncmp(name, "docker-", 7) == 0 &&
	    strcmp(name + 7 + 64, ".scope") == 0) {
		name += 7;
	} else if (n != 64) {
		return 0;
	}
	for (i = 0; i < 64; i++) {
		if (!((name[i] >= '0' && name[i] <= '9') ||
		      (name[i] >= 'a' && name[i] <= 'f'))) {
			return 0;
		}
	}
	memcpy(id, name, 64);
	id[64] = '\0';
	return 1;
}

int cgroup_cpu_weight(const char *root, const char *slice, const char *id,
		      int weight)
{
	const char *v1 = weight == CGROUP_CPU_LOW ? "2" : "1024";
	const char *v2 = weight == CGROUP_CPU_LOW ? "1" : "100";
	char check[65];
	int rc = -ENOENT;
	int i;

	if (!container_dir_name(id, check) || strcmp(check, id) != 0) {
		return -EINVAL;
	}
	for (i = 0; i < 4; i++) {
		const char *v = i < 2 ? v1 : v2;
		char *p = container_file(root, "cpu", slice, id, "cpu.shares",
					 "cpu.weight", i);
		int fd = open(p, O_WRONLY | O_TRUNC | O_CLOEXEC);

		free(p);
		if (fd < 0) {
			if (errno != ENOENT) {
				rc = -errno;
			}
			continue;
		}
		rc = write(fd, v, strlen(v)) < 0 ? -errno : 0;
		close(fd);
		return rc;
	}
	return rc;
}

/* The slice's directory in each hierarchy under root: calls fn with each
 * that exists. v2 has one; v1 one per mounted controller (a symlink such
 * as cpu -> cpu,cpuacct is the same hierarchy again and is skipped). */
static void each_slice_dir(const char *root, const char *slice,
			   void (*fn)(const char *dir, void *arg), void *arg)
{
	char *p;
	DIR *d;
	struct dirent *e;

	while (*slice == '/') {
		slice++;
	}
	p = xasprintf("%s/cgroup.controllers", root);
	if (access(p, F_OK) == 0) {
		free(p);
		p = xasprintf("%s/%s", root, slice);
		if (is_dir(p)) {
			fn(p, arg);
		}
		free(p);
		return;
	}
	free(p);
	d = opendir(root);
	if (d == NULL) {
		return;
	}
	while ((e = readdir(d)) != NULL) {
		struct stat st;
		char *h;

		if (e->d_name[0] == '.') {
			continue;
		}
		h = xasprintf("%s/%s", root, e->d_name);
		if (lstat(h, &st) == 0 && S_ISDIR(st.st_mode)) {
			p = xasprintf("%s/%s", h, slice);
			if (is_dir(p)) {
				fn(p, arg);
			}
			free(p);
		}
		free(h);
	}
	closedir(d);
}

struct id_set {
	char (*ids)[65];
	int n;
	int max;
};

static void collect_ids(const char *dir, void *arg)
{
	struct id_set *set = arg;
	DIR *d = opendir(dir);
	struct dirent *e;

	if (d == NULL) {
		return;
	}
	while ((e = readdir(d)) != NULL && set->n < set->max) {
		char id[65];
		int i;

		if (e->d_type != DT_DIR || !container_dir_name(e->d_name, id)) {
			continue;
		}
		for (i = 0; i < set->n && strcmp(set->ids[i], id) != 0; i++) {
		}
		if (i == set->n) {
			memcpy(set->ids[set->n++], id, sizeof(id));
		}
	}
	closedir(d);
}

int cgroup_slice_ids(const char *root, const char *slice, char (*ids)[65],
		     int max)
{
	struct id_set set = {ids, 0, max};

	each_slice_dir(root, slice, collect_ids, &set);
	return set.n;
}

static void write_small(const char *dir, const char *file, const char *v)
{
	char *p = xasprintf("%s/%s", dir, file);
	int fd = open(p, O_WRONLY | O_CLOEXEC);

	free(p);
	if (fd >= 0) {
		if (write(fd, v, strlen(v)) < 0) {
			/* not frozen, or no such controller: nothing to do */
		}
		close(fd);
	}
}

/* Kill what runs in the cgroup at path and below, then remove them,
 * deepest first. 1 when path is gone, 0 when not (yet). */
static int remove_tree(const char *path, int depth, int *killed)
{
	DIR *d;
	struct dirent *e;
	FILE *f;
	char line[32];
	char *procs;
	int tries;

	if (depth > 16) {
		return 0;
	}
	d = opendir(path);
	if (d == NULL) {
		return errno == ENOENT;
	}
	while ((e = readdir(d)) != NULL) {
		char *sub;

		if (e->d_type != DT_DIR || e->d_name[0] == '.') {
			continue;
		}
		sub = xasprintf("%s/%s", path, e->d_name);
		remove_tree(sub, depth + 1, killed);
		free(sub);
	}
	closedir(d);
	/* A frozen process does not die of SIGKILL until thawed. */
	write_small(path, "freezer.state", "THAWED");
	write_small(path, "cgroup.freeze", "0");
	procs = xasprintf("%s/cgroup.procs", path);
	f = fopen(procs, "re");
	free(procs);
	if (f != NULL) {
		while (fgets(line, sizeof(line), f)) {
			long pid = strtol(line, NULL, 10);

			if (pid > 1 && kill((pid_t)pid, SIGKILL) == 0) {
				(*killed)++;
			}
		}
		fclose(f);
	}
	/* A killed process leaves its cgroup a moment later (EBUSY until
	 * then): wait up to 0.2 s, else the next sweep tries again. */
	for (tries = 0; tries < 20; tries++) {
		struct timespec ts = {0, 10 * 1000 * 1000};

		if (rmdir(path) == 0 || errno == ENOENT) {
			return 1;
		}
		if (errno != EBUSY) {
			break;
		}
		nanosleep(&ts, NULL);
	}
	return 0;
}

struct container_walk {
	const char *id;
	void (*fn)(const char *path, void *arg);
	void *arg;
};

static void container_dirs_in(const char *dir, void *arg)
{
	struct container_walk *w = arg;
	char *p = xasprintf("%s/%s", dir, w->id);
	char *q = xasprintf("%s/docker-%s.scope", dir, w->id);

	if (is_dir(p)) {
		w->fn(p, w->arg);
	}
	if (is_dir(q)) {
		w->fn(q, w->arg);
	}
	free(p);
	free(q);
}

/* Calls fn with each of container id's cgroup directories under slice
 * (cgroupfs "ID" and systemd "docker-ID.scope", every hierarchy). -1, and
 * no call, when id is not a container id (never a path of our making). */
static int each_container_dir(const char *root, const char *slice,
			      const char *id,
			      void (*fn)(const char *path, void *arg),
			      void *arg)
{
	struct container_walk w = {id, fn, arg};
	char check[65];

	if (!container_dir_name(id, check)) {
		return -1;
	}
	each_slice_dir(root, slice, container_dirs_in, &w);
	return 0;
}

struct removal {
	int *killed;
	int left;
};

static void remove_in(const char *path, void *arg)
{
	struct removal *r = arg;

	if (!remove_tree(path, 0, r->killed)) {
		r->left++;
	}
}

int cgroup_remove_container(const char *root, const char *slice, const char *id,
			    int *killed)
{
	struct removal r = {killed, 0};

	*killed = 0;
	if (each_container_dir(root, slice, id, remove_in, &r) < 0) {
		return 0;
	}
	return r.left == 0;
}

/* The start of a small file (a /proc entry) as a string, or NULL. */
static char *read_small(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "re");
	size_t n;

	if (f == NULL) {
		return NULL;
	}
	n = fread(buf, 1, size - 1, f);
	fclose(f);
	buf[n] = '\0';
	return buf;
}

/* pid's parent when that is a containerd shim ("containerd-shim" is all
 * the 15 characters a comm keeps of "containerd-shim-runc-v2"), else 0. */
static long shim_parent(long pid)
{
	char path[64];
	char buf[512];
	char *p;
	long ppid = 0;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if (read_small(path, buf, sizeof(buf)) == NULL) {
		return 0;
	}
	/* "pid (comm) state ppid ...": comm may hold spaces and ')' */
	p = strrchr(buf, ')');
	if (p == NULL || sscanf(p + 1, " %*c %ld", &ppid) != 1 || ppid <= 1) {
		return 0;
	}
	snprintf(path, sizeof(path), "/proc/%ld/comm", ppid);
	return read_small(path, buf, sizeof(buf)) != NULL &&
		       strncmp(buf, "containerd-shim", 15) == 0
		   ? ppid
		   : 0;
}

static long tree_shim(const char *path, int depth)
{
	DIR *d;
	struct dirent *e;
	FILE *f;
	char line[32];
	char *procs;
	long found = 0;

	if (depth > 16) {
		return -1; /* not ours to judge */
	}
	procs = xasprintf("%s/cgroup.procs", path);
	f = fopen(procs, "re");
	free(procs);
	if (f != NULL) {
		while (!found && fgets(line, sizeof(line), f)) {
			found = shim_parent(strtol(line, NULL, 10));
		}
		fclose(f);
	}
	d = opendir(path);
	if (d == NULL) {
		return found;
	}
	while (!found && (e = readdir(d)) != NULL) {
		char *sub;

		if (e->d_type != DT_DIR || e->d_name[0] == '.') {
			continue;
		}
		sub = xasprintf("%s/%s", path, e->d_name);
		found = tree_shim(sub, depth + 1);
		free(sub);
	}
	closedir(d);
	return found;
}

static void shim_in(const char *path, void *arg)
{
	long *found = arg;

	if (!*found) {
		*found = tree_shim(path, 0);
	}
}

long cgroup_container_shim(const char *root, const char *slice, const char *id)
{
	long found = 0;

	if (each_container_dir(root, slice, id, shim_in, &found) < 0) {
		return -1;
	}
	return found;
}

/* The value of flag name ("id" for -id, --id, -id=V, --id=V) in the
 * NUL-separated argv of n bytes, copied into out; 1 when found. */
static int argv_flag(const char *argv, size_t n, const char *name, char *out,
		     size_t size)
{
	const char *a = argv;
	const char *end = argv + n;
	size_t len = strlen(name);

	while (a < end) {
		const char *next = a + strnlen(a, (size_t)(end - a)) + 1;
		const char *f = a;

		if (f[0] == '-' && f[1] == '-') {
			f += 2;
		} else if (f[0] == '-') {
			f += 1;
		} else {
			a = next;
			continue;
		}
		if (strncmp(f, name, len) == 0 && f[len] == '=') {
			snprintf(out, size, "%s", f + len + 1);
			return strlen(f + len + 1) < size;
		}
		if (strcmp(f, name) == 0 && next < end) {
			snprintf(out, size, "%s", next);
			return strnlen(next, (size_t)(end - next)) < size;
		}
		a = next;
	}
	return 0;
}

int cgroup_shim_args(long pid, char *id, size_t idsize, char *address,
		     size_t addrsize)
{
	char path[64];
	char buf[4096];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
	f = fopen(path, "re");
	if (f == NULL) {
		return 0;
	}
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	if (n == 0 || n == sizeof(buf)) {
		return 0; /* gone, or more than a shim's flags */
	}
	return argv_flag(buf, n, "id", id, idsize) &&
	       argv_flag(buf, n, "address", address, addrsize);
}
