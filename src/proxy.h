/* proxy.h -- relay mode's answers: upstream outcomes as libmicrohttpd responses. */
#ifndef AVATAR_PROXY_H
#define AVATAR_PROXY_H

#include "relay.h"
#include "routes.h"

struct MHD_Connection;
struct MHD_Response;

/*
 * Relay mode, a request for the list route, from the access handler.
 * *JOB is NULL on the request's first pass: take a relay slot (none
 * free: *JOB stays NULL, answer proxy_response's 503 at once) and
 * either, when BLOCKING (thread-per-connection mode), submit the job and
 * wait for it here, or, in epoll mode, set *REQ_CLS to the job, suspend
 * CONN and submit the job, the relay thread resuming CONN once it is
 * done (MHD then calls the handler again, with the job in *REQ_CLS).  On
 * a later pass *JOB is that job.  Returns 1 when the handler is to
 * return MHD_YES and wait to be called again (CONN is suspended), 0 when
 * the answer is ready for proxy_response.  Handler threads only.
 */
int proxy_request(struct relay *rl, int blocking, struct MHD_Connection *conn,
                  struct relay_job **job, void **req_cls);

/*
 * The answer for the done JOB, to queue then destroy: the upstream body
 * (not copied: the response owns the slot's buffer until libmicrohttpd
 * frees it, which returns the slot) with Content-Type application/json,
 * Engine, Location LOCATION and, if CLOSING, "Connection: close"; or a
 * JSON error (502, 503 or 504), the slot being returned at once.  With
 * JOB NULL (no free slot), the 503 "upstream queue full".  *STATUS and
 * *INDEX receive the HTTP status and its counter, *LEN the body's
 * length.  Returns NULL if out
 * of memory (the slot is returned).  Any thread.
 */
struct MHD_Response *proxy_response(struct relay_job *job,
                                    const char *location, int closing,
                                    unsigned *status,
                                    enum route_status *index, size_t *len);

#endif
