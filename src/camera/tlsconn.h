/* A TLS client connection on the loop, shared by the camera sources (jpeg6000.c, rtsps.c):
 * libuv owns the socket (uv_tcp) and OpenSSL runs over two memory BIOs, so no read or write
 * ever blocks and the name lookup goes to libuv's threadpool. The printer's certificate is
 * trusted as the MQTT link and FTPS trust it (core/tls.h): the Bambu CA or the printer's
 * ca_file, the serial as the name. Owned by the loop thread. */
#ifndef PD_CAMERA_TLSCONN_H
#define PD_CAMERA_TLSCONN_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "camera/source.h"
#include "core/err.h"

typedef struct pd_cam_tls pd_cam_tls;

typedef struct pd_cam_tls_cb {
    void (*ready)(void *ud);                                  /* handshake done: speak */
    void (*data)(const unsigned char *d, size_t n, void *ud); /* plaintext as it comes */
    /* Once, and nothing after it. eof: the peer ended the connection after the handshake
     * (a FIN, a TLS close or a reset), which a source may read as a refusal. */
    void (*down)(pd_err rc, const char *why, bool eof, void *ud);
} pd_cam_tls_cb;

/* Resolves, connects and shakes hands with t's host and port; cb and ud are kept. TLS (the
 * context cannot be set up), IO (the lookup cannot start), NOMEM. */
pd_err pd_cam_tls_open(uv_loop_t *loop, const pd_cam_target *t, const pd_cam_tls_cb *cb, void *ud,
                       pd_cam_tls **out);
/* Sends n bytes of plaintext; a failure comes as down. Nothing once down or not ready. */
void pd_cam_tls_write(pd_cam_tls *c, const void *d, size_t n);
/* Stops at once (no callback after it) and frees once the loop has closed the socket; NULLs
 * *c. */
void pd_cam_tls_close(pd_cam_tls **c);

#endif
