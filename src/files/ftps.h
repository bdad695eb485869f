/* The printer's storage over implicit FTPS (docs/ftps.md): list a directory, fetch a file
 * into a temporary file, through libcurl's multi interface driven by the loop (uv_poll on
 * curl's sockets, one uv_timer for its timeouts), so nothing here ever blocks the loop.
 *
 * As the printers want it: TLS right after connect (port ftps_port, 990), TLS 1.2 only, user
 * bblp with the LAN access code, passive mode, the data channel protected and resuming the
 * control channel's TLS session (vsFTPd's require_ssl_reuse). The server's certificate is
 * verified as the MQTT link verifies it: the Bambu CA or the printer's ca_file, the serial as
 * the name (tls_verify=false turns it off).
 *
 * Bounded: at most max_active transfers at once (max_per_printer per printer), at most
 * max_queued waiting; a listing at most max_listing bytes; a file at most its max_bytes; every
 * transfer within its time. Each request ends in exactly one callback, on the loop, unless it
 * is cancelled; removing a printer (PD_EV_PRINTER_REMOVED) ends its requests with OFFLINE. */
#ifndef PD_FTPS_H
#define PD_FTPS_H

#include <stdint.h>
#include <uv.h>

#include "core/bus.h"
#include "core/err.h"
#include "files/ftps_list.h"
#include "store/store.h"

#define PD_FTPS_PATH_MAX 512

typedef struct pd_ftps pd_ftps;

typedef struct pd_ftps_opts {
    int max_active;          /* transfers at once, all printers */
    int max_per_printer;     /* transfers at once to one printer */
    int max_queued;          /* waiting for a slot; more are refused with BUSY */
    int connect_timeout_s;   /* TCP connect and TLS handshake */
    int stall_s;             /* no reply, or under 1 KiB/s, this long: timeout */
    int timeout_s;           /* a whole transfer */
    int64_t max_file;        /* bytes: the largest file fetched when the caller names none */
    size_t max_listing;      /* bytes of one directory listing */
    size_t max_entries;      /* entries of one directory listing */
    const char *tmp_dir;     /* fetched files go here (created 0700; leftovers removed) */
} pd_ftps_opts;

pd_err pd_ftps_new(uv_loop_t *loop, pd_bus *bus, const pd_ftps_opts *opts, pd_ftps **out);
/* Drops every request without its callback; the loop must then run until handles close. */
void pd_ftps_free(pd_ftps **f);

/* rc PD_OK with the listing (borrowed for the call), else an error with `why` in words:
 * REFUSED "login refused: wrong access code?", TLS "TLS verification failed: …", NOTFOUND,
 * TOOBIG, TIMEOUT, OFFLINE (cannot connect, printer removed), IO. */
typedef void (*pd_ftps_list_cb)(pd_err rc, const char *why, const pd_ftps_listing *l, void *ud);
/* rc PD_OK: the file is at `path` (in tmp_dir, `size` bytes) and now the caller's, to use and
 * unlink. Errors as above; TOOBIG when the file is larger than max_bytes. */
typedef void (*pd_ftps_fetch_cb)(pd_err rc, const char *why, const char *path, int64_t size,
                                 void *ud);

/* `path` is absolute on the printer's storage ("/", "/cache", "/model/a b.3mf"): at most
 * PD_FTPS_PATH_MAX bytes, no "." or ".." segment, no control characters (INVAL, why says
 * which). BUSY when the queue is full. *handle (optional) is for pd_ftps_cancel. */
pd_err pd_ftps_list(pd_ftps *f, const pd_printer_rec *printer, const char *path,
                    pd_ftps_list_cb cb, void *ud, uint64_t *handle, const char **why);
/* max_bytes 0: opts.max_file. */
pd_err pd_ftps_fetch(pd_ftps *f, const pd_printer_rec *printer, const char *path,
                     int64_t max_bytes, pd_ftps_fetch_cb cb, void *ud, uint64_t *handle,
                     const char **why);
/* The request's callback will not run; a transfer under way is stopped. */
void pd_ftps_cancel(pd_ftps *f, uint64_t handle);
/* NULL when the path may be asked for, else why not (the rules of pd_ftps_list). */
const char *pd_ftps_path_check(const char *path);

#endif
