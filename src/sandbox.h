/* sandbox.h - the life of one sandbox for one job: get a container (warm
 * from the pool or created from spec.h's shape), attach, start, send the
 * job (job.h), relay the guest's answer (relay.h), and remove it. The host
 * is authoritative for the outer wall time, the output cap and OOM. */
#ifndef ISOBOX_SANDBOX_H
#define ISOBOX_SANDBOX_H

#include <stddef.h>
#include <stdint.h>

#include "limits.h"
#include "relay.h"
#include "registry.h"
#include "request.h"
#include "service.h"
#include "util.h"
#include "wire.h"

/* Run req with lang under lim (already clamped). Blocks until done. On
 * success returns 0 and fills res (even when the program failed, timed out
 * or ran out of memory: that is a result, not an error). On failure
 * returns -1 with err set (503 docker_unavailable, image_unavailable,
 * sandbox_failed; 499 client_gone when hooks say the client left). In both
 * cases call sandbox_release(svc, res) afterwards: it removes the container
 * and frees res. request_id names the container. */
int sandbox_execute(struct service *svc, const struct lang *lang,
		    const struct exec_request *req, const struct limits *lim,
		    const char *request_id, const struct sandbox_hooks *hooks,
		    struct sandbox_result *res, struct isobox_err *err);
void sandbox_release(struct service *svc, struct sandbox_result *res);

#endif
