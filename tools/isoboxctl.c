/* isoboxctl - the admin CLI: check the host, list and collect sandboxes,
 * validate the catalogue, drive a running session-mode sandbox. It links
 * the same library as the service and reads the same configuration. */
#include "autoconf.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cgroup.h"
#include "chan.h"
#include "docker.h"
#include "registry.h"
#include "router.h"
#include "service.h"

static int cmd_check(struct service *s)
{
	struct isobox_err e;
	struct slice_state st;
	struct registry *r = registry_get();
	json_object *info;
	json_object *rt;
	char why[256];
	size_t i;
	int bad = 0;

	if (docker_ping(&s->docker, &e) < 0) {
		printf("FAIL docker: %s\n", e.msg);
		registry_put(r);
		return 1;
	}
	printf("ok   docker answers\n");
	info = docker_info(&s->docker, &e);
	if (info && json_object_object_get_ex(info, "Runtimes", &rt) &&
	    json_object_object_get_ex(rt, s->cfg.runtime, NULL)) {
		printf("ok   runtime %s registered\n", s->cfg.runtime);
	} else {
		printf("FAIL runtime %s is not registered\n", s->cfg.runtime);
		bad = 1;
	}
	json_object_put(info);
	cgroup_slice_read("/sys/fs/cgroup", s->cfg.cgroup_parent, &st);
	if (cgroup_slice_ready(&st, why, sizeof(why))) {
		printf("ok   slice %s: memory %lld bytes, pids %lld (cgroup "
		       "v%d)\n",
		       s->cfg.cgroup_parent, (long long)st.memory_limit,
		       (long long)st.pids_limit, st.v2 ? 2 : 1);
	} else {
		printf("FAIL %s\n", why);
		bad = 1;
	}
	for (i = 0; r && i < r->n; i++) {
		const struct lang *l = &r->langs[i];
		char *id = NULL;

		if (l->image_ref == NULL) {
			printf("FAIL %s: image %s not built (no lock entry)\n",
			       l->name, l->image);
			bad = 1;
		} else if (docker_image_id(&s->docker, l->image_ref, &id, &e) <
			   0) {
			printf("%s %s: %s\n", l->image_local ? "FAIL" : "warn",
			       l->name, e.msg);
			bad |= l->image_local;
		} else {
			printf("ok   %s %s: %s\n", l->name, l->version, id);
		}
		free(id);
	}
	registry_put(r);
	return bad;
}

static int cmd_list(struct service *s)
{
	struct isobox_err e;
	json_object *list =
	    docker_container_list(&s->docker, "isobox.managed=1", &e);
	size_t i;

	if (list == NULL) {
		fprintf(stderr, "isoboxctl: %s\n", e.msg);
		return 1;
	}
	for (i = 0; i < json_object_array_length(list); i++) {
		json_object *c = json_object_array_get_idx(list, i);
		json_object *id;
		json_object *state;

		json_object_object_get_ex(c, "Id", &id);
		json_object_object_get_ex(c, "State", &state);
		printf("%.12s %s\n", json_object_get_string(id),
		       json_object_get_string(state));
	}
	json_object_put(list);
	return 0;
}

/* The route table, one "METHOD PATH NAME public|key" line per route: what
 * the OpenAPI check compares docs/openapi.yaml with. Needs no config. */
static int cmd_routes(void)
{
	const struct route *r;
	size_t n;
	size_t i;

	r = router_routes(&n);
	for (i = 0; i < n; i++) {
		printf("%s %s %s %s\n", r[i].method, r[i].path, r[i].name,
		       router_route_public(r[i].name) ? "public" : "key");
	}
	return 0;
}

/* ---- isoboxctl session: drive a running session-mode guest ---- */

static long read_fd(void *ctx, uint8_t *p, size_t cap)
{
	int fd = *(int *)ctx;

	for (;;) {
		ssize_t n = read(fd, p, cap);

		if (n < 0 && errno == EINTR) {
			continue;
		}
		return (long)n;
	}
}

static int write_stdout(void *ctx, const uint8_t *p, size_t n)
{
	(void)ctx;
	return fwrite(p, 1, n, stdout) == n ? 0 : 1;
}

static int print_entry(void *ctx, const struct chan_stat *st, const char *name)
{
	(void)ctx;
	printf("%c %04o %llu %lld %s\n", st->type, (unsigned)st->mode,
	       (unsigned long long)st->size, (long long)st->mtime_ms, name);
	return 0;
}

/* Job output streamed as it comes. */
static int print_output(void *ctx, int stage, int stream, const uint8_t *p,
			size_t n)
{
	FILE *f = stream == 1 ? stdout : stderr;

	(void)ctx;
	(void)stage;
	fwrite(p, 1, n, f);
	fflush(f);
	return 0;
}

static volatile sig_atomic_t ctl_interrupted;

static void on_sigint(int sig)
{
	(void)sig;
	ctl_interrupted = 1;
}

static int ctl_cancelled(void *ctx)
{
	(void)ctx;
	return ctl_interrupted;
}

/* The job of `session run`: JOB, ENV, RUN, STDIN pieces, LIMITS, GO. */
static int session_job(uint32_t id, char **argv, int in_fd, long long wall_ms,
		       struct wire_buf *job)
{
	static const char *const env[] = {"PATH=/usr/local/bin:/usr/bin:/bin",
					  "HOME=/tmp", "LANG=C.UTF-8", NULL};
	struct wire_buf t = {0};
	uint8_t piece[WIRE_CHUNK_MAX];
	size_t i;
	int rc = -1;

	if (wire_put_id(job, WIRE_JOB, id, NULL, 0, NULL, 0) < 0) {
		goto out;
	}
	for (i = 0; env[i]; i++) {
		wire_str_add(&t, env[i]);
	}
	if (wire_put(job, WIRE_ENV, t.p, t.len) < 0) {
		goto out;
	}
	t.len = 0;
	for (; *argv; argv++) {
		wire_str_add(&t, *argv);
	}
	if (wire_put(job, WIRE_RUN, t.p, t.len) < 0) {
		goto out;
	}
	while (in_fd >= 0) {
		long n = read_fd(&in_fd, piece, sizeof(piece));

		if (n < 0) {
			goto out;
		}
		if (n == 0) {
			break;
		}
		if (wire_put(job, WIRE_STDIN, piece, (size_t)n) < 0) {
			goto out;
		}
	}
	t.len = 0;
	wire_kv_add(&t, WIRE_LIMIT_RUN_WALL_MS, wall_ms);
	wire_kv_add(&t, WIRE_LIMIT_OUTPUT, 64LL << 20);
	if (wire_put(job, WIRE_LIMITS, t.p, t.len) < 0 ||
	    wire_put(job, WIRE_GO, NULL, 0) < 0) {
		goto out;
	}
	rc = 0;
out:
	wire_buf_free(&t);
	return rc;
}

static void session_usage(FILE *f)
{
	fprintf(f,
		"usage: isoboxctl session [--pad] [--timeout SEC] CONTAINER "
		"COMMAND\n"
		"  run [--stdin] [--wall MS] -- ARGV...  run one job, output "
		"to stdout/stderr,\n"
		"                                        exit with its status\n"
		"  put PATH [--mode OCTAL] < FILE        upload stdin to PATH\n"
		"  get PATH [OFFSET [LENGTH]]            download to stdout\n"
		"  ls [PATH]                             list a directory\n"
		"  rm PATH                               delete a file or "
		"tree\n"
		"  sync                                  synchronise only\n"
		"--pad takes over from a driver that died mid-write (zero "
		"padding before SYNC).\n"
		"The engine is DOCKER_HOST or the local socket.\n");
}

static int cmd_session(int argc, char **argv)
{
	struct docker d;
	struct chan c;
	struct isobox_err e;
	int flags = 0;
	int timeout_s = 60;
	int64_t deadline;
	const char *id;
	const char *op;
	int i = 0;
	int rc = 1;

	while (i < argc && argv[i][0] == '-') {
		if (strcmp(argv[i], "--pad") == 0) {
			flags |= CHAN_OPEN_PAD;
		} else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
			timeout_s = atoi(argv[++i]);
		} else {
			session_usage(stderr);
			return 2;
		}
		i++;
	}
	if (argc - i < 2) {
		session_usage(stderr);
		return 2;
	}
	id = argv[i++];
	op = argv[i++];
	argc -= i;
	argv += i;
	if (docker_init(&d, getenv("DOCKER_HOST"), 0, NULL, NULL, &e) < 0) {
		fprintf(stderr, "isoboxctl: %s\n", e.msg);
		return 1;
	}
	deadline = now_ms() + (int64_t)timeout_s * 1000;
	if (chan_open(&c, &d, id, flags, timeout_s * 1000, &e) < 0) {
		fprintf(stderr, "isoboxctl: %s: %s\n", e.code, e.msg);
		docker_free(&d);
		return 1;
	}
	if (strcmp(op, "sync") == 0) {
		rc = 0;
	} else if (strcmp(op, "run") == 0) {
		struct sandbox_hooks hooks = {NULL, print_output,
					      ctl_cancelled};
		struct sandbox_result res;
		struct wire_buf job = {0};
		struct limits lim;
		long long wall = 30000;
		int in_fd = -1;
		uint32_t jid = chan_next_id(&c);

		while (argc > 0 && strcmp(argv[0], "--") != 0) {
			if (strcmp(argv[0], "--stdin") == 0) {
				in_fd = 0;
			} else if (strcmp(argv[0], "--wall") == 0 && argc > 1) {
				wall = atoll(argv[1]);
				argc--;
				argv++;
			} else {
				break;
			}
			argc--;
			argv++;
		}
		if (argc < 2 || strcmp(argv[0], "--") != 0) {
			session_usage(stderr);
			rc = 2;
			goto out;
		}
		memset(&lim, 0, sizeof(lim));
		lim.output_bytes = 64LL << 20;
		signal(SIGINT, on_sigint);
		if (session_job(jid, argv + 1, in_fd, wall, &job) < 0) {
			fprintf(stderr, "isoboxctl: the job does not fit\n");
			wire_buf_free(&job);
			goto out;
		}
		if (chan_run(&c, jid, &job, &lim, &hooks, deadline + wall, &res,
			     &e) < 0) {
			fprintf(stderr, "isoboxctl: %s: %s\n", e.code, e.msg);
		} else {
			rc = res.run.exit_code;
		}
		wire_buf_free(&job);
		chan_result_free(&res);
	} else if (strcmp(op, "put") == 0 && argc >= 1) {
		unsigned long mode = 0644;
		int fd = 0;

		if (argc >= 3 && strcmp(argv[1], "--mode") == 0) {
			mode = strtoul(argv[2], NULL, 8);
		}
		if (chan_put(&c, argv[0], (uint32_t)mode, read_fd, &fd,
			     deadline, &e) < 0) {
			fprintf(stderr, "isoboxctl: %s: %s\n", e.code, e.msg);
		} else {
			rc = 0;
		}
	} else if (strcmp(op, "get") == 0 && argc >= 1) {
		uint64_t off = argc >= 2 ? strtoull(argv[1], NULL, 10) : 0;
		uint64_t len = argc >= 3 ? strtoull(argv[2], NULL, 10) : 0;

		if (chan_get(&c, argv[0], off, len, NULL, write_stdout, NULL,
			     deadline, &e) < 0) {
			fprintf(stderr, "isoboxctl: %s: %s\n", e.code, e.msg);
		} else {
			rc = fflush(stdout) == 0 ? 0 : 1;
		}
	} else if (strcmp(op, "ls") == 0) {
		int trunc = 0;

		if (chan_list(&c, argc >= 1 ? argv[0] : "", print_entry, NULL,
			      &trunc, deadline, &e) < 0) {
			fprintf(stderr, "isoboxctl: %s: %s\n", e.code, e.msg);
		} else {
			if (trunc) {
				fprintf(stderr,
					"isoboxctl: truncated at %d "
					"entries\n",
					WIRE_LIST_MAX);
			}
			rc = 0;
		}
	} else if (strcmp(op, "rm") == 0 && argc >= 1) {
		if (chan_delete(&c, argv[0], deadline, &e) < 0) {
			fprintf(stderr, "isoboxctl: %s: %s\n", e.code, e.msg);
		} else {
			rc = 0;
		}
	} else {
		session_usage(stderr);
		rc = 2;
	}
out:
	chan_close(&c);
	docker_free(&d);
	return rc;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: isoboxctl [--config PATH] COMMAND\n"
		"  check     check Docker, the runtime, the slice and "
		"every image\n"
		"  list      list the sandboxes isobox manages\n"
		"  gc        remove sandboxes whose owner is gone or "
		"whose deadline passed\n"
		"  validate  load the configuration and catalogue only\n"
		"  routes    print the API's route table (no config needed)\n"
		"  session CONTAINER COMMAND ...  drive a running "
		"session-mode sandbox\n"
		"            (isoboxctl session --help)\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct service s;
	struct isobox_err e;
	const char *config = NULL;
	const char *cmd;
	int rc;
	int c;

	while ((c = getopt_long(argc, argv, "+c:h", opts, NULL)) != -1) {
		if (c == 'c') {
			config = optarg;
		} else if (c == 'h') {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	cmd = argv[optind];
	if (strcmp(cmd, "routes") == 0) {
		return cmd_routes();
	}
	if (docker_global_init() < 0) {
		fprintf(stderr, "isoboxctl: libcurl cannot be initialised\n");
		return 1;
	}
	/* Needs the engine only, not the service's configuration. */
	if (strcmp(cmd, "session") == 0) {
		if (optind + 1 < argc &&
		    strcmp(argv[optind + 1], "--help") == 0) {
			session_usage(stdout);
			return 0;
		}
		return cmd_session(argc - optind - 1, argv + optind + 1);
	}
	if (service_init(&s, config, &e) < 0) {
		fprintf(stderr, "isoboxctl: %s\n", e.msg);
		return 1;
	}
	if (strcmp(cmd, "check") == 0) {
		rc = cmd_check(&s);
	} else if (strcmp(cmd, "list") == 0) {
		rc = cmd_list(&s);
	} else if (strcmp(cmd, "gc") == 0) {
		int n = service_reap(&s);

		printf("removed %d sandboxes\n", n < 0 ? 0 : n);
		rc = n < 0;
	} else if (strcmp(cmd, "validate") == 0) {
		printf("configuration and catalogue are valid\n");
		rc = 0;
	} else {
		usage(stderr);
		rc = 2;
	}
	service_free(&s);
	return rc;
}
