/* api_mcp.h - internal to the MCP server: what the protocol side
 * (api_mcp.c: JSON-RPC, lifecycle, execute_code, list_runtimes) shares
 * with the state tools (api_mcp_state.c: sessions, their files, memory).
 * Not an interface for other handlers. */
#ifndef ISOBOX_API_MCP_H
#define ISOBOX_API_MCP_H

#include <json-c/json.h>

#include "api.h"

/* Runs one POST may start (execute_code and session_exec together): a
 * batch runs its calls one after another on one worker thread, and the
 * rate limit counts the POST once. */
#define MCP_MAX_RUNS 4

/* One POST to /mcp. */
struct mcp {
	struct service *svc;
	struct http_req *req;
	int gone; /* the client left during a tool call: answer nobody */
	int runs; /* runs started in this POST so far */
};

/* A tool result: one text content item, structured (owned, may be NULL)
 * and isError. */
json_object *mcp_tool_result(const char *text, json_object *structured,
			     int is_error);
/* A tool result with isError for err ("Error (code): message"); sets the
 * access log's outcome. */
json_object *mcp_tool_error(struct mcp *m, const struct isobox_err *err);
/* How a run ended, for a model to read: one line per stage with its
 * signals first, then the streams (caller frees). */
char *mcp_result_text(const struct lang *lang, const struct exec_run *run);
/* Parse a constant JSON text (aborts when it is broken). */
json_object *mcp_json(const char *s);

/* Append the state tools' descriptions to tools (an array). */
void mcp_state_tools(json_object *tools);
/* Call state tool name with args (an object). Returns 1 when name is one
 * of them, else 0. On 1: *result is the tool result, or NULL when the
 * client left (m->gone) or the arguments do not fit the tool's schema
 * (then *bad is a sentence saying why, static, for a JSON-RPC -32602). */
int mcp_state_call(struct mcp *m, const char *name, json_object *args,
		   json_object **result, const char **bad);

#endif
