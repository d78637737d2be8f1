/* test_registry.c - the language catalogue as users and operators meet it:
 * lookups by name, alias and version with the API's error codes, loading
 * errors that point at file:line and key, image pinning through the lock
 * file, and reloads that never lose a working catalogue. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "registry.h"

#define FIXTURES TEST_SRCDIR "/tests/unit/fixtures/registry"
#define GOOD	 FIXTURES "/good"
#define LOCK	 FIXTURES "/images.lock"

#define HEX_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HEX_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define HEX_D "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static int load_good(void **state)
{
	struct isobox_err err = {0};
	struct registry *r = registry_load(GOOD, LOCK, &err);

	if (r == NULL) {
		fail_msg("loading %s: %s", GOOD, err.msg);
	}
	*state = r;
	return 0;
}

static int free_reg(void **state)
{
	registry_free(*state);
	return 0;
}

static void test_load_good(void **state)
{
	struct registry *r = *state;
	const struct lang *py;
	const struct lang *c;

	assert_int_equal(r->refs, 1);
	assert_int_equal(r->n, 4);
	assert_string_equal(r->origin, GOOD);
	/* Files in name order, entries in file order. */
	assert_string_equal(r->langs[0].name, "python");
	assert_string_equal(r->langs[0].version, "3.11.2");
	assert_string_equal(r->langs[1].version, "3.12");
	assert_string_equal(r->langs[2].name, "bash");
	assert_string_equal(r->langs[3].name, "c");

	py = &r->langs[0];
	assert_string_equal(py->aliases[0], "py");
	assert_string_equal(py->aliases[2], "python3");
	assert_null(py->aliases[3]);
	assert_string_equal(py->image, "isobox/python");
	assert_string_equal(py->image_ref, "sha256:" HEX_A);
	assert_int_equal(py->image_local, 1);
	assert_string_equal(py->source, "main.py");
	assert_null(py->compile);
	assert_null(py->prestart);
	/* No "pool:": the config's pool defaults apply. */
	assert_int_equal(py->pool_max, -1);
	assert_int_equal(py->pool_idle_ms, -1);
	/* Placeholders are the sandbox's to expand. */
	assert_string_equal(py->run[0], "python3");
	assert_string_equal(py->run[1], "{source}");
	assert_null(py->run[2]);
	assert_string_equal(py->env[0], "PYTHONDONTWRITEBYTECODE=1");
	assert_string_equal(py->env[1], "PYTHONUNBUFFERED=1");
	assert_null(py->env[2]);
	assert_int_equal(py->tmpfs_exec, 0);
	assert_int_equal(py->limits.set, LIM_MEMORY | LIM_WALL);
	assert_int_equal(py->limits.v.memory_bytes, 128 << 20);
	assert_int_equal(py->limits.v.wall_time_ms, 3000);

	/* Pinned by digest: used as written. */
	assert_string_equal(r->langs[1].image_ref,
			    "example.org/isobox/python@sha256:" HEX_D);
	assert_int_equal(r->langs[1].image_local, 0);
	assert_null(r->langs[1].env[0]);
	assert_int_equal(r->langs[1].limits.set, 0);

	/* Local but not in the lock: loads, unresolved. */
	assert_null(r->langs[2].image_ref);
	assert_int_equal(r->langs[2].image_local, 1);

	c = &r->langs[3];
	assert_string_equal(c->image_ref, "sha256:" HEX_B);
	assert_non_null(c->compile);
	assert_string_equal(c->compile[0], "gcc");
	assert_string_equal(c->compile[4], "{files}");
	assert_null(c->compile[5]);
	assert_string_equal(c->run[0], "/box/a.out");
	assert_int_equal(c->tmpfs_exec, 1);
	assert_int_equal(c->limits.set, LIM_COMPILE_MEMORY | LIM_PIDS);
	assert_int_equal(c->limits.v.compile_memory_bytes, 768 << 20);
	assert_int_equal(c->limits.v.pids, 32);
}

static void test_find(void **state)
{
	struct registry *r = *state;
	struct isobox_err err = {0};
	const struct lang *l;

	l = registry_find(r, "python", NULL, &err);
	assert_ptr_equal(l, &r->langs[0]); /* first listed wins */
	l = registry_find(r, "py", "", &err);
	assert_ptr_equal(l, &r->langs[0]);
	l = registry_find(r, "PY3", NULL, &err);
	assert_ptr_equal(l, &r->langs[0]);
	l = registry_find(r, "python3", "3.12", &err);
	assert_ptr_equal(l, &r->langs[1]);
	l = registry_find(r, "python@3.12", NULL, &err);
	assert_ptr_equal(l, &r->langs[1]);
	l = registry_find(r, "py@3.11.2", "3.11.2", &err);
	assert_ptr_equal(l, &r->langs[0]);
	/* A leading run of components, as in the API's "3.11". */
	l = registry_find(r, "python", "3.11", &err);
	assert_ptr_equal(l, &r->langs[0]);
	l = registry_find(r, "python@3", NULL, &err);
	assert_ptr_equal(l, &r->langs[0]);
	l = registry_find(r, "sh", NULL, &err);
	assert_ptr_equal(l, &r->langs[2]);
	l = registry_find(r, "gcc", "12", &err);
	assert_ptr_equal(l, &r->langs[3]);
}

/* The default version of a language is the first listed (python 3.11.2
 * before 3.12): the one the warm pools keep; a catalogue's language list
 * in the config is commas and/or spaces. */
static void test_default_and_listed(void **state)
{
	struct registry *r = *state;

	assert_true(registry_is_default(r, &r->langs[0]));
	assert_false(registry_is_default(r, &r->langs[1]));
	assert_true(registry_is_default(r, &r->langs[2]));
	assert_true(name_listed("python", "python"));
	assert_true(name_listed("node, python", "python"));
	assert_true(name_listed(" node,,python ruby", "ruby"));
	assert_false(name_listed("python3, pythonx", "python"));
	assert_false(name_listed("", "python"));
	assert_false(name_listed(NULL, "python"));
}

static void test_find_errors(void **state)
{
	struct registry *r = *state;
	struct isobox_err err = {0};

	assert_null(registry_find(r, "cobol", NULL, &err));
	assert_int_equal(err.status, 400);
	assert_string_equal(err.code, "unknown_language");
	assert_string_equal(err.msg, "unknown language 'cobol'");

	assert_null(registry_find(r, "cobol@1", NULL, &err));
	assert_string_equal(err.msg, "unknown language 'cobol'");

	assert_null(registry_find(r, "python", "3.9", &err));
	assert_int_equal(err.status, 400);
	assert_string_equal(err.code, "unknown_version");
	assert_non_null(strstr(err.msg, "'3.9'"));
	assert_non_null(strstr(err.msg, "python has versions: 3.11.2, 3.12"));

	/* By alias, the message names the language. */
	assert_null(registry_find(r, "py@3.1", NULL, &err));
	assert_string_equal(err.code, "unknown_version");
	assert_non_null(strstr(err.msg, "python has versions: 3.11.2, 3.12"));

	/* "3.1" is not a component prefix of "3.11.2". */
	assert_null(registry_find(r, "c", "1", &err));
	assert_non_null(strstr(err.msg, "c has versions: 12"));

	assert_null(registry_find(r, "", NULL, &err));
	assert_string_equal(err.code, "language_required");
	assert_null(registry_find(r, NULL, NULL, &err));
	assert_string_equal(err.code, "language_required");

	assert_null(registry_find(r, "python@3.12", "3.11.2", &err));
	assert_string_equal(err.code, "invalid_field");

	/* Untrusted text in messages stays printable. */
	assert_null(registry_find(r, "x\n\x01y", NULL, &err));
	assert_string_equal(err.msg, "unknown language 'x??y'");

	assert_null(registry_find(NULL, "python", NULL, &err));
	assert_string_equal(err.code, "unknown_language");
}

static void test_single_file_no_lock(void **state)
{
	struct isobox_err err = {0};
	struct registry *r;

	(void)state;
	r = registry_load(GOOD "/20-c.yaml", FIXTURES "/no-such.lock", &err);
	assert_non_null(r);
	assert_int_equal(r->n, 1);
	assert_null(r->langs[0].image_ref);
	assert_int_equal(r->langs[0].image_local, 1);
	registry_free(r);

	r = registry_load(GOOD "/20-c.yaml", NULL, &err);
	assert_non_null(r);
	assert_null(r->langs[0].image_ref);
	registry_free(r);
}

/* Load path and expect failure whose message holds every string of want. */
static void expect_error(const char *path, const char *lock,
			 const char *const *want)
{
	struct isobox_err err = {0};
	struct registry *r = registry_load(path, lock, &err);
	size_t i;

	if (r != NULL) {
		registry_free(r);
		fail_msg("%s loaded, expected an error", path);
	}
	for (i = 0; want[i] != NULL; i++) {
		if (strstr(err.msg, want[i]) == NULL) {
			fail_msg("%s: \"%s\" lacks \"%s\"", path, err.msg,
				 want[i]);
		}
	}
}

static void test_load_errors(void **state)
{
	(void)state;
	expect_error(FIXTURES "/dup_alias", NULL,
		     (const char *const[]){"dup_alias/b.yaml:4:", "'py'",
					   "pypy", "python",
					   "dup_alias/a.yaml:2", NULL});
	expect_error(FIXTURES "/dup_version.yaml", NULL,
		     (const char *const[]){"dup_version.yaml:7:", "ruby 3.1",
					   "already defined", NULL});
	expect_error(FIXTURES "/bad_digest.yaml", NULL,
		     (const char *const[]){"bad_digest.yaml:4:", "image",
					   "sha256", NULL});
	expect_error(FIXTURES "/missing_run.yaml", NULL,
		     (const char *const[]){"missing_run.yaml:2:",
					   "missing required key 'run'", NULL});
	expect_error(
	    FIXTURES "/bad_source.yaml", NULL,
	    (const char *const[]){"bad_source.yaml:5:", "source", NULL});
	expect_error(FIXTURES "/unknown_key.yaml", NULL,
		     (const char *const[]){
			 "unknown_key.yaml:7:", "unknown key 'timeout'", NULL});
	expect_error(GOOD, FIXTURES "/bad.lock",
		     (const char *const[]){"bad.lock:2:", NULL});
	expect_error(FIXTURES "/none-here", NULL,
		     (const char *const[]){"none-here", NULL});
	/* A directory without catalogue files is refused, so a wrong path
	 * cannot empty the service's catalogue on reload. */
	expect_error(TEST_SRCDIR "/tests/unit/fixtures", NULL,
		     (const char *const[]){"no *.yaml", NULL});
}

/* ---- files the tests write ---- */

struct tmp {
	char dir[64];
	char file[128];
};

static void tmp_write(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

#define ENTRY_FMT                                                              \
	"languages:\n"                                                         \
	"  - name: %s\n"                                                       \
	"    version: \"%s\"\n"                                                \
	"    image: isobox/%s\n"                                               \
	"    source: main.x\n"                                                 \
	"    run: [run, \"{source}\"]\n"

static void write_lang(const char *path, const char *name, const char *version)
{
	char text[512];

	snprintf(text, sizeof(text), ENTRY_FMT, name, version, name);
	tmp_write(path, text);
}

static void test_inline_errors(void **state)
{
	static const struct {
		const char *yaml;
		const char *want;
	} cases[] = {
	    {"", "empty file"},
	    {"langs: []\n", ":1: unknown key 'langs'"},
	    {"languages: {}\n", ":1: languages: expected a list"},
	    {"languages: []\n", "no languages"},
	    {"languages:\n  - name: Python\n    version: 1\n    image: x\n"
	     "    source: m\n    run: [a]\n",
	     ":2: name:"},
	    {"languages:\n  - [a]\n", ":2: languages[0]: expected a mapping"},
	    {"languages:\n  - name: a\n    version: 1\n    image: x\n"
	     "    source: m\n    run: []\n",
	     ":6: run: must not be empty"},
	    {"languages:\n  - name: a\n    version: 1\n    image: x\n"
	     "    source: m\n    run: [a, [b]]\n",
	     ":6: run[1]: expected a string"},
	    {"languages:\n  - name: a\n    version: 1 2\n    image: x\n"
	     "    source: m\n    run: [a]\n",
	     ":3: version:"},
	    {"languages:\n  - name: a\n    version: 1\n    image: x\n"
	     "    source: m\n    run: [a]\n    env: {1X: y}\n",
	     ":7: env: '1X'"},
	    {"languages:\n  - name: a\n    version: 1\n    image: x\n"
	     "    source: m\n    run: [a]\n    limits: {pids: -1}\n",
	     ":7: limits.pids"},
	    {"languages:\n  - name: a\n    version: 1\n    image: x\n"
	     "    source: m\n    run: [a]\n    tmpfs_exec: sometimes\n",
	     ":7: tmpfs_exec: expected true or false"},
	    {"languages:\n  - name: a\n    version: 1\n    image: x\n"
	     "    source: m\n    run: [a]\n    prestart: []\n",
	     ":7: prestart: must not be empty"},
	    {"languages:\n  - name: a\n    version: 1\n    image: x\n"
	     "    source: m\n    compile: [cc, m]\n    run: [./a]\n"
	     "    prestart: [b]\n",
	     ":8: prestart: only an interpreted language"},
	    {"languages:\n  - name: a\n    version: 1\n    image: x\n"
	     "    source: m\n    run: [a]\n    prestart: [b]\n"
	     "    prestartStage: compile\n",
	     ":8: prestartStage: compile needs a compile stage"},
	    {"languages:\n  - name: a\n    version: 1\n    image: x\n"
	     "    source: m\n    compile: [cc, m]\n    run: [./a]\n"
	     "    prestartStage: compile\n",
	     ":8: prestartStage: needs a prestart"},
	    {"languages:\n  - name: a\n    version: 1\n    image: x\n"
	     "    source: m\n    compile: [cc, m]\n    run: [./a]\n"
	     "    prestart: [b]\n    prestartStage: link\n",
	     ":9: prestartStage: must be run or compile"},
	    {"languages:\n  - name: a\n    version: 1\n    image: x\n"
	     "    source: m\n    run: [a]\n    prestart: [b]\n"
	     "    prestartFifo: tmp/go\n",
	     ":8: prestartFifo: must be an absolute path"},
	    {"languages:\n  - name: a\n    version: 1\n    image: x\n"
	     "    source: m\n    run: [a]\n    prestartFifo: /tmp/go\n",
	     ":7: prestartFifo: must be an absolute path, and needs a "
	     "run-stage prestart"},
	    {"languages:\n  - name: a\n    version: 1\n    image: x\n"
	     "    source: m\n    run: [a]\n    prestart: [b]\n"
	     "    runPrestart: [c]\n",
	     ":8: runPrestart: must not be empty, and needs prestartStage: "
	     "compile"},
	    {"languages:\n  - name: a\n    version: 1\n    image: x\n"
	     "    source: m\n    compile: [cc, m]\n    run: [./a]\n"
	     "    prestart: [b]\n    prestartStage: compile\n"
	     "    runPrestart: []\n",
	     ":10: runPrestart: must not be empty"},
	    {"languages:\n  - name: a\n    version: 1\n    image: x\n"
	     "    source: m\n    run: [a]\n    pool: {max: 65}\n",
	     ":7: pool.max: must be 0..64"},
	    {"languages:\n  - name: a\n    version: 1\n    image: x\n"
	     "    source: m\n    run: [a]\n    pool: {idle_ms: 5}\n",
	     ":7: pool.idle_ms: must be"},
	    {"languages:\n  - name: a\n    version: 1\n    image: x\n"
	     "    source: m\n    run: [a]\n    pool: {size: 1}\n",
	     "unknown key 'size'"},
	    {"languages:\n  - name: a\n    version: 1\n    image: x y\n"
	     "    source: m\n    run: [a]\n",
	     ":4: image:"},
	    {"languages:\n  - name: a\n    version: 1\n    image: x@sha256:"
	     "ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF01234567"
	     "89\n    source: m\n    run: [a]\n",
	     ":4: image:"},
	    {"languages:\n  - name: a\n    version: 1\n    image: x\n"
	     "    source: \"a\\0b\"\n    run: [a]\n",
	     ":5: source: a NUL byte"},
	    {"languages:\n  - name: a\n    version: 1\n    aliases: [b]\n"
	     "    image: x\n    source: m\n    run: [a]\n"
	     "  - name: b\n    version: 1\n    image: x\n"
	     "    source: m\n    run: [a]\n",
	     ":8: name 'b' is already used by a"},
	};
	struct tmp t;
	size_t i;

	(void)state;
	snprintf(t.dir, sizeof(t.dir), "/tmp/isobox-test-registry-XXXXXX");
	assert_non_null(mkdtemp(t.dir));
	snprintf(t.file, sizeof(t.file), "%s/cat.yaml", t.dir);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct isobox_err err = {0};
		struct registry *r;

		tmp_write(t.file, cases[i].yaml);
		r = registry_load(t.file, NULL, &err);
		if (r != NULL) {
			registry_free(r);
			fail_msg("case %zu loaded", i);
		}
		if (strstr(err.msg, "cat.yaml") == NULL ||
		    strstr(err.msg, cases[i].want) == NULL) {
			fail_msg("case %zu: got \"%s\"", i, err.msg);
		}
	}
	unlink(t.file);
	rmdir(t.dir);
}

/* "prestartStage: compile" prestarts a compiled language's compiler;
 * "run" (or nothing) keeps the interpreter's prestart. */
static void test_prestart_stage(void **state)
{
	struct isobox_err err = {0};
	struct registry *r;
	struct tmp t;

	(void)state;
	snprintf(t.dir, sizeof(t.dir), "/tmp/isobox-test-registry-XXXXXX");
	assert_non_null(mkdtemp(t.dir));
	snprintf(t.file, sizeof(t.file), "%s/cat.yaml", t.dir);
	tmp_write(t.file,
		  "languages:\n  - name: j\n    version: 1\n    image: x\n"
		  "    source: M.java\n    compile: [jc, \"{files}\"]\n"
		  "    run: [jr]\n    prestart: [jc-server]\n"
		  "    prestartStage: compile\n    runPrestart: [jr-boot, x]\n"
		  "  - name: p\n    version: 1\n    image: x\n"
		  "    source: m\n    run: [py]\n    prestart: [boot]\n"
		  "    prestartStage: run\n"
		  "  - name: q\n    version: 1\n    image: x\n"
		  "    source: m\n    run: [py]\n    prestart: [boot]\n");
	r = registry_load(t.file, NULL, &err);
	assert_non_null(r);
	assert_int_equal(r->langs[0].prestart_compile, 1);
	assert_string_equal(r->langs[0].prestart[0], "jc-server");
	assert_string_equal(r->langs[0].run_prestart[0], "jr-boot");
	assert_string_equal(r->langs[0].run_prestart[1], "x");
	assert_null(r->langs[0].run_prestart[2]);
	assert_null(r->langs[1].run_prestart);
	assert_int_equal(r->langs[1].prestart_compile, 0);
	assert_int_equal(r->langs[2].prestart_compile, 0);
	registry_free(r);
	unlink(t.file);
	rmdir(t.dir);
}

static void test_current_refcount(void **state)
{
	struct isobox_err err = {0};
	struct registry *a = registry_load(GOOD, LOCK, &err);
	struct registry *b = registry_load(GOOD "/20-c.yaml", LOCK, &err);
	struct registry *held;
	struct registry *now;

	(void)state;
	assert_non_null(a);
	assert_non_null(b);
	assert_null(registry_get());
	registry_current_set(a);
	held = registry_get();
	assert_ptr_equal(held, a);
	assert_int_equal(a->refs, 2);
	/* Swapping drops the catalogue's own reference; a request still
	 * holding the old one keeps it alive (valgrind checks the rest). */
	registry_current_set(b);
	assert_int_equal(held->refs, 1);
	assert_string_equal(held->langs[0].name, "python");
	now = registry_get();
	assert_ptr_equal(now, b);
	registry_put(now);
	registry_put(held);
	registry_put(NULL);
	registry_reset();
	assert_null(registry_get());
}

/* Make sure the next write gets a different mtime on coarse clocks. */
static void bump_mtime(const char *path)
{
	struct stat st;
	struct timespec ts[2];

	assert_int_equal(stat(path, &st), 0);
	ts[0] = st.st_atim;
	ts[1] = st.st_mtim;
	ts[1].tv_sec -= 10;
	assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

static void test_reload(void **state)
{
	struct tmp t;
	char lock[160];
	char extra[160];
	struct registry *r;
	struct registry *held;

	(void)state;
	registry_reset();
	snprintf(t.dir, sizeof(t.dir), "/tmp/isobox-test-registry-XXXXXX");
	assert_non_null(mkdtemp(t.dir));
	snprintf(t.file, sizeof(t.file), "%s/10-ruby.yaml", t.dir);
	snprintf(lock, sizeof(lock), "%s/images.lock", t.dir);
	snprintf(extra, sizeof(extra), "%s/20-lua.yaml", t.dir);

	write_lang(t.file, "ruby", "3.1");
	bump_mtime(t.file);
	assert_int_equal(registry_reload(t.dir, lock, 0), 1);
	r = registry_get();
	assert_non_null(r);
	assert_int_equal(r->n, 1);
	assert_null(r->langs[0].image_ref);
	registry_put(r);

	/* Nothing changed: nothing done, unless forced. */
	assert_int_equal(registry_reload(t.dir, lock, 0), 0);
	assert_int_equal(registry_reload(t.dir, lock, 1), 1);
	assert_int_equal(registry_reload(t.dir, lock, 0), 0);
	held = registry_get();

	/* A broken file: the old catalogue stays, reported once. */
	tmp_write(t.file, "languages:\n  - name: ruby\n");
	assert_int_equal(registry_reload(t.dir, lock, 0), -1);
	assert_int_equal(registry_reload(t.dir, lock, 0), 0);
	r = registry_get();
	assert_ptr_equal(r, held);
	registry_put(r);

	/* A good change is picked up. */
	write_lang(t.file, "ruby", "3.2.1");
	assert_int_equal(registry_reload(t.dir, lock, 0), 1);
	r = registry_get();
	assert_ptr_not_equal(r, held);
	assert_string_equal(r->langs[0].version, "3.2.1");
	registry_put(r);
	/* The request that held the old one still can read it. */
	assert_string_equal(held->langs[0].version, "3.1");
	registry_put(held);

	/* The lock file is watched too. */
	tmp_write(lock, "isobox/ruby sha256:" HEX_A "\n");
	assert_int_equal(registry_reload(t.dir, lock, 0), 1);
	r = registry_get();
	assert_string_equal(r->langs[0].image_ref, "sha256:" HEX_A);
	registry_put(r);

	/* So are new files in the directory. */
	write_lang(extra, "lua", "5.4");
	assert_int_equal(registry_reload(t.dir, lock, 0), 1);
	r = registry_get();
	assert_int_equal(r->n, 2);
	assert_string_equal(r->langs[1].name, "lua");
	registry_put(r);

	registry_reset();
	unlink(extra);
	unlink(lock);
	unlink(t.file);
	rmdir(t.dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_load_good, load_good,
					    free_reg),
	    cmocka_unit_test_setup_teardown(test_find, load_good, free_reg),
	    cmocka_unit_test_setup_teardown(test_default_and_listed, load_good,
					    free_reg),
	    cmocka_unit_test_setup_teardown(test_find_errors, load_good,
					    free_reg),
	    cmocka_unit_test(test_single_file_no_lock),
	    cmocka_unit_test(test_load_errors),
	    cmocka_unit_test(test_inline_errors),
	    cmocka_unit_test(test_prestart_stage),
	    cmocka_unit_test(test_current_refcount),
	    cmocka_unit_test(test_reload),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
