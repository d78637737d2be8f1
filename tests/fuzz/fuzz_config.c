/* fuzz_config.c - libFuzzer harness for the service configuration loader
 * (src/config.c over src/yamlutil.c and libyaml).
 *
 * Input: the contents of isobox.yaml. It is written to a memfd and loaded
 * by path (/proc/self/fd/N), so the real file code path runs without
 * touching the disk. The environment overrides are cleared first so only
 * the file decides. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_WRAP_LOG
#include "config.h"
#include "fuzz_common.h"

static struct fuzz_file cfg;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_clean_env();
	fuzz_verbose_init();
	fuzz_file_open(&cfg, "isobox.yaml");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config c;
	struct config zero;
	struct isobox_err err;
	int rc;

	fuzz_file_set(&cfg, data, size);
	memset(&err, 0, sizeof(err));
	memset(&zero, 0, sizeof(zero));
	rc = config_load(&c, cfg.path, &err);
	FUZZ_CHECK(rc == 0 || rc == -1);
	if (fuzz_verbose) {
		fprintf(stderr, "config: %s\n", rc == 0 ? "accepted" : err.msg);
	}
	if (rc == 0) {
		struct isobox_err err2;

		/* What config_load accepts, config_validate accepts. */
		FUZZ_CHECK(config_validate(&c, &err2) == 0);
		FUZZ_CHECK(c.threads >= 1 && c.threads <= 256);
		FUZZ_CHECK(c.concurrency >= 1 && c.max_files >= 1);
		FUZZ_CHECK(c.docker_host != NULL && c.registry != NULL &&
			   c.api_key != NULL && c.docker_cert_path != NULL);
		FUZZ_CHECK(c.floors.memory_bytes <= c.defaults.memory_bytes &&
			   c.defaults.memory_bytes <= c.ceilings.memory_bytes);
		FUZZ_CHECK(c.floors.cpus <= c.defaults.cpus &&
			   c.defaults.cpus <= c.ceilings.cpus);
		config_free(&c);
	} else {
		/* "c is then freed": nothing left to free or to misuse. */
		FUZZ_CHECK(memcmp(&c, &zero, sizeof(c)) == 0);
		FUZZ_CHECK(err.status == 500);
		FUZZ_CHECK(strcmp(err.code, "config_invalid") == 0);
		FUZZ_CHECK(fuzz_terminated(err.msg, sizeof(err.msg)));
		FUZZ_CHECK(err.msg[0] != '\0');
	}
	return 0;
}
