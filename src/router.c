/* router.c - the route table; see router.h. */
#include "router.h"

#include <stdio.h>
#include <string.h>

static const struct route routes[] = {
	{ "POST", "/execute", api_execute, "execute" },
	{ "GET", "/runtimes", api_runtimes, "runtimes" },
	{ "GET", "/healthz", api_healthz, "healthz" },
	{ "GET", "/readyz", api_readyz, "readyz" },
};

static int path_match(const char *pattern, const char *path)
{
	size_t n = strlen(pattern);

	if (n > 0 && pattern[n - 1] == '*') {
		return strncmp(pattern, path, n - 1) == 0;
	}
	return strcmp(pattern, path) == 0;
}

void router_dispatch(struct service *svc, struct http_req *req)
{
	size_t i;
	char allow[128] = "";
	const char *method = req->method;

	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (!path_match(routes[i].path, req->path)) {
			continue;
		}
		if (strcmp(routes[i].method, method) == 0 ||
		    (strcmp(method, "HEAD") == 0 &&
		     strcmp(routes[i].method, "GET") == 0)) {
			req->route = routes[i].name;
			routes[i].fn(svc, req);
			return;
		}
		if (allow[0]) {
			strncat(allow, ", ", sizeof(allow) - strlen(allow) - 1);
		}
		strncat(allow, routes[i].method,
			sizeof(allow) - strlen(allow) - 1);
	}
	http_drain_body(req);
	if (allow[0]) {
		struct isobox_err e;
		char hdr[160];
		json_object *o = json_object_new_object();

		req->route = "method_not_allowed";
		err_set(&e, 405, "method_not_allowed",
			"%s is not allowed on %s (use %s)", method, req->path,
			allow);
		json_object_object_add(o, "error",
				       json_object_new_string(e.code));
		json_object_object_add(o, "message",
				       json_object_new_string(e.msg));
		json_object_object_add(o, "requestId",
				       json_object_new_string(req->id));
		snprintf(hdr, sizeof(hdr), "Allow: %s\r\n", allow);
		snprintf(req->outcome, sizeof(req->outcome), "%s", e.code);
		http_send_json(req, 405, o, hdr);
		json_object_put(o);
		return;
	}
	req->route = "not_found";
	http_send_err(req, 404, "not_found", "no route for %s %s", method,
		      req->path);
}
