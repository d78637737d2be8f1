/* api_mcp.c - a Model Context Protocol server on POST /mcp, so agents can
 * run code as a tool. Transport: Streamable HTTP, stateless: every POST
 * carries one JSON-RPC 2.0 message (or a batch) and gets one
 * application/json answer; no MCP session id is issued (one sent is
 * ignored), and GET /mcp (the server-to-client event stream) is 405 from
 * the router.
 *
 *   initialize      protocol version negotiation, capabilities {tools}
 *   ping            {}
 *   tools/list      execute_code, list_runtimes, and the state tools of
 *                   api_mcp_state.c (sessions, their files, memory)
 *   tools/call      execute_code runs through exec_run like /execute, with
 *                   the same parser, limits and admission
 *   notifications   accepted (202, no body)
 *
 * Failures of a call (unknown language, capacity, ...) are tool results
 * with isError true, so an agent can read and fix them; malformed JSON-RPC
 * gets JSON-RPC errors (-32700, -32600, -32601, -32602). */
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api.h"
#include "api_mcp.h"
#include "autoconf.h"
#include "exec.h"
#include "registry.h"
#include "request.h"

#define MCP_LATEST    "2025-06-18"
#define MCP_MAX_BATCH 32

enum {
	RPC_PARSE_ERROR = -32700,
	RPC_INVALID_REQUEST = -32600,
	RPC_METHOD_NOT_FOUND = -32601,
	RPC_INVALID_PARAMS = -32602,
	RPC_INTERNAL = -32603,
};

/* Newest first; initialize answers with the client's version when it is
 * one of these, else with the newest. */
static const char *const mcp_versions[] = {"2025-06-18", "2025-03-26",
					   "2024-11-05"};

static int version_supported(const char *v)
{
	size_t i;

	for (i = 0; i < sizeof(mcp_versions) / sizeof(mcp_versions[0]); i++) {
		if (strcmp(v, mcp_versions[i]) == 0) {
			return 1;
		}
	}
	return 0;
}

static json_object *rpc_result(json_object *id, json_object *result)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "jsonrpc", json_object_new_string("2.0"));
	json_object_object_add(o, "id", json_object_get(id));
	json_object_object_add(o, "result", result);
	return o;
}

static json_object *rpc_error(json_object *id, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static json_object *rpc_error(json_object *id, int code, const char *fmt, ...)
{
	json_object *o = json_object_new_object();
	json_object *e = json_object_new_object();
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_object_object_add(e, "code", json_object_new_int(code));
	json_object_object_add(e, "message", json_object_new_string(msg));
	json_object_object_add(o, "jsonrpc", json_object_new_string("2.0"));
	json_object_object_add(o, "id", json_object_get(id));
	json_object_object_add(o, "error", e);
	return o;
}

/* Answer the whole POST with one JSON-RPC error (no id): for bodies that
 * are not JSON-RPC at all, or refused before parsing. */
static void send_rpc_error(struct http_req *req, int status, const char *why,
			   int code, const char *msg)
{
	json_object *o = rpc_error(NULL, code, "%s", msg);

	snprintf(req->outcome, sizeof(req->outcome), "%s", why);
	http_send_json(req, status, o, NULL);
	json_object_put(o);
}

/* ------------------------------------------------------------------ */
/* Tool descriptions. */

json_object *mcp_json(const char *s)
{
	struct isobox_err err;
	json_object *o = request_json_parse(s, strlen(s), &err);

	if (o == NULL) {
		abort(); /* a constant below is broken */
	}
	return o;
}

static const char limits_schema[] =
    "{\"type\":\"object\",\"additionalProperties\":false,"
    "\"description\":\"Resource limits; each is clamped into the "
    "server's range, and omitted ones take the language's defaults.\","
    "\"properties\":{"
    "\"memoryBytes\":{\"type\":\"integer\",\"minimum\":0},"
    "\"cpus\":{\"type\":\"number\",\"minimum\":0},"
    "\"pids\":{\"type\":\"integer\",\"minimum\":0},"
    "\"outputBytes\":{\"type\":\"integer\",\"minimum\":0,"
    "\"description\":\"cap on stdout+stderr together\"},"
    "\"wallTimeMs\":{\"type\":\"integer\",\"minimum\":0},"
    "\"compileWallTimeMs\":{\"type\":\"integer\",\"minimum\":0},"
    "\"compileMemoryBytes\":{\"type\":\"integer\",\"minimum\":0}}}";

static const char stage_schema[] =
    "{\"type\":\"object\",\"properties\":{"
    "\"stdout\":{\"type\":\"string\"},\"stderr\":{\"type\":\"string\"},"
    "\"exitCode\":{\"type\":\"integer\"},"
    "\"signal\":{\"description\":\"e.g. SIGKILL, or null\"},"
    "\"timedOut\":{\"type\":\"boolean\"},"
    "\"oomKilled\":{\"type\":\"boolean\"},"
    "\"truncated\":{\"type\":\"boolean\"},"
    "\"durationMs\":{\"type\":\"integer\"}}}";

static json_object *tool_execute_code(const struct registry *reg)
{
	json_object *t = json_object_new_object();
	json_object *in = mcp_json(
	    "{\"type\":\"object\",\"additionalProperties\":false,"
	    "\"required\":[\"language\",\"code\"],\"properties\":{"
	    "\"code\":{\"type\":\"string\",\"description\":\"The "
	    "program's source code (one file).\"},"
	    "\"version\":{\"type\":\"string\",\"description\":\"Language "
	    "version, exact or a prefix such as 3.11 (optional).\"},"
	    "\"stdin\":{\"type\":\"string\",\"description\":\"Text given "
	    "to the program's standard input.\"},"
	    "\"args\":{\"type\":\"array\",\"items\":{\"type\":\"string\"},"
	    "\"description\":\"Command-line arguments.\"}}}");
	json_object *outs =
	    mcp_json("{\"type\":\"object\",\"required\":[\"language\","
		     "\"version\"],\"properties\":{"
		     "\"language\":{\"type\":\"string\"},"
		     "\"version\":{\"type\":\"string\"},"
		     "\"backend\":{\"type\":\"string\"},"
		     "\"limits\":{\"type\":\"object\"}}}");
	json_object *props;
	json_object *lang = json_object_new_object();
	json_object *ann = json_object_new_object();
	struct buf d = {0};
	size_t i;

	buf_adds(&d, "Programming language: a name or alias");
	for (i = 0; reg && i < reg->n; i++) {
		buf_adds(&d, i == 0 ? " (available: " : ", ");
		buf_adds(&d, reg->langs[i].name);
		if (i + 1 == reg->n) {
			buf_adds(&d, ")");
		}
	}
	buf_adds(&d, ". list_runtimes shows versions and aliases.");
	json_object_object_add(lang, "type", json_object_new_string("string"));
	json_object_object_add(lang, "description",
			       json_object_new_string(d.p));
	buf_free(&d);
	json_object_object_get_ex(in, "properties", &props);
	json_object_object_add(props, "language", lang);
	json_object_object_add(props, "limits", mcp_json(limits_schema));
	json_object_object_get_ex(outs, "properties", &props);
	{
		/* run is null when compilation failed. */
		json_object *any = json_object_new_array();
		json_object *run = json_object_new_object();

		json_object_array_add(any, mcp_json(stage_schema));
		json_object_array_add(any, mcp_json("{\"type\":\"null\"}"));
		json_object_object_add(run, "anyOf", any);
		json_object_object_add(props, "run", run);
	}
	json_object_object_add(props, "compile", mcp_json(stage_schema));
	json_object_object_add(t, "name",
			       json_object_new_string("execute_code"));
	json_object_object_add(t, "title",
			       json_object_new_string("Execute code"));
	json_object_object_add(
	    t, "description",
	    json_object_new_string(
		"Run a program in a fresh, isolated gVisor sandbox "
		"(no network, nothing persists between calls) and "
		"return its stdout, stderr, exit code and whether it "
		"timed out, ran out of memory or had its output "
		"truncated. Compiled languages are compiled first."));
	json_object_object_add(t, "inputSchema", in);
	json_object_object_add(t, "outputSchema", outs);
	json_object_object_add(ann, "title",
			       json_object_new_string("Execute code"));
	json_object_object_add(ann, "readOnlyHint", json_object_new_boolean(0));
	json_object_object_add(ann, "destructiveHint",
			       json_object_new_boolean(0));
	json_object_object_add(ann, "idempotentHint",
			       json_object_new_boolean(0));
	json_object_object_add(ann, "openWorldHint",
			       json_object_new_boolean(0));
	json_object_object_add(t, "annotations", ann);
	return t;
}

static json_object *tool_list_runtimes(void)
{
	json_object *t = json_object_new_object();
	json_object *ann = json_object_new_object();

	json_object_object_add(t, "name",
			       json_object_new_string("list_runtimes"));
	json_object_object_add(t, "title",
			       json_object_new_string("List runtimes"));
	json_object_object_add(
	    t, "description",
	    json_object_new_string("List the languages execute_code can "
				   "run, with their versions and "
				   "aliases."));
	json_object_object_add(
	    t, "inputSchema",
	    mcp_json("{\"type\":\"object\",\"properties\":{},"
		     "\"additionalProperties\":false}"));
	json_object_object_add(
	    t, "outputSchema",
	    mcp_json("{\"type\":\"object\",\"required\":[\"runtimes\"],"
		     "\"properties\":{\"runtimes\":{\"type\":\"array\","
		     "\"items\":{\"type\":\"object\",\"properties\":{"
		     "\"language\":{\"type\":\"string\"},"
		     "\"version\":{\"type\":\"string\"},"
		     "\"aliases\":{\"type\":\"array\",\"items\":"
		     "{\"type\":\"string\"}},"
		     "\"compiled\":{\"type\":\"boolean\"}}}}}}"));
	json_object_object_add(ann, "title",
			       json_object_new_string("List runtimes"));
	json_object_object_add(ann, "readOnlyHint", json_object_new_boolean(1));
	json_object_object_add(ann, "openWorldHint",
			       json_object_new_boolean(0));
	json_object_object_add(t, "annotations", ann);
	return t;
}

/* ------------------------------------------------------------------ */
/* Tool results. */

json_object *mcp_tool_result(const char *text, json_object *structured,
			     int is_error)
{
	json_object *r = json_object_new_object();
	json_object *content = json_object_new_array();
	json_object *c = json_object_new_object();

	json_object_object_add(c, "type", json_object_new_string("text"));
	json_object_object_add(c, "text", json_object_new_string(text));
	json_object_array_add(content, c);
	json_object_object_add(r, "content", content);
	if (structured) {
		json_object_object_add(r, "structuredContent", structured);
	}
	json_object_object_add(r, "isError", json_object_new_boolean(is_error));
	return r;
}

json_object *mcp_tool_error(struct mcp *m, const struct isobox_err *e)
{
	char text[640];

	snprintf(m->req->outcome, sizeof(m->req->outcome), "%s", e->code);

	snprintf(text, sizeof(text), "Error (%s): %s", e->code, e->msg);
	return mcp_tool_result(text, NULL, 1);
}

/* One line saying how a stage ended, the signals first. */
static void stage_summary(struct buf *b, const char *what,
			  const struct stage_result *st, int64_t wall_ms,
			  int64_t mem_bytes, int64_t out_bytes)
{
	const char *sig = api_signal_name(st->signal);

	buf_addf(b, "%s ", what);
	if (st->timed_out) {
		buf_addf(b,
			 "TIMED OUT: killed after its %lld ms wall-time "
			 "limit",
			 (long long)wall_ms);
	} else if (st->oom_killed) {
		buf_addf(b, "RAN OUT OF MEMORY: killed at its %lld MiB limit",
			 (long long)(mem_bytes / (1024 * 1024)));
	} else if (st->truncated) {
		buf_addf(b,
			 "OUTPUT TRUNCATED: stopped when stdout+stderr "
			 "reached %lld bytes",
			 (long long)out_bytes);
	} else if (sig) {
		buf_addf(b, "was killed by %s (exit code %d)", sig,
			 st->exit_code);
	} else {
		buf_addf(b, "exited with code %d", st->exit_code);
	}
	buf_addf(b, " (%lld ms).\n", (long long)st->duration_ms);
}

static void stage_streams(struct buf *b, const char *prefix,
			  const struct stage_result *st)
{
	const struct buf *s[2] = {&st->out, &st->err};
	const char *names[2] = {"stdout", "stderr"};
	int i;

	for (i = 0; i < 2; i++) {
		size_t l;
		char *c;

		if (s[i]->len == 0) {
			buf_addf(b, "%s%s: (empty)\n", prefix, names[i]);
			continue;
		}
		c = api_utf8_clean((const uint8_t *)s[i]->p, s[i]->len, &l);
		buf_addf(b, "--- %s%s ---\n", prefix, names[i]);
		buf_add(b, c, l);
		if (l > 0 && c[l - 1] != '\n') {
			buf_adds(b, "\n");
		}
		free(c);
	}
}

char *mcp_result_text(const struct lang *lang, const struct exec_run *run)
{
	const struct sandbox_result *r = &run->res;
	const struct limits *l = &run->lim;
	struct buf b = {0};
	char what[160];

	if (r->has_compile) {
		snprintf(what, sizeof(what), "Compiling %s %s", lang->name,
			 lang->version);
		stage_summary(&b, what, &r->compile, l->compile_wall_time_ms,
			      l->compile_memory_bytes, l->output_bytes);
		if (!r->run.ran) {
			buf_adds(&b, "Compilation failed; the program did "
				     "not run.\n");
			stage_streams(&b, "compile ", &r->compile);
			return buf_steal(&b, NULL);
		}
		if (r->compile.out.len || r->compile.err.len) {
			stage_streams(&b, "compile ", &r->compile);
		}
		snprintf(what, sizeof(what), "The program");
	} else {
		snprintf(what, sizeof(what), "The %s %s program", lang->name,
			 lang->version);
	}
	stage_summary(&b, what, &r->run, l->wall_time_ms, l->memory_bytes,
		      l->output_bytes);
	stage_streams(&b, "", &r->run);
	return buf_steal(&b, NULL);
}

/* ------------------------------------------------------------------ */
/* Methods. Each returns the JSON-RPC response for request id. */

static json_object *m_initialize(struct mcp *m, json_object *id,
				 json_object *params)
{
	json_object *v;
	json_object *r;
	json_object *caps;
	json_object *info;
	const char *want;

	(void)m;
	if (params == NULL ||
	    !json_object_object_get_ex(params, "protocolVersion", &v) ||
	    !json_object_is_type(v, json_type_string)) {
		return rpc_error(id, RPC_INVALID_PARAMS,
				 "initialize needs params.protocolVersion "
				 "(a string)");
	}
	want = json_object_get_string(v);
	r = json_object_new_object();
	json_object_object_add(r, "protocolVersion",
			       json_object_new_string(version_supported(want)
							  ? want
							  : MCP_LATEST));
	caps = json_object_new_object();
	v = json_object_new_object();
	json_object_object_add(v, "listChanged", json_object_new_boolean(0));
	json_object_object_add(caps, "tools", v);
	json_object_object_add(r, "capabilities", caps);
	info = json_object_new_object();
	json_object_object_add(info, "name", json_object_new_string("isobox"));
	json_object_object_add(info, "title",
			       json_object_new_string("isobox code sandbox"));
	json_object_object_add(info, "version",
			       json_object_new_string(PACKAGE_VERSION));
	json_object_object_add(r, "serverInfo", info);
	json_object_object_add(
	    r, "instructions",
	    json_object_new_string(
		"Use execute_code to run a program in a fresh "
		"sandbox (nothing persists); call list_runtimes to see "
		"the languages. To work in steps, session_create opens "
		"a session (a sandbox with a /workspace that lasts "
		"between calls) and answers its sessionId and token: "
		"pass both to session_exec, file_write, file_read, "
		"session_files_list and session_close. Sessions expire "
		"after ttlSec idle seconds. memory_put / memory_get / "
		"memory_list / memory_delete keep small values across "
		"sessions."));
	return rpc_result(id, r);
}

static json_object *m_tools_list(struct mcp *m, json_object *id,
				 json_object *params)
{
	struct registry *reg = registry_get();
	json_object *r = json_object_new_object();
	json_object *tools = json_object_new_array();

	(void)m;
	(void)params;
	json_object_array_add(tools, tool_execute_code(reg));
	json_object_array_add(tools, tool_list_runtimes());
	mcp_state_tools(tools);
	registry_put(reg);
	json_object_object_add(r, "tools", tools);
	return rpc_result(id, r);
}

static json_object *call_list_runtimes(void)
{
	struct registry *reg = registry_get();
	json_object *list = json_object_new_array();
	json_object *sc = json_object_new_object();
	struct buf b = {0};
	json_object *r;
	size_t i;

	buf_adds(&b, "Available runtimes (language version: aliases):\n");
	for (i = 0; reg && i < reg->n; i++) {
		const struct lang *l = &reg->langs[i];
		json_object *o;
		json_object *al;
		char **p;

		if (l->image_ref == NULL) {
			continue;
		}
		o = json_object_new_object();
		al = json_object_new_array();
		buf_addf(&b, "- %s %s%s", l->name, l->version,
			 l->compile ? " (compiled)" : "");
		for (p = l->aliases; p && *p; p++) {
			buf_addf(&b, "%s%s", p == l->aliases ? ": " : ", ", *p);
			json_object_array_add(al, json_object_new_string(*p));
		}
		buf_adds(&b, "\n");
		json_object_object_add(o, "language",
				       json_object_new_string(l->name));
		json_object_object_add(o, "version",
				       json_object_new_string(l->version));
		json_object_object_add(o, "aliases", al);
		json_object_object_add(
		    o, "compiled", json_object_new_boolean(l->compile != NULL));
		json_object_array_add(list, o);
	}
	registry_put(reg);
	json_object_object_add(sc, "runtimes", list);
	r = mcp_tool_result(b.p, sc, 0);
	buf_free(&b);
	return r;
}

/* Check the arguments of execute_code against its input schema. Returns
 * NULL when they fit, else a sentence naming the problem (static). */
static const char *check_exec_args(json_object *args)
{
	static const char *const known[] = {"language", "code", "version",
					    "stdin",	"args", "limits"};

	json_object_object_foreach (args, key, val) {
		size_t i;
		int ok = 0;

		for (i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
			if (strcmp(key, known[i]) == 0) {
				ok = 1;
			}
		}
		if (!ok) {
			return "execute_code takes only language, code, "
			       "version, stdin, args and limits";
		}
		if (json_object_is_type(val, json_type_null) &&
		    strcmp(key, "language") != 0 && strcmp(key, "code") != 0) {
			continue;
		}
		if ((strcmp(key, "language") == 0 || strcmp(key, "code") == 0 ||
		     strcmp(key, "version") == 0 ||
		     strcmp(key, "stdin") == 0) &&
		    !json_object_is_type(val, json_type_string)) {
			return strcmp(key, "language") == 0
				   ? "'language' must be a string"
			       : strcmp(key, "code") == 0
				   ? "'code' must be a string"
			       : strcmp(key, "version") == 0
				   ? "'version' must be a string"
				   : "'stdin' must be a string";
		}
		if (strcmp(key, "args") == 0) {
			size_t n;

			if (!json_object_is_type(val, json_type_array)) {
				return "'args' must be an array of strings";
			}
			n = json_object_array_length(val);
			for (i = 0; i < n; i++) {
				if (!json_object_is_type(
					json_object_array_get_idx(val, i),
					json_type_string)) {
					return "'args' must be an array of "
					       "strings";
				}
			}
		}
		if (strcmp(key, "limits") == 0 &&
		    !json_object_is_type(val, json_type_object)) {
			return "'limits' must be an object";
		}
	}
	if (!json_object_object_get_ex(args, "language", NULL)) {
		return "execute_code needs 'language'";
	}
	if (!json_object_object_get_ex(args, "code", NULL)) {
		return "execute_code needs 'code'";
	}
	return NULL;
}

static json_object *call_execute_code(struct mcp *m, json_object *id,
				      json_object *args)
{
	struct isobox_err err;
	struct exec_request er;
	struct registry *reg = NULL;
	const struct lang *lang;
	struct exec_ctx x;
	struct exec_run *run = NULL;
	const char *bad = check_exec_args(args);
	const char *body;
	json_object *res = NULL;
	char *text;
	int rc = -1;

	if (bad) {
		return rpc_error(id, RPC_INVALID_PARAMS, "%s", bad);
	}
	if (++m->runs > MCP_MAX_RUNS) {
		err_set(&err, 429, "too_many_runs",
			"a batch may start at most %d runs; send the other "
			"execute_code calls in another request",
			MCP_MAX_RUNS);
		return rpc_result(id, mcp_tool_error(m, &err));
	}
	memset(&er, 0, sizeof(er));
	memset(&err, 0, sizeof(err));
	/* The arguments are an /execute body (a subset of its fields). */
	body = json_object_to_json_string_ext(args, JSON_C_TO_STRING_PLAIN);
	if (request_parse(body, strlen(body), m->svc->cfg.max_files, &er,
			  &err) < 0) {
		res = mcp_tool_error(m, &err);
		goto out;
	}
	snprintf(m->req->language, sizeof(m->req->language), "%s", er.language);
	reg = registry_get();
	if (reg == NULL) {
		err_set(&err, 503, "registry_unavailable",
			"no language catalogue is loaded");
		res = mcp_tool_error(m, &err);
		goto out;
	}
	lang = registry_find(reg, er.language, er.version, &err);
	if (lang == NULL) {
		res = mcp_tool_error(m, &err);
		goto out;
	}
	snprintf(m->req->language, sizeof(m->req->language), "%s", lang->name);
	api_exec_ctx(m->req, &x);
	rc = exec_run(m->svc, &x, lang, &er, &run, &err);
	if (rc < 0) {
		if (err.status == 499) {
			m->gone = 1;
		} else {
			res = mcp_tool_error(m, &err);
		}
		goto out;
	}
	text = mcp_result_text(lang, run);
	res = mcp_tool_result(text, api_result_json(lang, run), 0);
	free(text);
out:
	api_exec_done(m->req, rc, &err, run);
	registry_put(reg);
	request_free(&er);
	return res ? rpc_result(id, res) : NULL;
}

static json_object *m_tools_call(struct mcp *m, json_object *id,
				 json_object *params)
{
	json_object *name;
	json_object *args = NULL;
	const char *n;

	if (params == NULL ||
	    !json_object_object_get_ex(params, "name", &name) ||
	    !json_object_is_type(name, json_type_string)) {
		return rpc_error(id, RPC_INVALID_PARAMS,
				 "tools/call needs params.name (a string)");
	}
	if (json_object_object_get_ex(params, "arguments", &args) &&
	    !json_object_is_type(args, json_type_null) &&
	    !json_object_is_type(args, json_type_object)) {
		return rpc_error(id, RPC_INVALID_PARAMS,
				 "params.arguments must be an object");
	}
	n = json_object_get_string(name);
	if (strcmp(n, "execute_code") == 0) {
		json_object *empty = NULL;
		json_object *r;

		if (args == NULL || json_object_is_type(args, json_type_null)) {
			args = empty = json_object_new_object();
		}
		r = call_execute_code(m, id, args);
		json_object_put(empty);
		return r;
	}
	if (strcmp(n, "list_runtimes") == 0) {
		return rpc_result(id, call_list_runtimes());
	}
	{
		json_object *empty = NULL;
		json_object *r = NULL;
		const char *bad = NULL;
		int known;

		if (args == NULL || json_object_is_type(args, json_type_null)) {
			args = empty = json_object_new_object();
		}
		known = mcp_state_call(m, n, args, &r, &bad);
		json_object_put(empty);
		if (known && bad) {
			return rpc_error(id, RPC_INVALID_PARAMS, "%s", bad);
		}
		if (known) {
			return r ? rpc_result(id, r) : NULL;
		}
	}
	return rpc_error(id, RPC_INVALID_PARAMS, "Unknown tool: %.100s", n);
}

static json_object *m_ping(struct mcp *m, json_object *id, json_object *params)
{
	(void)m;
	(void)params;
	return rpc_result(id, json_object_new_object());
}

static const struct {
	const char *name;
	json_object *(*fn)(struct mcp *m, json_object *id, json_object *params);
} methods[] = {
    {"initialize", m_initialize},
    {"ping", m_ping},
    {"tools/list", m_tools_list},
    {"tools/call", m_tools_call},
};

/* Handle one message. Returns its response, or NULL for a notification or
 * a response (nothing to answer) or when the client left. *invalid is set
 * when the message was not JSON-RPC at all. */
static json_object *mcp_message(struct mcp *m, json_object *msg, int *invalid)
{
	json_object *v;
	json_object *id = NULL;
	json_object *params = NULL;
	const char *method;
	size_t i;

	if (!json_object_is_type(msg, json_type_object)) {
		*invalid = 1;
		return rpc_error(NULL, RPC_INVALID_REQUEST,
				 "a JSON-RPC message must be an object");
	}
	if (json_object_object_get_ex(msg, "id", &v)) {
		if (!json_object_is_type(v, json_type_string) &&
		    !json_object_is_type(v, json_type_int)) {
			*invalid = 1;
			return rpc_error(NULL, RPC_INVALID_REQUEST,
					 "'id' must be a string or an "
					 "integer");
		}
		id = v;
	}
	if (!json_object_object_get_ex(msg, "jsonrpc", &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    strcmp(json_object_get_string(v), "2.0") != 0) {
		*invalid = 1;
		return rpc_error(id, RPC_INVALID_REQUEST,
				 "'jsonrpc' must be \"2.0\"");
	}
	if (!json_object_object_get_ex(msg, "method", &v)) {
		if (id && (json_object_object_get_ex(msg, "result", NULL) ||
			   json_object_object_get_ex(msg, "error", NULL))) {
			return NULL; /* a response: we never ask anything */
		}
		*invalid = 1;
		return rpc_error(id, RPC_INVALID_REQUEST,
				 "a request needs 'method'");
	}
	if (!json_object_is_type(v, json_type_string)) {
		*invalid = 1;
		return rpc_error(id, RPC_INVALID_REQUEST,
				 "'method' must be a string");
	}
	method = json_object_get_string(v);
	if (json_object_object_get_ex(msg, "params", &params) &&
	    !json_object_is_type(params, json_type_object)) {
		if (json_object_is_type(params, json_type_null)) {
			params = NULL;
		} else if (id) {
			return rpc_error(id, RPC_INVALID_PARAMS,
					 "'params' must be an object");
		} else {
			return NULL;
		}
	}
	if (id == NULL) {
		/* A notification (initialized, cancelled, ...): nothing to
		 * do for a stateless server, nothing to answer. */
		return NULL;
	}
	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		if (strcmp(method, methods[i].name) == 0) {
			return methods[i].fn(m, id, params);
		}
	}
	return rpc_error(id, RPC_METHOD_NOT_FOUND, "Method not found: %.100s",
			 method);
}

void api_mcp(struct service *svc, struct http_req *req)
{
	struct isobox_err err;
	struct mcp m = {svc, req, 0, 0};
	const char *pv;
	json_object *in = NULL;
	json_object *out = NULL;
	int invalid = 0;

	memset(&err, 0, sizeof(err));
	if (!api_origin_ok(req)) {
		http_drain_body(req);
		send_rpc_error(req, 403, "forbidden_origin",
			       RPC_INVALID_REQUEST,
			       "cross-origin requests to /mcp are refused");
		return;
	}
	if (!api_is_json(req->content_type)) {
		http_drain_body(req);
		send_rpc_error(req, 415, "unsupported_media_type",
			       RPC_INVALID_REQUEST,
			       "send JSON-RPC messages as application/json");
		return;
	}
	pv = FCGX_GetParam("HTTP_MCP_PROTOCOL_VERSION", req->fr->envp);
	if (pv && *pv && !version_supported(pv)) {
		char msg[160];

		http_drain_body(req);
		snprintf(msg, sizeof(msg),
			 "unsupported MCP-Protocol-Version %.40s (supported: "
			 "%s, %s, %s)",
			 pv, mcp_versions[0], mcp_versions[1], mcp_versions[2]);
		send_rpc_error(req, 400, "unsupported_protocol_version",
			       RPC_INVALID_REQUEST, msg);
		return;
	}
	if (http_read_body(req, svc->cfg.max_body_bytes, &err) < 0) {
		send_rpc_error(req, err.status, err.code, RPC_INVALID_REQUEST,
			       err.msg);
		return;
	}
	in = request_json_parse(req->body.p, req->body.len, &err);
	if (in == NULL) {
		send_rpc_error(req, 400, "invalid_json", RPC_PARSE_ERROR,
			       err.msg);
		return;
	}
	if (json_object_is_type(in, json_type_array)) {
		size_t n = json_object_array_length(in);
		size_t i;

		if (n == 0 || n > MCP_MAX_BATCH) {
			char msg[96];

			snprintf(msg, sizeof(msg),
				 "a batch holds 1 to %d messages",
				 MCP_MAX_BATCH);
			send_rpc_error(req, 400, "invalid_request",
				       RPC_INVALID_REQUEST, msg);
			goto done;
		}
		out = json_object_new_array();
		for (i = 0; i < n && !m.gone; i++) {
			int bad = 0;
			json_object *r = mcp_message(
			    &m, json_object_array_get_idx(in, i), &bad);

			if (r) {
				json_object_array_add(out, r);
			}
		}
		if (json_object_array_length(out) == 0) {
			json_object_put(out);
			out = NULL;
		}
	} else {
		out = mcp_message(&m, in, &invalid);
	}
	if (m.gone) {
		goto done; /* req->outcome says client_gone */
	}
	if (out == NULL) {
		/* Only notifications or responses: accepted. */
		http_send_text(req, 202, "application/json", "", 0, NULL);
	} else {
		if (invalid && strcmp(req->outcome, "-") == 0) {
			snprintf(req->outcome, sizeof(req->outcome),
				 "invalid_request");
		}
		http_send_json(req, invalid ? 400 : 200, out, NULL);
	}
done:
	json_object_put(out);
	json_object_put(in);
}
