/* The client list of a stream hub: events.c (SSE) and changes.c (Spoolman websockets) both
 * serialise a frame once and write it to many streams. What happens to a client that falls
 * behind, how the list is emptied at stop, and how long a client may stay (no longer than the
 * session it was opened with, and not past a change of its rights) is decided once, here.
 *
 * A stream opened with a session is closed when the session expires (a timer at the earliest
 * end; any client whose who.expires_at is set ends then, as a camera viewer on a signed URL
 * does at the URL's expiry), and a sweep every PD_AUTH_TOUCH_S marks each open stream's session as in use and closes
 * those whose session has ended meanwhile by any way the routes did not close them at once
 * (pruned, revoked). The client then finds the session gone and signs in again. */
#ifndef PD_API_HUB_H
#define PD_API_HUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "api/auth.h"
#include "http/http.h"

/* The first member of a hub's own (malloc'd) client struct: the hub frees the whole client. */
typedef struct pd_hub_client {
    pd_stream *s;
    pd_ident who;   /* who opened it (pd_req_ident): what it may see, when it must end */
    bool dropped;   /* a write failed: the HTTP layer is closing it, its on_close follows */
    struct pd_hub_client *prev, *next;
} pd_hub_client;

typedef struct pd_hub {
    pd_hub_client *head;
    size_t n;
    uint64_t dropped;   /* clients dropped by a failed write, ever (for /metrics) */
    pd_auth *auth;      /* NULL: streams are not bound to sessions (no accounts) */
    /* Before the hub frees a client, whichever way it goes (or NULL). */
    void (*release)(pd_hub_client *c);
    uv_timer_t sessions;   /* the next end (expires_at) or sweep, while such a stream is open */
    int64_t sweep_due_ms;  /* wall ms of the next sweep (sessions end by the wall clock) */
    struct pd_hub *next_hub;
} pd_hub;

void pd_hub_init(pd_hub *h, uv_loop_t *loop, pd_auth *auth, void (*release)(pd_hub_client *c));
/* Closes every stream (their on_close does not run) and frees every client; the timer's handle
 * closes on the next loop turn. */
void pd_hub_stop(pd_hub *h);

/* c->s and c->who set. */
void pd_hub_add(pd_hub *h, pd_hub_client *c);
/* From the stream's on_close: unlinks and frees c. */
void pd_hub_gone(pd_hub *h, pd_hub_client *c);
/* Queues a frame for c unless it is already being dropped; true when it is (now or before). */
bool pd_hub_write(pd_hub *h, pd_hub_client *c, const char *data, size_t len);
/* Closes c's stream (its on_close does not run) and frees c: for a stream its owner ends. */
void pd_hub_close(pd_hub *h, pd_hub_client *c);

/* Closes the streams of every hub opened by a user (but those of session keep_session_id,
 * 0: none), or by a token and the sessions exchanged for it, whose role or printer limit
 * changed, whose sessions were ended or who is gone: their client reconnects as who they are
 * now, or is refused. */
void pd_hub_drop_user(int64_t user_id, int64_t keep_session_id);
void pd_hub_drop_token(int64_t token_id);
/* Closes the streams opened with a session that has ended (signed out). */
void pd_hub_drop_session(int64_t session_id);

#endif
