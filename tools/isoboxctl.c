/* isoboxctl - the admin CLI: check the host, list and collect sandboxes,
 * validate the catalogue. It links the same library as the service and
 * reads the same configuration. */
#include "autoconf.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cgroup.h"
#include "docker.h"
#include "registry.h"
#include "router.h"
#include "service.h"
#include "store.h"

static int cmd_check(struct service *s)
{
	struct isobox_err e;
	struct slice_state st;
	struct registry *r = registry_get();
	json_object *info;
	json_object *rt;
	char why[256];
	size_t i;
	int bad = 0;

	if (docker_ping(&s->docker, &e) < 0) {
		printf("FAIL docker: %s\n", e.msg);
		registry_put(r);
		return 1;
	}
	printf("ok   docker answers\n");
	info = docker_info(&s->docker, &e);
	if (info && json_object_object_get_ex(info, "Runtimes", &rt) &&
	    json_object_object_get_ex(rt, s->cfg.runtime, NULL)) {
		printf("ok   runtime %s registered\n", s->cfg.runtime);
	} else {
		printf("FAIL runtime %s is not registered\n", s->cfg.runtime);
		bad = 1;
	}
	json_object_put(info);
	cgroup_slice_read("/sys/fs/cgroup", s->cfg.cgroup_parent, &st);
	if (cgroup_slice_ready(&st, why, sizeof(why))) {
		printf("ok   slice %s: memory %lld bytes, pids %lld (cgroup "
		       "v%d)\n",
		       s->cfg.cgroup_parent, (long long)st.memory_limit,
		       (long long)st.pids_limit, st.v2 ? 2 : 1);
	} else {
		printf("FAIL %s\n", why);
		bad = 1;
	}
	for (i = 0; r && i < r->n; i++) {
		const struct lang *l = &r->langs[i];
		char *id = NULL;

		if (l->image_ref == NULL) {
			printf("FAIL %s: image %s not built (no lock entry)\n",
			       l->name, l->image);
			bad = 1;
		} else if (docker_image_id(&s->docker, l->image_ref, &id, &e) <
			   0) {
			printf("%s %s: %s\n", l->image_local ? "FAIL" : "warn",
			       l->name, e.msg);
			bad |= l->image_local;
		} else {
			printf("ok   %s %s: %s\n", l->name, l->version, id);
		}
		free(id);
	}
	registry_put(r);
	return bad;
}

static int cmd_list(struct service *s)
{
	struct isobox_err e;
	json_object *list =
	    docker_container_list(&s->docker, "isobox.managed=1", &e);
	size_t i;

	if (list == NULL) {
		fprintf(stderr, "isoboxctl: %s\n", e.msg);
		return 1;
	}
	for (i = 0; i < json_object_array_length(list); i++) {
		json_object *c = json_object_array_get_idx(list, i);
		json_object *id;
		json_object *state;

		json_object_object_get_ex(c, "Id", &id);
		json_object_object_get_ex(c, "State", &state);
		printf("%.12s %s\n", json_object_get_string(id),
		       json_object_get_string(state));
	}
	json_object_put(list);
	return 0;
}

/* The route table, one "METHOD PATH NAME public|key" line per route: what
 * the OpenAPI check compares docs/openapi.yaml with. Needs no config. */
static int cmd_routes(void)
{
	const struct route *r;
	size_t n;
	size_t i;

	r = router_routes(&n);
	for (i = 0; i < n; i++) {
		printf("%s %s %s %s %s\n", r[i].method, r[i].path, r[i].name,
		       router_route_public(r[i].name) ? "public" : "key",
		       router_route_limited(&r[i]) ? "limited" : "unlimited");
	}
	return 0;
}

/* Compact state_dir/db (the durable store: /v1/memory and what else lives
 * there) in place. The service holds it open, so it must be stopped: the
 * store refuses otherwise. A larger state_map_bytes takes effect here too.
 * Needs only the configuration. */
static int cmd_state_compact(const char *config)
{
	struct config cfg;
	struct isobox_err e;
	int64_t before = 0;
	int64_t after = 0;
	char *dir;
	int rc = 1;

	memset(&e, 0, sizeof(e));
	if (config_load(&cfg, config, &e) < 0) {
		fprintf(stderr, "isoboxctl: %s\n", e.msg);
		return 1;
	}
	dir = xasprintf("%s/db", cfg.state_dir);
	if (store_compact(dir, &before, &after, &e) < 0) {
		fprintf(stderr, "isoboxctl: state-compact %s: %s\n", dir,
			e.msg);
	} else {
		printf("compacted %s: %lld -> %lld bytes\n", dir,
		       (long long)before, (long long)after);
		rc = 0;
	}
	free(dir);
	config_free(&cfg);
	return rc;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: isoboxctl [--config PATH] COMMAND\n"
		"  check     check Docker, the runtime, the slice and "
		"every image\n"
		"  list      list the sandboxes isobox manages\n"
		"  gc        remove sandboxes whose owner is gone or "
		"whose deadline passed\n"
		"  validate  load the configuration and catalogue only\n"
		"  routes    print the API's route table (no config needed)\n"
		"  state-compact  compact the durable store (state_dir/db) "
		"in place;\n"
		"            the service must be stopped\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct service s;
	struct isobox_err e;
	const char *config = NULL;
	const char *cmd;
	int rc;
	int c;

	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		if (c == 'c') {
			config = optarg;
		} else if (c == 'h') {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	cmd = argv[optind];
	if (strcmp(cmd, "routes") == 0) {
		return cmd_routes();
	}
	if (strcmp(cmd, "state-compact") == 0) {
		return cmd_state_compact(config);
	}
	if (docker_global_init() < 0) {
		fprintf(stderr, "isoboxctl: libcurl cannot be initialised\n");
		return 1;
	}
	if (service_init(&s, config, &e) < 0) {
		fprintf(stderr, "isoboxctl: %s\n", e.msg);
		return 1;
	}
	if (strcmp(cmd, "check") == 0) {
		rc = cmd_check(&s);
	} else if (strcmp(cmd, "list") == 0) {
		rc = cmd_list(&s);
	} else if (strcmp(cmd, "gc") == 0) {
		int n = service_reap(&s);

		printf("removed %d sandboxes\n", n < 0 ? 0 : n);
		rc = n < 0;
	} else if (strcmp(cmd, "validate") == 0) {
		printf("configuration and catalogue are valid\n");
		rc = 0;
	} else {
		usage(stderr);
		rc = 2;
	}
	service_free(&s);
	return rc;
}
