/* The client list of a stream hub: events.c (SSE) and changes.c (Spoolman websockets) both
 * serialise a frame once and write it to many streams. What happens to a client that falls
 * behind, and how the list is emptied at stop, is decided once, here. */
#ifndef PD_API_HUB_H
#define PD_API_HUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/http.h"

/* The first member of a hub's own (malloc'd) client struct: the hub frees the whole client. */
typedef struct pd_hub_client {
    pd_stream *s;
    bool dropped;   /* a write failed: the HTTP layer is closing it, its on_close follows */
    struct pd_hub_client *prev, *next;
} pd_hub_client;

typedef struct pd_hub {
    pd_hub_client *head;
    size_t n;
    uint64_t dropped;   /* clients dropped by a failed write, ever (for /metrics) */
} pd_hub;

void pd_hub_add(pd_hub *h, pd_hub_client *c);
/* From the stream's on_close: unlinks and frees c. */
void pd_hub_gone(pd_hub *h, pd_hub_client *c);
/* Queues a frame for c unless it is already being dropped. */
void pd_hub_write(pd_hub *h, pd_hub_client *c, const char *data, size_t len);
/* Closes every stream (their on_close does not run) and frees every client. */
void pd_hub_close_all(pd_hub *h);

#endif
