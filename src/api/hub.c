#include "api/hub.h"

#include <stdlib.h>

void pd_hub_add(pd_hub *h, pd_hub_client *c)
{
    c->prev = NULL;
    c->next = h->head;
    if (h->head)
        h->head->prev = c;
    h->head = c;
    h->n++;
}

void pd_hub_gone(pd_hub *h, pd_hub_client *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        h->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    h->n--;
    free(c);
}

void pd_hub_write(pd_hub *h, pd_hub_client *c, const char *data, size_t len)
{
    /* a failed write drops the client rather than leave it a stream with gaps */
    if (!c->dropped && pd_stream_write(c->s, data, len)) {
        c->dropped = true;
        h->dropped++;
    }
}

void pd_hub_close_all(pd_hub *h)
{
    while (h->head) {
        pd_hub_client *c = h->head;
        pd_stream_close(c->s);
        pd_hub_gone(h, c);
    }
}
