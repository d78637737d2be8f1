/* cgroup.c - slice checks for cgroup v1 and v2; see cgroup.h. */
#include "cgroup.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

/* Read a one-line value; "max" (v2) and huge v1 values mean unlimited. */
static int read_limit(const char *path, int64_t *out)
{
	FILE *f = fopen(path, "re");
	char line[64];
	long long v;

	if (f == NULL) {
		return -1;
	}
	if (fgets(line, sizeof(line), f) == NULL) {
		fclose(f);
		return -1;
	}
	fclose(f);
	line[strcspn(line, "\n")] = '\0';
	if (strcmp(line, "max") == 0) {
		*out = -1;
		return 0;
	}
	if (parse_ll(line, &v) < 0) {
		return -1;
	}
	/* cgroup v1 reports "unlimited" as a page-rounded LONG_MAX. */
	*out = v >= (1LL << 62) ? -1 : v;
	return 0;
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
			p = xasprintf("%s/memory.max", d);
			read_limit(p, &st->memory_limit);
			free(p);
			p = xasprintf("%s/memory.current", d);
			read_limit(p, &st->memory_usage);
			free(p);
			p = xasprintf("%s/pids.max", d);
			read_limit(p, &st->pids_limit);
			free(p);
			st->children = count_children(d);
		}
		free(d);
		return 0;
	}
	d = xasprintf("%s/memory/%s", root, slice);
	st->exists = is_dir(d);
	if (st->exists) {
		p = xasprintf("%s/memory.limit_in_bytes", d);
		read_limit(p, &st->memory_limit);
		free(p);
		p = xasprintf("%s/memory.usage_in_bytes", d);
		read_limit(p, &st->memory_usage);
		free(p);
		st->children = count_children(d);
	}
	free(d);
	d = xasprintf("%s/pids/%s", root, slice);
	if (is_dir(d)) {
		p = xasprintf("%s/pids.max", d);
		read_limit(p, &st->pids_limit);
		free(p);
	} else {
		st->exists = 0;
	}
	free(d);
	return 0;
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

static long long oom_line(const char *path)
{
	FILE *f = fopen(path, "re");
	char line[128];
	long long n = -1;

	if (f == NULL) {
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "oom_kill ", 9) == 0) {
			n = atoll(line + 9);
		}
	}
	fclose(f);
	return n;
}

int cgroup_oom_kills(const char *parent, const char *container_id)
{
	char path[4][512];
	size_t i;

	while (*parent == '/') {
		parent++;
	}
	snprintf(path[0], sizeof(path[0]),
		 "/sys/fs/cgroup/memory/%s/%s/memory.oom_control", parent,
		 container_id);
	snprintf(path[1], sizeof(path[1]),
		 "/sys/fs/cgroup/memory/%s/docker-%s.scope/memory.oom_control",
		 parent, container_id);
	snprintf(path[2], sizeof(path[2]), "/sys/fs/cgroup/%s/%s/memory.events",
		 parent, container_id);
	snprintf(path[3], sizeof(path[3]),
		 "/sys/fs/cgroup/%s/docker-%s.scope/memory.events", parent,
		 container_id);
	for (i = 0; i < 4; i++) {
		long long n = oom_line(path[i]);

		if (n >= 0) {
			return (int)n;
		}
	}
	return -1;
}
