/* fuzz_registry.c - libFuzzer harness for the language catalogue loader
 * (src/registry.c over src/yamlutil.c and libyaml) and its lookups.
 *
 * Input: a catalogue file, optionally followed by the line "%%%%" and the
 * contents of an images lock file (without it, no lock path is given).
 * Both go to memfds loaded by path. A loaded catalogue is then checked
 * against the promises of registry.h, and every name, alias and version in
 * it is looked up with registry_find. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_WRAP_LOG
#include "fuzz_common.h"
#include "registry.h"
#include "wire.h"

#define SEP "\n%%%%\n"

static struct fuzz_file cat;
static struct fuzz_file lock;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_verbose_init();
	fuzz_file_open(&cat, "languages.yaml");
	fuzz_file_open(&lock, "images.lock");
	return 0;
}

static int sha256_ref(const char *s)
{
	size_t i;

	if (strncmp(s, "sha256:", 7) != 0 || strlen(s) != 7 + 64) {
		return 0;
	}
	for (i = 7; s[i] != '\0'; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'a' && s[i] <= 'f'))) {
			return 0;
		}
	}
	return 1;
}

static void check_find(const struct registry *r, const struct lang *l,
		       const char *spec, const char *version)
{
	struct isobox_err err;
	const struct lang *f;

	memset(&err, 0, sizeof(err));
	f = registry_find(r, spec, version, &err);
	FUZZ_CHECK(f != NULL);
	FUZZ_CHECK(f >= r->langs && f < r->langs + r->n);
	/* Names and aliases lead to one language name only. */
	FUZZ_CHECK(strcmp(f->name, l->name) == 0);
	if (version != NULL && version[0] != '\0') {
		/* (name, version) is unique: an exact version finds it. */
		FUZZ_CHECK(f == l);
	}
}

static void check_registry(const struct registry *r)
{
	size_t i;
	size_t k;

	FUZZ_CHECK(r->refs == 1);
	FUZZ_CHECK(r->n >= 1 && r->langs != NULL && r->origin != NULL);
	for (i = 0; i < r->n; i++) {
		const struct lang *l = &r->langs[i];
		char spec[160];
		struct isobox_err err;

		FUZZ_CHECK(l->name != NULL && l->name[0] != '\0');
		FUZZ_CHECK(l->version != NULL && l->version[0] != '\0');
		FUZZ_CHECK(l->image != NULL && l->source != NULL);
		FUZZ_CHECK(wire_name_ok(l->source, strlen(l->source)) == 0);
		FUZZ_CHECK(l->aliases != NULL && l->env != NULL);
		FUZZ_CHECK(l->run != NULL && l->run[0] != NULL);
		FUZZ_CHECK(l->compile == NULL || l->compile[0] != NULL);
		FUZZ_CHECK(l->tmpfs_exec == 0 || l->tmpfs_exec == 1);
		FUZZ_CHECK((l->limits.set & ~(unsigned)LIM_ALL) == 0);
		if (l->image_local) {
			FUZZ_CHECK(strchr(l->image, '@') == NULL);
			FUZZ_CHECK(l->image_ref == NULL ||
				   sha256_ref(l->image_ref));
		} else {
			const char *at = strchr(l->image, '@');

			FUZZ_CHECK(l->image_ref != NULL && at != NULL);
			FUZZ_CHECK(sha256_ref(at + 1));
		}
		for (k = 0; l->env[k] != NULL; k++) {
			const char *eq = strchr(l->env[k], '=');
			size_t j;

			FUZZ_CHECK(eq != NULL && eq != l->env[k]);
			/* env is a mapping: each variable is set once. */
			for (j = 0; j < k; j++) {
				FUZZ_CHECK(
				    strncmp(l->env[j], l->env[k],
					    (size_t)(eq - l->env[k]) + 1) != 0);
			}
		}

		check_find(r, l, l->name, l->version);
		check_find(r, l, l->name, NULL);
		snprintf(spec, sizeof(spec), "%s@%s", l->name, l->version);
		check_find(r, l, spec, NULL);
		check_find(r, l, spec, l->version);
		for (k = 0; l->aliases[k] != NULL; k++) {
			check_find(r, l, l->aliases[k], l->version);
		}
		/* A version that cannot exist (versions never hold '@'). */
		memset(&err, 0, sizeof(err));
		FUZZ_CHECK(registry_find(r, l->name, "@", &err) == NULL);
		FUZZ_CHECK(strcmp(err.code, "unknown_version") == 0);
		FUZZ_CHECK(fuzz_terminated(err.msg, sizeof(err.msg)));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *sep = memmem(data, size, SEP, strlen(SEP));
	size_t cat_len = sep ? (size_t)(sep - (const char *)data) : size;
	struct isobox_err err;
	struct registry *r;

	fuzz_file_set(&cat, data, cat_len);
	if (sep != NULL) {
		size_t skip = cat_len + strlen(SEP);

		fuzz_file_set(&lock, data + skip, size - skip);
	}
	memset(&err, 0, sizeof(err));
	r = registry_load(cat.path, sep ? lock.path : NULL, &err);
	if (fuzz_verbose) {
		if (r != NULL) {
			fprintf(stderr, "registry: %zu languages\n", r->n);
		} else {
			fprintf(stderr, "registry: %s\n", err.msg);
		}
	}
	if (r != NULL) {
		check_registry(r);
		registry_free(r);
	} else {
		FUZZ_CHECK(err.status == 500);
		FUZZ_CHECK(strcmp(err.code, "config_invalid") == 0);
		FUZZ_CHECK(fuzz_terminated(err.msg, sizeof(err.msg)));
		FUZZ_CHECK(err.msg[0] != '\0');
	}
	return 0;
}
