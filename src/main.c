/* main.c - isobox.fcgi: the FastCGI process. Finds its listening socket
 * (fd 0 from lighttpd/spawn-fcgi, systemd's LISTEN_FDS, or --listen),
 * runs worker threads on FCGX_Accept_r, and handles signals in one
 * dedicated thread: SIGHUP reloads the catalogue, SIGTERM/SIGINT stop
 * accepting and let requests in flight finish. */
#include "autoconf.h"

#include <errno.h>
#include <fcgiapp.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "admit.h"
#include "docker.h"
#include "http.h"
#include "metrics.h"
#include "pool.h"
#include "ratelimit.h"
#include "registry.h"
#include "router.h"
#include "service.h"
#include "session.h"

static struct service svc;
static int listen_fd;
static pthread_mutex_t accept_lock = PTHREAD_MUTEX_INITIALIZER;

static void *worker(void *arg)
{
	FCGX_Request fr;

	(void)arg;
	if (FCGX_InitRequest(&fr, listen_fd, FCGI_FAIL_ACCEPT_ON_INTR) != 0) {
		return NULL;
	}
	while (!atomic_load(&svc.stopping)) {
		struct http_req req;
		int rc;

		pthread_mutex_lock(&accept_lock);
		rc = atomic_load(&svc.stopping) ? -1 : FCGX_Accept_r(&fr);
		pthread_mutex_unlock(&accept_lock);
		if (rc < 0) {
			if (atomic_load(&svc.stopping)) {
				break;
			}
			if (rc == -EINTR || rc == -EAGAIN) {
				continue;
			}
			log_error("FCGX_Accept_r failed: %d", rc);
			break;
		}
		http_req_init(&req, &fr);
		router_dispatch(&svc, &req);
		metrics_add(1,
			    "isobox_http_requests_total{route=\"%s\","
			    "status=\"%d\"}",
			    req.route, req.status ? req.status : 200);
		/* Log while the request's parameters are still valid:
		 * FCGX_Finish_r frees them. */
		http_log_access(&req);
		FCGX_Finish_r(&fr);
		if (req.after) {
			req.after(req.after_ctx);
		}
		http_req_free(&req);
	}
	FCGX_Free(&fr, 0);
	return NULL;
}

static void *signal_thread(void *arg)
{
	sigset_t *set = arg;

	for (;;) {
		int sig = 0;

		if (sigwait(set, &sig) != 0) {
			continue;
		}
		if (sig == SIGHUP) {
			log_info("SIGHUP: reloading the catalogue");
			registry_reload(svc.cfg.registry, svc.cfg.images_lock,
					1);
			auth_reload(svc.cfg.api_key, svc.cfg.keys_file, 1);
			continue;
		}
		log_info("signal %d: finishing requests in flight", sig);
		atomic_store(&svc.stopping, 1);
		service_kick(&svc);
		/* Wake the thread blocked in accept(2). */
		shutdown(listen_fd, SHUT_RDWR);
		return NULL;
	}
}

/* Watches the catalogue for changes, keeps the warm pool filled and
 * reaps orphaned sandboxes. */
static void *housekeeping(void *arg)
{
	int64_t next_reap = 0;
	int64_t next_sessions = 0;

	(void)arg;
	while (!atomic_load(&svc.stopping)) {
		struct timespec ts;

		registry_reload(svc.cfg.registry, svc.cfg.images_lock, 0);
		auth_reload(svc.cfg.api_key, svc.cfg.keys_file, 0);
		/* Sessions: idle sandboxes stopped and expired sessions
		 * reaped every few seconds; engine and disk reconciled with
		 * the rows at start-up and with the reaper. */
		if (now_ms() >= next_sessions) {
			session_housekeep(&svc, now_ms() >= next_reap);
			service_reap_cgroups(&svc);
			next_sessions = now_ms() + 5000;
		}
		if (now_ms() >= next_reap) {
			service_reap(&svc);
			/* Every growing table's sweep, and the reader
			 * slots of dead processes. */
			ratelimit_sweep(&svc.store, wall_ms());
			admit_recount(&svc);
			store_reader_check(&svc.store);
			next_reap = now_ms() + 30000;
		}
		pool_maintain(&svc);
		{
			/* Expired memory items leave within a few seconds
			 * (and are 404 from the instant they expire). */
			struct isobox_err kerr;

			if (kv_sweep(&svc.kv, wall_ms(), 10000, &kerr) < 0 &&
			    kerr.status != 503) {
				log_warn("memory sweep: %s", kerr.msg);
			}
		}
		pthread_mutex_lock(&svc.hk_lock);
		if (!svc.hk_kicked && !atomic_load(&svc.stopping)) {
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 2;
			pthread_cond_timedwait(&svc.hk_cond, &svc.hk_lock, &ts);
		}
		svc.hk_kicked = 0;
		pthread_mutex_unlock(&svc.hk_lock);
	}
	return NULL;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: isobox.fcgi [--config PATH] [--listen PATH|:PORT] "
		   "[--threads N]\n"
		   "  Without --listen the FastCGI socket is fd 0 (lighttpd, "
		   "spawn-fcgi)\n  or systemd's LISTEN_FDS.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"listen", required_argument, NULL, 'l'},
	    {"threads", required_argument, NULL, 't'},
	    {"check", no_argument, NULL, 'k'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *config_path = NULL;
	const char *listen_path = NULL;
	int threads = 0;
	int check_only = 0;
	struct isobox_err err;
	sigset_t set;
	pthread_t sig_tid;
	pthread_t hk_tid;
	pthread_t *tids;
	const char *lf;
	int i;
	int c;

	while ((c = getopt_long(argc, argv, "c:l:t:kh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config_path = optarg;
			break;
		case 'l':
			listen_path = optarg;
			break;
		case 't':
			threads = atoi(optarg);
			break;
		case 'k':
			check_only = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (docker_global_init() < 0) {
		fprintf(stderr, "isobox.fcgi: libcurl cannot be initialised\n");
		return 1;
	}
	memset(&err, 0, sizeof(err));
	if (service_init(&svc, config_path, &err) < 0) {
		fprintf(stderr, "isobox.fcgi: %s\n", err.msg);
		return 1;
	}
	if (check_only) {
		printf("configuration and catalogue are valid\n");
		service_free(&svc);
		return 0;
	}
	if (threads <= 0) {
		threads = svc.cfg.threads;
	}
	if (FCGX_Init() != 0) {
		fprintf(stderr, "isobox.fcgi: FCGX_Init failed\n");
		return 1;
	}
	lf = getenv("LISTEN_FDS");
	if (listen_path) {
		if (listen_path[0] == '/') {
			unlink(listen_path);
		}
		listen_fd = FCGX_OpenSocket(listen_path, 128);
		if (listen_fd < 0) {
			fprintf(stderr, "isobox.fcgi: cannot listen on %s\n",
				listen_path);
			return 1;
		}
		if (listen_path[0] == '/') {
			chmod(listen_path, 0660);
		}
	} else if (lf && atoi(lf) >= 1 && getenv("LISTEN_PID") &&
		   atoi(getenv("LISTEN_PID")) == (int)getpid()) {
		listen_fd = 3; /* SD_LISTEN_FDS_START */
	} else {
		listen_fd = 0;
	}

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	pthread_create(&sig_tid, NULL, signal_thread, &set);
	pthread_detach(sig_tid);
	/* A run short of memory takes it back from waiting warm sandboxes. */
	admit_set_reclaim(pool_shed);
	pthread_create(&hk_tid, NULL, housekeeping, NULL);

	log_info("isobox.fcgi %s ready: pid %d, %d threads, concurrency %d",
		 PACKAGE_VERSION, (int)getpid(), threads, svc.cfg.concurrency);
	tids = xcalloc((size_t)threads, sizeof(*tids));
	for (i = 0; i < threads; i++) {
		pthread_create(&tids[i], NULL, worker, NULL);
	}
	for (i = 0; i < threads; i++) {
		pthread_join(tids[i], NULL);
	}
	atomic_store(&svc.stopping, 1);
	service_kick(&svc);
	pthread_join(hk_tid, NULL);
	pool_drain_own(&svc);
	session_pool_drain_own(&svc);
	free(tids);
	log_info("isobox.fcgi %d stopped", (int)getpid());
	service_free(&svc);
	return 0;
}
