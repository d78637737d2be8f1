/* job.h - one job for the guest, encoded as wire.h records: the files, the
 * environment, the compile and run argv ({source}/{files} expanded, args
 * appended), stdin and the per-job limits. Pure: no I/O. */
#ifndef ISOBOX_JOB_H
#define ISOBOX_JOB_H

#include "limits.h"
#include "registry.h"
#include "request.h"
#include "wire.h"

/* Encode the job for the guest into out (expanding {source}/{files} and
 * appending args): a JOB record with id first, then the files, ENV,
 * COMPILE, RUN, STDIN (pieces of at most WIRE_CHUNK_MAX), LIMITS and GO.
 * The guest's answer carries the same id. Returns 0 or -1 when it does not
 * fit the framing. */
int job_encode(const struct lang *lang, const struct exec_request *req,
	       const struct limits *lim, uint32_t id, struct wire_buf *out);
/* Append the HANDOFF record for a warm sandbox whose guest prestarted the
 * language's interpreter (nothing when the language has no "prestart"):
 * run[1..] and the args, or for "prestartStage: compile" compile[1..].
 * Sent only to warm sandboxes, ahead of the job. Returns 0 or -1. */
int job_handoff_encode(const struct lang *lang, const struct exec_request *req,
		       struct wire_buf *out);

#endif
