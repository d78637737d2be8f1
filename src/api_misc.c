/* api_misc.c - /healthz, /readyz and /runtimes. */
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "cgroup.h"
#include "registry.h"

void api_healthz(struct service *svc, struct http_req *req)
{
	json_object *o = json_object_new_object();

	http_drain_body(req);
	json_object_object_add(o, "ok", json_object_new_boolean(1));
	http_send_json(req, 200, o, "Cache-Control: no-store\r\n");
	json_object_put(o);
}

/* 1 when dockerd knows the runtime name. */
static int runtime_registered(json_object *info, const char *name)
{
	json_object *rt;

	return info && json_object_object_get_ex(info, "Runtimes", &rt) &&
	       json_object_object_get_ex(rt, name, NULL);
}

void api_readyz(struct service *svc, struct http_req *req)
{
	struct isobox_err e;
	struct slice_state st;
	json_object *info = NULL;
	json_object *o = json_object_new_object();
	char why[600] = "";
	int ready = 0;

	http_drain_body(req);
	if (docker_ping(&svc->docker, &e) < 0) {
		snprintf(why, sizeof(why), "docker: %s", e.msg);
		goto out;
	}
	info = docker_info(&svc->docker, &e);
	if (info == NULL) {
		snprintf(why, sizeof(why), "docker info: %s", e.msg);
		goto out;
	}
	if (!runtime_registered(info, svc->cfg.runtime)) {
		snprintf(why, sizeof(why),
			 "the gVisor runtime '%s' is not registered with "
			 "Docker",
			 svc->cfg.runtime);
		goto out;
	}
	cgroup_slice_read("/sys/fs/cgroup", svc->cfg.cgroup_parent, &st);
	if (!cgroup_slice_ready(&st, why, sizeof(why))) {
		goto out;
	}
	ready = 1;
out:
	json_object_object_add(o, "ready", json_object_new_boolean(ready));
	if (ready) {
		json_object_object_add(o, "backend",
				       json_object_new_string("gvisor"));
	} else {
		json_object_object_add(o, "reason",
				       json_object_new_string(why));
		snprintf(req->outcome, sizeof(req->outcome), "not_ready");
	}
	http_send_json(req, ready ? 200 : 503, o,
		       "Cache-Control: no-store\r\n");
	json_object_put(o);
	json_object_put(info);
}

void api_runtimes(struct service *svc, struct http_req *req)
{
	struct registry *r = registry_get();
	json_object *a = json_object_new_array();
	size_t i;

	http_drain_body(req);
	for (i = 0; r && i < r->n; i++) {
		const struct lang *l = &r->langs[i];
		json_object *o = json_object_new_object();
		json_object *al = json_object_new_array();
		char **p;

		for (p = l->aliases; p && *p; p++) {
			json_object_array_add(al, json_object_new_string(*p));
		}
		json_object_object_add(o, "language",
				       json_object_new_string(l->name));
		json_object_object_add(o, "version",
				       json_object_new_string(l->version));
		json_object_object_add(o, "aliases", al);
		json_object_object_add(
		    o, "compiled", json_object_new_boolean(l->compile != NULL));
		json_object_object_add(o, "backend",
				       json_object_new_string("gvisor"));
		json_object_object_add(
		    o, "available",
		    json_object_new_boolean(l->image_ref != NULL));
		json_object_array_add(a, o);
	}
	registry_put(r);
	http_send_json(req, 200, a, NULL);
	json_object_put(a);
}
