/* docker.h - a small Docker Engine API client over libcurl.
 *
 * The endpoint is a unix socket ("unix:///var/run/docker.sock") or TCP
 * ("tcp://host:2376", with TLS client certificates from cert_path when
 * tls is set, the way DOCKER_TLS_VERIFY/DOCKER_CERT_PATH work). Paths are
 * versioned ("/v1.41/..."). Plain requests reuse one keep-alive connection
 * per thread; attach opens its own hijacked connection.
 *
 * Errors (util.h): functions that take err return 0 on success and -1 with
 * err filled. An engine that does not answer is 503 "docker_unavailable";
 * an engine refusal is 503 "sandbox_failed" unless stated otherwise. The
 * stream functions, which have no err, return negative errno values. */
#ifndef ISOBOX_DOCKER_H
#define ISOBOX_DOCKER_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct docker {
	char *base_url;	 /* "http://docker/v1.41" or "https://h:p/v1.41" */
	char *unix_path; /* socket path or NULL */
	int tls;
	char *ca, *cert, *key; /* TLS files or NULL */
	long timeout_ms;       /* for plain requests */
};

/* Set up from an endpoint string. Returns 0 or -1 (malformed host). The
 * strings are copied. */
int docker_init(struct docker *d, const char *host, int tls_verify,
		const char *cert_path, const char *api_version,
		struct isobox_err *err);
void docker_free(struct docker *d);

/* One request. body may be NULL (JSON string otherwise). *status gets the
 * HTTP status; resp (if non-NULL) the body. Returns 0 whenever the engine
 * answered (any status), -1 with 503 docker_unavailable when it did not. */
int docker_request(struct docker *d, const char *method, const char *path,
		   const char *body, long *status, struct buf *resp,
		   struct isobox_err *err);

/* GET /_ping. 0 when the engine answers OK. */
int docker_ping(struct docker *d, struct isobox_err *err);
/* GET /info parsed; caller puts the object. NULL with err on failure. */
json_object *docker_info(struct docker *d, struct isobox_err *err);

/* POST /containers/create. spec is borrowed. On success *id is a fresh
 * string (caller frees). A missing image gives 503 image_unavailable. */
int docker_container_create(struct docker *d, json_object *spec, char **id,
			    struct isobox_err *err);
int docker_container_start(struct docker *d, const char *id,
			   struct isobox_err *err);
/* Kill with SIGKILL; a container that is not running is not an error. */
int docker_container_kill(struct docker *d, const char *id,
			  struct isobox_err *err);
/* POST /containers/{id}/wait?condition=not-running for at most timeout_ms.
 * 0 when the container is not running (or gone), -1 otherwise. */
int docker_container_wait(struct docker *d, const char *id, long timeout_ms,
			  struct isobox_err *err);
/* DELETE ?force=1&v=1; "no such container" is not an error. */
int docker_container_remove(struct docker *d, const char *id,
			    struct isobox_err *err);
/* GET /containers/{id}/json; caller puts the object. */
json_object *docker_container_inspect(struct docker *d, const char *id,
				      struct isobox_err *err);
/* GET /containers/json?all=1&filters=... (label NULL: every container,
 * isobox's or not); caller puts the array. */
json_object *docker_container_list(struct docker *d, const char *label,
				   struct isobox_err *err);
/* GET /images/{ref}/json -> *id ("sha256:..."), caller frees. A missing
 * image is 503 image_unavailable. */
int docker_image_id(struct docker *d, const char *ref, char **id,
		    struct isobox_err *err);
/* POST /images/create?fromImage=ref (pull by digest). Blocks until done. */
int docker_image_pull(struct docker *d, const char *ref,
		      struct isobox_err *err);

/* A hijacked attach connection (stdin in, multiplexed stdout/stderr out). */
struct docker_stream {
	void *curl;	  /* CURL * in CONNECT_ONLY mode */
	int fd;		  /* its socket, for poll */
	uint8_t *pending; /* bytes read past the HTTP headers */
	size_t pending_len;
	size_t pending_off;
};

/* POST /containers/{id}/attach?stream=1&stdin=1&stdout=1&stderr=1 with
 * "Upgrade: tcp". Call before start so no output is missed. */
int docker_attach(struct docker *d, const char *id, struct docker_stream *s,
		  struct isobox_err *err);
/* Write all n bytes (blocking, with a deadline). 0, -ETIMEDOUT when the
 * deadline passed, -ENOTCONN on a closed stream, -EIO (or another -errno)
 * when the connection failed. */
int docker_stream_send(struct docker_stream *s, const void *p, size_t n,
		       int64_t deadline_ms);
/* Wait up to timeout_ms for data and read it. Returns bytes read (> 0),
 * 0 on EOF, -ETIMEDOUT when nothing came in time (try again), -EIO (or
 * another -errno) when the connection failed. */
long docker_stream_recv(struct docker_stream *s, void *p, size_t n,
			int timeout_ms);
void docker_stream_close(struct docker_stream *s);

/* Process-wide set-up of libcurl: call once, before any thread starts.
 * 0, or -EIO / -EAGAIN when libcurl or the per-thread handles cannot be
 * set up (the process should not go on). */
int docker_global_init(void);

#endif
