/* relay.h - reading one job's answer from the guest: the frames it sends
 * on the container's stdout (demultiplexed by mux.c), the output caps the
 * host enforces again, and the verdict on a sandbox that ended without the
 * guest's DONE (an OOM kill, the host's wall-time kill, the pids cgroup).
 * It knows nothing of HTTP or of the container's life. */
#ifndef ISOBOX_RELAY_H
#define ISOBOX_RELAY_H

#include <stddef.h>
#include <stdint.h>

#include "limits.h"
#include "service.h"
#include "util.h"
#include "wire.h"

struct stage_result {
	int ran;	/* the stage started */
	struct buf out; /* stdout bytes */
	struct buf err; /* stderr bytes */
	int exit_code;	/* exit status, or 128 + signal */
	int signal;	/* terminating signal or 0 */
	int timed_out;
	int oom_killed;
	int truncated;
	int prestarted; /* the guest handed it to a prestarted interpreter */
	int64_t duration_ms;
	/* A kernel step's (WIRE_RES_KERNEL_*): the guest's verdict. */
	int64_t kernel_count;
	int kernel_interrupted;
	int kernel_restarted;
};

struct sandbox_result {
	int has_compile; /* the language has a compile stage */
	struct stage_result compile;
	struct stage_result run;
	char *container_id; /* still to be removed: see sandbox_release */
	int pooled;	    /* it came warm from the pool */
	int guest_done;	    /* the guest sent DONE: it exits on its own */
	int kernel;	    /* a kernel session's step (run.kernel_*) */
	/* The job's DISPLAY records in arrival order, each stored as
	 * u8 kind | u32 length (BE) | the bundle's bytes (see
	 * relay_display_next); their bytes count against the run stage's
	 * output cap (run.truncated when some were dropped). */
	struct buf display;
	size_t ndisplay;
	/* Where the time went, for logs and benchmarks (ms). */
	int64_t t_create, t_attach, t_start, t_total;
};

/* Output callback: stage is 'c' or 'r', stream 1 or 2. Return non-zero
 * when the client is gone: the sandbox is then killed. */
struct sandbox_hooks {
	void *ctx;
	int (*on_output)(void *ctx, int stage, int stream, const uint8_t *p,
			 size_t n);
	int (*cancelled)(void *ctx); /* polled a few times a second */
};

/* State of one relay loop. Zero it, then set hooks, res, lim and job_id:
 * records of any other id (stale output of an earlier step of a session,
 * answers of file operations) are ignored. */
struct relay {
	const struct sandbox_hooks *hooks;
	struct sandbox_result *res;
	const struct limits *lim;
	uint32_t job_id;
	struct wire_dec dec;
	struct buf guest_log;
	char fail[256];
	int ready;
	int done;
	int failed;
	int gone;	      /* the client left */
	int protocol;	      /* the guest broke the framing */
	int compile_reported; /* a RESULT for the compile stage arrived */
};

/* The guest's diagnostics kept per job (its stderr), at most. */
#define GUEST_LOG_MAX 4096

/* Feed one decoded guest record to r (relay_on_mux does it for each
 * record of the stream). Sets r->protocol on a malformed record. */
void relay_on_record(struct relay *r, const struct wire_rec *rec);

/* Walk res->display: *off starts at 0. Returns 1 with the next entry's
 * kind and bytes (borrowed from res), 0 at the end. */
int relay_display_next(const struct sandbox_result *res, size_t *off, int *kind,
		       const uint8_t **p, size_t *n);

/* mux.c callback: feed the guest's stdout (stream 1) to r; stream 2 is
 * the guest's diagnostics. Returns non-zero once the framing is broken. */
int relay_on_mux(void *ctx, int stream, const uint8_t *p, size_t n);

/* The sandbox ended without DONE. Returns 1 when it is a result of the run
 * (OOM, host_timeout, the pids cgroup refusing forks: the running stage is
 * marked killed), 0 when the sandbox itself failed (answer 503). */
int relay_judge_end(struct service *svc, struct relay *r, int host_timeout,
		    int64_t elapsed_ms);
/* After DONE: a SIGKILL the guest did not send itself is checked against
 * the OOM records of the engine, the cgroup and the kernel log. */
void relay_check_oom(struct service *svc, struct sandbox_result *res);
/* 1 when container id was OOM-killed (asked a few times: the engine learns
 * of it asynchronously). */
int relay_oom_killed(struct service *svc, const char *id);

#endif
