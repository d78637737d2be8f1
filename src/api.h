/* api.h - the HTTP handlers. Each is thin: parse and validate, call a
 * service module, render. They never talk to Docker or LMDB directly. */
#ifndef ISOBOX_API_H
#define ISOBOX_API_H

#include "http.h"
#include "service.h"

typedef void (*api_handler)(struct service *svc, struct http_req *req);

void api_execute(struct service *svc, struct http_req *req);
void api_runtimes(struct service *svc, struct http_req *req);
void api_healthz(struct service *svc, struct http_req *req);
void api_readyz(struct service *svc, struct http_req *req);

/* Shared helpers for handlers that run code. */
/* Signal number -> "SIGKILL", or NULL for 0. */
const char *api_signal_name(int sig);
/* Append s (n bytes) to a JSON-safe string: invalid UTF-8 sequences become
 * U+FFFD. Returns a fresh NUL-terminated string (caller frees). */
char *api_utf8_clean(const uint8_t *s, size_t n, size_t *out_len);

#endif
