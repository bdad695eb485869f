/* libmosquitto's external-loop mode on the libuv loop, for every MQTT client printdeck runs
 * (the printers' links, the Home Assistant broker connection): a uv_poll on the client's
 * socket, armed for writing only while libmosquitto has something to write, and the reads and
 * writes one wake-up calls for. The owner keeps its protocol state; this is only the socket. */
#ifndef PD_MQTTIO_H
#define PD_MQTTIO_H

#include <mosquitto.h>
#include <stdbool.h>
#include <uv.h>

#include "core/err.h"

typedef struct pd_mqttio pd_mqttio;

/* Watches m's socket (a new one after a reconnect replaces the old watch) and arms it for what
 * m wants now; cb gets the wake-ups, its handle's data being `data`. m NULL or without a
 * socket: nothing is watched. NOMEM/INTERNAL when the socket cannot be watched. */
pd_err pd_mqttio_watch(pd_mqttio **io, uv_loop_t *loop, struct mosquitto *m, uv_poll_cb cb, void *data);
void pd_mqttio_unwatch(pd_mqttio **io);
/* What a wake-up with `events` calls for: reads (bounded), then a write if one waits. *mp is
 * read again after each call, since libmosquitto's callbacks may drop the client. connecting:
 * the connection is not up yet, so writability moves the TLS handshake on and a disconnect
 * ends the attempt. MOSQ_ERR_SUCCESS or the error that ends the connection. */
int pd_mqttio_service(struct mosquitto **mp, int events, bool connecting);
/* ms ± 25 %: clients that lost their network together must not reconnect in lock-step. */
int pd_mqttio_jitter(int ms);

#endif
