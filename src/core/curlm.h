/* libcurl's multi interface driven by the libuv loop: uv_poll on each socket curl opens, one
 * uv_timer for curl's own timer, curl_multi_socket_action on either, and a callback once per
 * finished transfer. Every outbound transfer (the printers' FTPS, notifications) runs here,
 * so none of them ever blocks the loop.
 *
 * Each user sets CURLOPT_PRIVATE on its easy handles: `done` gets it back with the result.
 * One multi handle per user, so each keeps its own connection cache and limits. */
#ifndef PD_CURLM_H
#define PD_CURLM_H

#include <curl/curl.h>
#include <uv.h>

#include "core/err.h"

typedef struct pd_curlm pd_curlm;

/* A transfer ended with cc (the HTTP status, if any, is the handle's CURLINFO_RESPONSE_CODE).
 * The handle is still in the multi: the callback removes it (pd_curlm_remove) or frees it.
 * It may add and remove other handles. */
typedef void (*pd_curlm_done_fn)(CURL *easy, void *priv, CURLcode cc, void *ud);

pd_err pd_curlm_new(uv_loop_t *loop, pd_curlm_done_fn done, void *ud, pd_curlm **out);
/* The caller has removed its easy handles first (their transfers end without callbacks);
 * the memory goes once the loop has closed the handles. */
void pd_curlm_free(pd_curlm **m);

pd_err pd_curlm_add(pd_curlm *m, CURL *easy);
void pd_curlm_remove(pd_curlm *m, CURL *easy);
/* Drives every transfer once (curl_multi_perform) and reports those that ended: for a
 * protocol whose progress a socket event does not always show (ftps.c's kick). */
void pd_curlm_perform(pd_curlm *m);

#endif
