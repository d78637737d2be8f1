/* auth.c - API keys, tenants and the constant-time check; see auth.h. */
#include "auth.h"

#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "yamlutil.h"

static void sha256(const char *s, unsigned char out[32])
{
	unsigned int n = 32;

	EVP_Digest(s, strlen(s), out, &n, EVP_sha256(), NULL);
}

void auth_sha256_hex(const char *s, char out[65])
{
	unsigned char h[32];
	int i;

	sha256(s, h);
	for (i = 0; i < 32; i++) {
		snprintf(out + 2 * i, 3, "%02x", h[i]);
	}
}

/* Tenant names end up in paths (run_dir/tenants/NAME), in rate-limit keys
 * ("key:NAME") and in logs, and "public" / "default" name the keyless
 * callers and the api_key. So a name from the keys file is data: it starts
 * with a letter or a digit (never ".", ".." or "-"), holds only
 * [A-Za-z0-9_.-], and is not a reserved name. NULL when fine, else why. */
static const char *tenant_name_bad(const char *s)
{
	static const char *const reserved[] = {AUTH_TENANT_OPEN,
					       AUTH_TENANT_API_KEY, NULL};
	size_t i;

	if (!name_ok(s, sizeof(((struct tenant *)0)->name) - 1) ||
	    !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') ||
	      (s[0] >= '0' && s[0] <= '9'))) {
		return "name must be 1-63 of [A-Za-z0-9_.-] starting with a "
		       "letter or a digit";
	}
	for (i = 0; reserved[i]; i++) {
		if (strcasecmp(s, reserved[i]) == 0) {
			return "name is reserved (\"public\" is every caller "
			       "of "
			       "a server without keys, \"default\" the "
			       "api_key's tenant)";
		}
	}
	return NULL;
}

void auth_free(struct keyring *k)
{
	if (k) {
		free(k->t);
		free(k);
	}
}

static struct tenant *add_tenant(struct keyring *k)
{
	k->t = xrealloc(k->t, (k->n + 1) * sizeof(*k->t));
	memset(&k->t[k->n], 0, sizeof(k->t[0]));
	return &k->t[k->n++];
}

static int cfg_err(struct isobox_err *err, const char *path,
		   const yaml_node_t *n, const char *what)
{
	return err_set(err, 500, "config_invalid", "%s:%d: %s", path,
		       yamlutil_line(n), what);
}

static int load_entry(struct yamlutil_doc *d, yaml_node_t *e, struct tenant *t,
		      const char *path, struct isobox_err *err)
{
	static const char *const allowed[] = {
	    "name",	   "sha256",
	    "concurrency", "rate_per_min",
	    "rate_burst",  "network",
	    "ceilings",	   "memory_bytes",
	    "memory_keys", "session_disk_bytes",
	    NULL};
	yaml_node_t *v;
	char *s = NULL;
	long long n;
	size_t i;
	int rc = -1;

	if (yamlutil_map_check(d, e, allowed, "keys[]", err) < 0) {
		return -1;
	}
	v = yamlutil_map_get(d, e, "name");
	if (v == NULL || yamlutil_to_str(d, v, "name", &s, err) < 0) {
		if (v == NULL) {
			cfg_err(err, path, e, "a key needs a name");
		}
		goto out;
	}
	if (tenant_name_bad(s)) {
		char what[192];

		snprintf(what, sizeof(what), "'%.63s': %s", s,
			 tenant_name_bad(s));
		cfg_err(err, path, v, what);
		goto out;
	}
	snprintf(t->name, sizeof(t->name), "%s", s);
	t->kind = TENANT_KEY;
	free(s);
	s = NULL;
	v = yamlutil_map_get(d, e, "sha256");
	if (v == NULL || yamlutil_to_str(d, v, "sha256", &s, err) < 0) {
		if (v == NULL) {
			cfg_err(err, path, e, "a key needs its sha256");
		}
		goto out;
	}
	if (strlen(s) != 64) {
		cfg_err(err, path, v, "sha256 must be 64 hex characters");
		goto out;
	}
	if (hex_decode(s, 64, t->hash) < 0) {
		cfg_err(err, path, v, "sha256 is not hex");
		goto out;
	}
	{
		static const char *const ik[] = {"concurrency", "rate_per_min",
						 "rate_burst"};
		int *f[] = {&t->concurrency, &t->rate_per_min, &t->rate_burst};

		for (i = 0; i < 3; i++) {
			v = yamlutil_map_get(d, e, ik[i]);
			if (v == NULL) {
				continue;
			}
			if (yamlutil_to_ll(d, v, ik[i], &n, err) < 0) {
				goto out;
			}
			if (n < 0 || n > 1000000) {
				cfg_err(err, path, v,
					"value must be 0..1000000");
				goto out;
			}
			*f[i] = (int)n;
		}
	}
	{
		static const char *const mk[] = {"memory_bytes", "memory_keys",
						 "session_disk_bytes"};
		int64_t *f[] = {&t->memory_bytes, &t->memory_keys,
				&t->session_disk_bytes};

		for (i = 0; i < 3; i++) {
			v = yamlutil_map_get(d, e, mk[i]);
			if (v == NULL) {
				continue;
			}
			if ((i != 1
				 ? yamlutil_to_size(d, v, mk[i], &n, err)
				 : yamlutil_to_ll(d, v, mk[i], &n, err)) < 0) {
				goto out;
			}
			if (n < 1 || n > (1LL << 40)) {
				cfg_err(err, path, v,
					"value must be 1..1099511627776");
				goto out;
			}
			*f[i] = (int64_t)n;
		}
	}
	v = yamlutil_map_get(d, e, "network");
	if (v && yamlutil_to_bool(d, v, "network", &t->network, err) < 0) {
		goto out;
	}
	v = yamlutil_map_get(d, e, "ceilings");
	if (v && yamlutil_to_limits(d, v, "ceilings", &t->ceilings, err) < 0) {
		goto out;
	}
	rc = 0;
out:
	free(s);
	return rc;
}

/* The tenant just added must not share a name with an earlier one: they
 * would share its slots and its rate-limit bucket under two settings. */
static int name_taken(const struct keyring *k, const char *path,
		      const yaml_node_t *e, struct isobox_err *err)
{
	const struct tenant *t = &k->t[k->n - 1];
	size_t i;

	for (i = 0; i + 1 < k->n; i++) {
		if (strcasecmp(k->t[i].name, t->name) == 0) {
			char what[128];

			snprintf(what, sizeof(what),
				 "the name '%s' is used twice (one entry per "
				 "tenant)",
				 t->name);
			return cfg_err(err, path, e, what);
		}
	}
	return 0;
}

static int load_file(struct keyring *k, const char *path,
		     struct isobox_err *err)
{
	struct yamlutil_doc d;
	yaml_node_t *root;
	yaml_node_t *list;
	yaml_node_item_t *it;
	static const char *const top[] = {"keys", NULL};
	int rc = -1;

	memset(&d, 0, sizeof(d));
	if (yamlutil_load_file(&d, path, err) < 0) {
		return -1;
	}
	root = yamlutil_root(&d);
	if (root == NULL) {
		rc = 0; /* an empty file: no keys */
		goto out;
	}
	if (yamlutil_map_check(&d, root, top, "", err) < 0) {
		goto out;
	}
	list = yamlutil_map_get(&d, root, "keys");
	if (list == NULL || yamlutil_is_null(list)) {
		rc = 0;
		goto out;
	}
	if (list->type != YAML_SEQUENCE_NODE) {
		cfg_err(err, path, list, "keys must be a list");
		goto out;
	}
	for (it = list->data.sequence.items.start;
	     it < list->data.sequence.items.top; it++) {
		yaml_node_t *e = yaml_document_get_node(&d.doc, *it);

		if (e == NULL || e->type != YAML_MAPPING_NODE) {
			cfg_err(err, path, e ? e : list,
				"each key must be a mapping");
			goto out;
		}
		if (load_entry(&d, e, add_tenant(k), path, err) < 0 ||
		    name_taken(k, path, e, err) < 0) {
			goto out;
		}
	}
	rc = 0;
out:
	yamlutil_free(&d);
	return rc;
}

struct keyring *auth_load(const char *api_key, const char *keys_file,
			  struct isobox_err *err)
{
	struct keyring *k = xcalloc(1, sizeof(*k));
	struct stat st;

	k->refs = 1;
	if (api_key && *api_key) {
		struct tenant *t = add_tenant(k);

		snprintf(t->name, sizeof(t->name), AUTH_TENANT_API_KEY);
		t->kind = TENANT_KEY;
		sha256(api_key, t->hash);
		/* The single key is the operator's: allow_network decides. */
		t->network = 1;
	}
	if (keys_file && *keys_file) {
		/* A configured keys file means keys are required, even while
		 * it lists none: a wrong path must not open the service. */
		k->required = 1;
		if (stat(keys_file, &st) < 0) {
			err_set(err, 500, "config_invalid", "keys_file %s: %s",
				keys_file, strerror(errno));
			auth_free(k);
			return NULL;
		}
		if (load_file(k, keys_file, err) < 0) {
			auth_free(k);
			return NULL;
		}
	}
	return k;
}

static pthread_mutex_t cur_lock = PTHREAD_MUTEX_INITIALIZER;
static struct keyring *cur;
static struct timespec cur_mtime;
static off_t cur_size = -1;
static int cur_loaded;

struct keyring *auth_get(void)
{
	struct keyring *k;

	pthread_mutex_lock(&cur_lock);
	k = cur;
	if (k) {
		k->refs++;
	}
	pthread_mutex_unlock(&cur_lock);
	return k;
}

void auth_put(struct keyring *k)
{
	int last;

	if (k == NULL) {
		return;
	}
	pthread_mutex_lock(&cur_lock);
	last = --k->refs == 0;
	pthread_mutex_unlock(&cur_lock);
	if (last) {
		auth_free(k);
	}
}

int auth_reload(const char *api_key, const char *keys_file, int force)
{
	struct stat st;
	struct timespec mt = {0, 0};
	off_t size = -1;
	struct keyring *k;
	struct keyring *old;
	struct isobox_err err;

	if (keys_file && *keys_file && stat(keys_file, &st) == 0) {
		mt = st.st_mtim;
		size = st.st_size;
	}
	pthread_mutex_lock(&cur_lock);
	if (!force && cur_loaded && mt.tv_sec == cur_mtime.tv_sec &&
	    mt.tv_nsec == cur_mtime.tv_nsec && size == cur_size) {
		pthread_mutex_unlock(&cur_lock);
		return 0;
	}
	cur_mtime = mt;
	cur_size = size;
	cur_loaded = 1;
	pthread_mutex_unlock(&cur_lock);
	memset(&err, 0, sizeof(err));
	k = auth_load(api_key, keys_file, &err);
	if (k == NULL) {
		log_warn("keys not reloaded, keeping the previous ones: %s",
			 err.msg);
		return -EINVAL;
	}
	pthread_mutex_lock(&cur_lock);
	old = cur;
	cur = k;
	pthread_mutex_unlock(&cur_lock);
	auth_put(old);
	log_info("keys loaded: %zu", k->n);
	return 1;
}

const char *auth_presented(const char *x_api_key, const char *authorization)
{
	if (x_api_key && *x_api_key) {
		return x_api_key;
	}
	if (authorization && strncasecmp(authorization, "Bearer ", 7) == 0) {
		const char *p = authorization + 7;

		while (*p == ' ') {
			p++;
		}
		return *p ? p : NULL;
	}
	return NULL;
}

int auth_check(const struct keyring *k, const char *key, struct tenant *out,
	       struct isobox_err *err)
{
	unsigned char h[32];
	size_t i;
	int found = -1;

	memset(out, 0, sizeof(*out));
	if (k == NULL || (k->n == 0 && !k->required)) {
		snprintf(out->name, sizeof(out->name), AUTH_TENANT_OPEN);
		out->kind = TENANT_OPEN;
		out->network = 1; /* an open service: allow_network decides */
		return 0;
	}
	if (key == NULL || *key == '\0') {
		return err_set(err, 401, "unauthorized",
			       "an API key is required (X-API-Key or "
			       "Authorization: Bearer)");
	}
	sha256(key, h);
	/* Look at every tenant, whatever matched, so the time taken does not
	 * depend on which key (if any) matched. */
	for (i = 0; i < k->n; i++) {
		unsigned char diff = 0;
		size_t j;

		for (j = 0; j < 32; j++) {
			diff |= (unsigned char)(h[j] ^ k->t[i].hash[j]);
		}
		if (diff == 0 && found < 0) {
			found = (int)i;
		}
	}
	if (found < 0) {
		return err_set(err, 401, "unauthorized",
			       "the API key is not valid");
	}
	*out = k->t[found];
	return 0;
}
