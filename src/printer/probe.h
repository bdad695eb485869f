/* The connection test of a printer record (POST /api/v1/printers/test): resolve the host,
 * connect over TLS as the link would (TLS 1.2, the Bambu CA or ca_file, the serial as the
 * certificate's name), log in with the access code, ask for a full report and read whether
 * the firmware wants signed commands (Developer Mode off). Each failure is said in words a
 * person can act on, with the step it happened at.
 *
 * Blocking, bounded by timeout_ms as a whole (the name lookup aside, which the system's
 * resolver bounds): run it on a worker thread. It touches nothing but its arguments. */
#ifndef PD_PRINTER_PROBE_H
#define PD_PRINTER_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

typedef enum pd_probe_step {
    PD_PROBE_OK,
    PD_PROBE_ADDRESS,        /* the host name does not resolve */
    PD_PROBE_CONNECT,        /* no TCP connection (refused, unreachable, no answer) */
    PD_PROBE_TLS,            /* handshake failed or the certificate did not verify */
    PD_PROBE_ACCESS_CODE,    /* CONNACK 4/5: the access code was refused */
    PD_PROBE_REPORT,         /* logged in, but no report came for this serial */
    PD_PROBE_DEVELOPER_MODE, /* reports come, but control commands would be refused */
} pd_probe_step;
const char *pd_probe_step_name(pd_probe_step s);

typedef struct pd_probe_result {
    pd_probe_step step;
    char message[512];
    int64_t elapsed_ms;
} pd_probe_result;

/* pem: ca_file's text when rec names one (read by the caller), else NULL. */
void pd_probe_run(const pd_printer_rec *rec, const char *pem, size_t pem_len, int timeout_ms,
                  pd_probe_result *out);

#endif
