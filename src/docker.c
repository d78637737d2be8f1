/* docker.c - Docker Engine API client over libcurl; see docker.h.
 *
 * Plain requests go through one CURL easy handle per thread so the
 * keep-alive connection to the engine is reused (no connect per call).
 * Attach uses CURLOPT_CONNECT_ONLY: we write the HTTP upgrade request
 * ourselves and then speak the raw stream, which works the same over a unix
 * socket, plain TCP and TLS. */
#include "docker.h"

#include <curl/curl.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define DOCKER_MAX_RESP (16u * 1024u * 1024u)

static pthread_key_t tl_key;
static pthread_once_t tl_once = PTHREAD_ONCE_INIT;

static void tl_destroy(void *p)
{
	curl_easy_cleanup((CURL *)p);
}

static void tl_make_key(void)
{
	pthread_key_create(&tl_key, tl_destroy);
}

int docker_global_init(void)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		return -EIO;
	}
	if (pthread_once(&tl_once, tl_make_key) != 0) {
		return -EAGAIN;
	}
	return 0;
}

static int endpoint_err(struct isobox_err *err, const char *what)
{
	return err_set(err, 500, "internal", "invalid docker endpoint: %s",
		       what);
}

int docker_init(struct docker *d, const char *host, int tls_verify,
		const char *cert_path, const char *api_version,
		struct isobox_err *err)
{
	const char *ver = api_version && *api_version ? api_version : "1.41";

	memset(d, 0, sizeof(*d));
	d->timeout_ms = 30000;
	if (host == NULL || *host == '\0') {
		host = "unix:///var/run/docker.sock";
	}
	if (strncmp(host, "unix://", 7) == 0) {
		if (host[7] != '/') {
			return endpoint_err(err, host);
		}
		d->unix_path = xstrdup(host + 7);
		d->base_url = xasprintf("http://docker/v%s", ver);
		return 0;
	}
	if (strncmp(host, "tcp://", 6) == 0) {
		const char *hp = host + 6;

		if (*hp == '\0' || strchr(hp, '/') != NULL) {
			return endpoint_err(err, host);
		}
		d->tls = tls_verify;
		d->base_url = xasprintf("%s://%s/v%s",
					tls_verify ? "https" : "http", hp, ver);
		if (tls_verify) {
			const char *cp =
			    cert_path && *cert_path ? cert_path : ".";

			d->ca = xasprintf("%s/ca.pem", cp);
			d->cert = xasprintf("%s/cert.pem", cp);
			d->key = xasprintf("%s/key.pem", cp);
		}
		return 0;
	}
	return endpoint_err(err, host);
}

void docker_free(struct docker *d)
{
	free(d->base_url);
	free(d->unix_path);
	free(d->ca);
	free(d->cert);
	free(d->key);
	memset(d, 0, sizeof(*d));
}

struct sink {
	struct buf *b;
	int overflow;
};

static size_t on_body(char *p, size_t sz, size_t nm, void *ud)
{
	struct sink *s = ud;
	size_t n = sz * nm;

	if (s->b == NULL) {
		return n;
	}
	if (s->b->len + n > DOCKER_MAX_RESP) {
		s->overflow = 1;
		return 0;
	}
	buf_add(s->b, p, n);
	return n;
}

static void setup_conn(struct docker *d, CURL *c)
{
	if (d->unix_path) {
		curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, d->unix_path);
	}
	if (d->tls) {
		curl_easy_setopt(c, CURLOPT_CAINFO, d->ca);
		curl_easy_setopt(c, CURLOPT_SSLCERT, d->cert);
		curl_easy_setopt(c, CURLOPT_SSLKEY, d->key);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	}
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
}

static CURL *thread_handle(void)
{
	CURL *c;

	pthread_once(&tl_once, tl_make_key);
	c = pthread_getspecific(tl_key);
	if (c == NULL) {
		c = curl_easy_init();
		if (c == NULL) {
			abort();
		}
		pthread_setspecific(tl_key, c);
	}
	return c;
}

static int request_timeout(struct docker *d, const char *method,
			   const char *path, const char *body, long timeout_ms,
			   long *status, struct buf *resp,
			   struct isobox_err *err)
{
	CURL *c = thread_handle();
	struct curl_slist *hdr = NULL;
	struct sink s = {resp, 0};
	char *url = xasprintf("%s%s", d->base_url, path);
	CURLcode rc;

	curl_easy_reset(c);
	setup_conn(d, c);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
	if (body) {
		hdr = curl_slist_append(hdr, "Content-Type: application/json");
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	} else if (strcmp(method, "POST") == 0) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
	}
	hdr = curl_slist_append(hdr, "Expect:");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	if (resp) {
		buf_reset(resp);
	}
	rc = curl_easy_perform(c);
	curl_slist_free_all(hdr);
	free(url);
	if (rc != CURLE_OK) {
		return err_set(err, 503, "docker_unavailable",
			       "the Docker engine did not answer (%s %s: %s)",
			       method, path, curl_easy_strerror(rc));
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	return 0;
}

int docker_request(struct docker *d, const char *method, const char *path,
		   const char *body, long *status, struct buf *resp,
		   struct isobox_err *err)
{
	return request_timeout(d, method, path, body, d->timeout_ms, status,
			       resp, err);
}

/* The engine's {"message": "..."} or the raw body, for error sentences. */
static const char *engine_message(struct buf *b, char *out, size_t cap)
{
	json_object *o = b->p ? json_tokener_parse(b->p) : NULL;
	json_object *m;

	snprintf(out, cap, "%s", b->p ? b->p : "");
	if (o && json_object_object_get_ex(o, "message", &m)) {
		snprintf(out, cap, "%s", json_object_get_string(m));
	}
	json_object_put(o);
	return out;
}

int docker_ping(struct docker *d, struct isobox_err *err)
{
	long st = 0;
	struct buf b = {0};
	int rc = request_timeout(d, "GET", "/_ping", NULL, 3000, &st, &b, err);

	buf_free(&b);
	if (rc < 0) {
		return -1;
	}
	if (st != 200) {
		return err_set(err, 503, "docker_unavailable",
			       "the Docker engine answered /_ping with %ld",
			       st);
	}
	return 0;
}

static json_object *get_json(struct docker *d, const char *path,
			     struct isobox_err *err)
{
	long st = 0;
	struct buf b = {0};
	json_object *o = NULL;
	char msg[256];

	if (docker_request(d, "GET", path, NULL, &st, &b, err) < 0) {
		goto out;
	}
	if (st == 404) {
		err_set(err, 404, "not_found", "%s",
			engine_message(&b, msg, sizeof(msg)));
		goto out;
	}
	if (st != 200 || b.p == NULL) {
		err_set(err, 503, "sandbox_failed", "engine: %s",
			engine_message(&b, msg, sizeof(msg)));
		goto out;
	}
	o = json_tokener_parse(b.p);
	if (o == NULL) {
		err_set(err, 503, "sandbox_failed",
			"the engine sent malformed JSON for %s", path);
	}
out:
	buf_free(&b);
	return o;
}

json_object *docker_info(struct docker *d, struct isobox_err *err)
{
	return get_json(d, "/info", err);
}

int docker_container_create(struct docker *d, json_object *spec, char **id,
			    struct isobox_err *err)
{
	long st = 0;
	struct buf b = {0};
	json_object *o = NULL;
	json_object *v;
	char msg[512];
	int rc = -1;
	const char *body =
	    json_object_to_json_string_ext(spec, JSON_C_TO_STRING_PLAIN);

	if (docker_request(d, "POST", "/containers/create", body, &st, &b,
			   err) < 0) {
		goto out;
	}
	if (st == 404) {
		err_set(err, 503, "image_unavailable",
			"the sandbox image is not available: %s",
			engine_message(&b, msg, sizeof(msg)));
		goto out;
	}
	if (st != 201) {
		err_set(err, 503, "sandbox_failed",
			"the engine refused the sandbox: %s",
			engine_message(&b, msg, sizeof(msg)));
		goto out;
	}
	o = b.p ? json_tokener_parse(b.p) : NULL;
	if (o == NULL || !json_object_object_get_ex(o, "Id", &v)) {
		err_set(err, 503, "sandbox_failed",
			"the engine's create answer had no Id");
		goto out;
	}
	*id = xstrdup(json_object_get_string(v));
	rc = 0;
out:
	json_object_put(o);
	buf_free(&b);
	return rc;
}

static int simple_post(struct docker *d, const char *method, const char *path,
		       long timeout_ms, const long *ok, size_t nok,
		       struct isobox_err *err)
{
	long st = 0;
	struct buf b = {0};
	char msg[512];
	size_t i;
	int rc = -1;

	if (request_timeout(d, method, path, NULL, timeout_ms, &st, &b, err) <
	    0) {
		goto out;
	}
	for (i = 0; i < nok; i++) {
		if (st == ok[i]) {
			rc = 0;
			goto out;
		}
	}
	err_set(err, 503, "sandbox_failed", "engine %s %s: %ld %s", method,
		path, st, engine_message(&b, msg, sizeof(msg)));
out:
	buf_free(&b);
	return rc;
}

int docker_container_start(struct docker *d, const char *id,
			   struct isobox_err *err)
{
	static const long ok[] = {204, 304};
	char *path = xasprintf("/containers/%s/start", id);
	int rc = simple_post(d, "POST", path, d->timeout_ms, ok, 2, err);

	free(path);
	return rc;
}

int docker_container_kill(struct docker *d, const char *id,
			  struct isobox_err *err)
{
	static const long ok[] = {204, 404, 409};
	char *path = xasprintf("/containers/%s/kill?signal=KILL", id);
	int rc = simple_post(d, "POST", path, d->timeout_ms, ok, 3, err);

	free(path);
	return rc;
}

int docker_container_wait(struct docker *d, const char *id, long timeout_ms,
			  struct isobox_err *err)
{
	static const long ok[] = {200, 404};
	char *path = xasprintf("/containers/%s/wait?condition=not-running", id);
	int rc = simple_post(d, "POST", path, timeout_ms, ok, 2, err);

	free(path);
	return rc;
}

int docker_container_remove(struct docker *d, const char *id,
			    struct isobox_err *err)
{
	static const long ok[] = {204, 404};
	char *path = xasprintf("/containers/%s?force=1&v=1", id);
	int rc = simple_post(d, "DELETE", path, d->timeout_ms, ok, 2, err);

	free(path);
	return rc;
}

json_object *docker_container_inspect(struct docker *d, const char *id,
				      struct isobox_err *err)
{
	char *path = xasprintf("/containers/%s/json", id);
	json_object *o = get_json(d, path, err);

	free(path);
	return o;
}

json_object *docker_container_list(struct docker *d, const char *label,
				   struct isobox_err *err)
{
	CURL *c = thread_handle();
	char *path;
	json_object *o;

	if (label != NULL) {
		char *f = xasprintf("{\"label\":[\"%s\"]}", label);
		char *esc = curl_easy_escape(c, f, 0);

		path = xasprintf("/containers/json?all=1&filters=%s", esc);
		curl_free(esc);
		free(f);
	} else {
		path = xasprintf("/containers/json?all=1");
	}
	o = get_json(d, path, err);
	free(path);
	if (o && !json_object_is_type(o, json_type_array)) {
		json_object_put(o);
		o = NULL;
		err_set(err, 503, "sandbox_failed",
			"the engine's container list is not an array");
	}
	return o;
}

int docker_image_id(struct docker *d, const char *ref, char **id,
		    struct isobox_err *err)
{
	char *path = xasprintf("/images/%s/json", ref);
	json_object *o = get_json(d, path, err);
	json_object *v;
	int rc = -1;

	free(path);
	if (o == NULL) {
		if (err && err->status == 404) {
			err_set(err, 503, "image_unavailable",
				"image %s is not present in the engine", ref);
		}
		return -1;
	}
	if (json_object_object_get_ex(o, "Id", &v)) {
		*id = xstrdup(json_object_get_string(v));
		rc = 0;
	} else {
		err_set(err, 503, "image_unavailable",
			"the engine's image answer had no Id");
	}
	json_object_put(o);
	return rc;
}

int docker_image_pull(struct docker *d, const char *ref, struct isobox_err *err)
{
	CURL *c = thread_handle();
	char *esc = curl_easy_escape(c, ref, 0);
	char *path = xasprintf("/images/create?fromImage=%s", esc);
	long st = 0;
	struct buf b = {0};
	char msg[512];
	int rc = -1;

	curl_free(esc);
	if (request_timeout(d, "POST", path, NULL, 600000, &st, &b, err) < 0) {
		goto out;
	}
	/* The pull answers 200 and reports failures inside the stream. */
	if (st != 200 || (b.p && strstr(b.p, "\"errorDetail\""))) {
		err_set(err, 503, "image_unavailable",
			"pulling %s failed: %.300s", ref,
			engine_message(&b, msg, sizeof(msg)));
		goto out;
	}
	rc = 0;
out:
	free(path);
	buf_free(&b);
	return rc;
}

/* ---- hijacked attach ---- */

/* poll(2) one fd: > 0 ready, 0 timed out, -errno. */
static int wait_fd(int fd, short ev, int timeout_ms)
{
	struct pollfd p = {fd, ev, 0};
	int rc;

	do {
		rc = poll(&p, 1, timeout_ms);
	} while (rc < 0 && errno == EINTR);
	return rc < 0 ? -errno : rc;
}

/* Write all n bytes: 0, -ETIMEDOUT at deadline_ms, -EIO when the
 * connection failed. */
static int raw_send(CURL *c, int fd, const void *p, size_t n,
		    int64_t deadline_ms)
{
	const uint8_t *q = p;

	while (n > 0) {
		size_t sent = 0;
		CURLcode rc = curl_easy_send(c, q, n, &sent);

		if (rc == CURLE_AGAIN) {
			int64_t left = deadline_ms - now_ms();
			int w;

			if (left <= 0) {
				return -ETIMEDOUT;
			}
			w = wait_fd(fd, POLLOUT,
				    (int)(left > 1000 ? 1000 : left));
			if (w < 0) {
				return w;
			}
			continue;
		}
		if (rc != CURLE_OK) {
			return -EIO;
		}
		q += sent;
		n -= sent;
	}
	return 0;
}

int docker_attach(struct docker *d, const char *id, struct docker_stream *s,
		  struct isobox_err *err)
{
	CURL *c = curl_easy_init();
	CURLcode rc;
	curl_socket_t sock = CURL_SOCKET_BAD;
	const char *ver;
	char *req = NULL;
	struct buf hdr = {0};
	int64_t deadline = now_ms() + 10000;
	char *url;
	char *end;

	memset(s, 0, sizeof(*s));
	s->fd = -1;
	if (c == NULL) {
		abort();
	}
	/* base_url is scheme://host/vX: connect to scheme://host/ only. */
	ver = strstr(d->base_url + 8, "/v");
	url = xstrndup(d->base_url, (size_t)(ver - d->base_url));
	setup_conn(d, c);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CONNECT_ONLY, 1L);
	rc = curl_easy_perform(c);
	free(url);
	if (rc != CURLE_OK) {
		curl_easy_cleanup(c);
		return err_set(err, 503, "docker_unavailable",
			       "cannot connect to the Docker engine: %s",
			       curl_easy_strerror(rc));
	}
	curl_easy_getinfo(c, CURLINFO_ACTIVESOCKET, &sock);
	s->curl = c;
	s->fd = (int)sock;
	req = xasprintf("POST %s/containers/%s/attach?stream=1&stdin=1&"
			"stdout=1&stderr=1 HTTP/1.1\r\nHost: docker\r\n"
			"Content-Type: application/vnd.docker.raw-stream\r\n"
			"Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n",
			ver, id);
	if (raw_send(c, s->fd, req, strlen(req), deadline) < 0) {
		err_set(err, 503, "docker_unavailable",
			"sending the attach request failed");
		goto fail;
	}
	/* Read until the end of the response headers. */
	for (;;) {
		char tmp[4096];
		size_t got = 0;

		rc = curl_easy_recv(c, tmp, sizeof(tmp), &got);
		if (rc == CURLE_AGAIN) {
			int64_t left = deadline - now_ms();

			if (left <= 0 ||
			    wait_fd(s->fd, POLLIN, (int)left) <= 0) {
				err_set(err, 503, "docker_unavailable",
					"the engine did not answer attach");
				goto fail;
			}
			continue;
		}
		if (rc != CURLE_OK || got == 0) {
			err_set(err, 503, "docker_unavailable",
				"the engine closed the attach connection");
			goto fail;
		}
		buf_add(&hdr, tmp, got);
		end = strstr(hdr.p, "\r\n\r\n");
		if (end) {
			break;
		}
		if (hdr.len > 65536) {
			err_set(err, 503, "sandbox_failed",
				"attach answer headers too long");
			goto fail;
		}
	}
	if (strncmp(hdr.p, "HTTP/1.1 101", 12) != 0 &&
	    strncmp(hdr.p, "HTTP/1.1 200", 12) != 0 &&
	    strncmp(hdr.p, "HTTP/1.0 200", 12) != 0) {
		char *eol = strstr(hdr.p, "\r\n");

		err_set(err, 503, "sandbox_failed", "attach refused: %.*s",
			(int)(eol ? eol - hdr.p : 80), hdr.p);
		goto fail;
	}
	{
		size_t hl = (size_t)(end + 4 - hdr.p);

		if (hdr.len > hl) {
			s->pending_len = hdr.len - hl;
			s->pending = xmalloc(s->pending_len);
			memcpy(s->pending, hdr.p + hl, s->pending_len);
		}
	}
	free(req);
	buf_free(&hdr);
	return 0;
fail:
	free(req);
	buf_free(&hdr);
	docker_stream_close(s);
	return -1;
}

int docker_stream_send(struct docker_stream *s, const void *p, size_t n,
		       int64_t deadline_ms)
{
	if (s->curl == NULL) {
		return -ENOTCONN;
	}
	return raw_send(s->curl, s->fd, p, n, deadline_ms);
}

long docker_stream_recv(struct docker_stream *s, void *p, size_t n,
			int timeout_ms)
{
	if (s->pending_off < s->pending_len) {
		size_t take = s->pending_len - s->pending_off;

		if (take > n) {
			take = n;
		}
		memcpy(p, s->pending + s->pending_off, take);
		s->pending_off += take;
		return (long)take;
	}
	for (;;) {
		size_t got = 0;
		CURLcode rc = curl_easy_recv(s->curl, p, n, &got);
		int w;

		if (rc == CURLE_OK) {
			return (long)got; /* 0 means EOF */
		}
		if (rc != CURLE_AGAIN) {
			return -EIO;
		}
		w = wait_fd(s->fd, POLLIN, timeout_ms);
		if (w == 0) {
			return -ETIMEDOUT;
		}
		if (w < 0) {
			return w;
		}
	}
}

void docker_stream_close(struct docker_stream *s)
{
	if (s->curl) {
		curl_easy_cleanup(s->curl);
	}
	free(s->pending);
	memset(s, 0, sizeof(*s));
	s->fd = -1;
}
