/* admit_contention.c - what waiting for memory admission costs: N
 * processes (default 8) each admit, hold for a few milliseconds and
 * release, against a budget only 3 of them fit at once, for S seconds.
 * Prints admissions, transactions and CPU time per second of wall time.
 * Not built by default: make bench/admit_contention.
 *
 * usage: bench/admit_contention [procs [seconds [hold_ms]]] */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "admit.h"
#include "service.h"
#include "store.h"
#include "util.h"

#define MIB (1024LL * 1024)

struct result {
	long admitted;
	long timed_out;
	uint64_t read_txns;
	uint64_t write_txns;
	double cpu_s;
};

static void child(const char *dir, int idx, int seconds, int hold_ms, int fd)
{
	struct service svc;
	struct isobox_err err;
	struct result r;
	struct rusage ru;
	struct store_stats st;
	int64_t end = now_ms() + seconds * 1000LL;
	long n = 0;

	memset(&svc, 0, sizeof(svc));
	memset(&r, 0, sizeof(r));
	config_defaults(&svc.cfg);
	free(svc.cfg.run_dir);
	free(svc.cfg.state_dir);
	svc.cfg.run_dir = xasprintf("%s/run", dir);
	svc.cfg.state_dir = xasprintf("%s/state", dir);
	svc.admit_budget_bytes = 1000 * MIB;
	service_identity(&svc);
	store_init(&svc.store);
	if (service_open_store(&svc, &err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		_exit(1);
	}
	while (now_ms() < end) {
		char id[64];
		struct timespec ts = {hold_ms / 1000,
				      (long)(hold_ms % 1000) * 1000000L};
		int rc;

		snprintf(id, sizeof(id), "bench-%d-%ld", idx, n++);
		rc = admit_acquire(&svc, id, 300 * MIB, end, NULL, NULL);
		if (rc == -ETIMEDOUT) {
			r.timed_out++;
			break;
		}
		if (rc < 0) {
			fprintf(stderr, "admit_acquire: %s\n", strerror(-rc));
			_exit(1);
		}
		r.admitted++;
		nanosleep(&ts, NULL);
		admit_release(&svc, id);
	}
	store_stats_get(&st);
	getrusage(RUSAGE_SELF, &ru);
	r.read_txns = st.read_txns;
	r.write_txns = st.write_txns;
	r.cpu_s = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
		  (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	if (write(fd, &r, sizeof(r)) != (ssize_t)sizeof(r)) {
		_exit(1);
	}
	_exit(0);
}

int main(int argc, char **argv)
{
	int procs = argc > 1 ? atoi(argv[1]) : 8;
	int seconds = argc > 2 ? atoi(argv[2]) : 5;
	int hold_ms = argc > 3 ? atoi(argv[3]) : 5;
	char dir[] = "/tmp/isobox-admit-bench-XXXXXX";
	struct result sum;
	int p[2];
	int i;

	if (procs < 1 || seconds < 1 || hold_ms < 0 || !mkdtemp(dir) ||
	    pipe(p) < 0) {
		fprintf(stderr, "usage: %s [procs [seconds [hold_ms]]]\n",
			argv[0]);
		return 2;
	}
	for (i = 0; i < procs; i++) {
		if (fork() == 0) {
			close(p[0]);
			child(dir, i, seconds, hold_ms, p[1]);
		}
	}
	close(p[1]);
	memset(&sum, 0, sizeof(sum));
	for (i = 0; i < procs; i++) {
		struct result r;

		if (read(p[0], &r, sizeof(r)) != (ssize_t)sizeof(r)) {
			fprintf(stderr, "a worker failed\n");
			return 1;
		}
		sum.admitted += r.admitted;
		sum.timed_out += r.timed_out;
		sum.read_txns += r.read_txns;
		sum.write_txns += r.write_txns;
		sum.cpu_s += r.cpu_s;
	}
	while (wait(NULL) > 0) {
	}
	printf("procs %d, %d s, hold %d ms, budget fits 3\n", procs, seconds,
	       hold_ms);
	printf("admissions/s %.0f\nread txns/s %.0f\nwrite txns/s %.0f\n"
	       "CPU s/s %.3f\n",
	       sum.admitted / (double)seconds, (double)sum.read_txns / seconds,
	       (double)sum.write_txns / seconds, sum.cpu_s / seconds);
	{
		char *cmd = xasprintf("rm -rf '%s'", dir);

		if (system(cmd) != 0) {
			fprintf(stderr, "could not remove %s\n", dir);
		}
		free(cmd);
	}
	return 0;
}
