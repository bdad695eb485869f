/* What every TLS client of printdeck shares to trust a printer: the certificates of a PEM
 * text as a store, and a CA file read safely. The MQTT link (printer/link.c), the FTPS
 * client (files/ftps.c) and the camera (camera/jpeg6000.c) verify the same way: the Bambu CA,
 * or the printer's ca_file, with the serial as the expected name. */
#ifndef PD_TLS_H
#define PD_TLS_H

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stddef.h>

#include "core/err.h"

/* A CA bundle is a few KB; Debian's whole system bundle is 220 KB */
#define PD_TLS_CA_FILE_MAX (1 << 20)

/* The embedded Bambu CA bundle (generated from assets/bambu/certs). */
extern const char pd_bambu_ca_pem[];

/* The certificates of a PEM text (len -1: NUL-terminated); NULL when it holds none. */
X509_STORE *pd_tls_pem_store(const char *pem, int len);
/* Reads a CA file a user named, whole, into *pem (malloc'd, the caller frees it). Blocks: call
 * it off the loop. Opened without blocking and refused unless it is a regular file of at
 * most PD_TLS_CA_FILE_MAX bytes: a FIFO would block open() and read() for good, a device
 * never end. Returns NULL, or why it failed ("not a regular file", strerror's text). */
const char *pd_tls_read_ca(const char *path, char **pem, size_t *len);
/* Makes ctx trust a printer as every printdeck client does: the certificates of pem (NULL:
 * the embedded Bambu CA) and the serial as the name the certificate must carry (the
 * printers' certificates name the serial, not the address they are reached at). TLS when pem
 * holds no certificate, INVAL when the name cannot be set. */
pd_err pd_tls_trust_printer(SSL_CTX *ctx, const char *pem, size_t pem_len, const char *serial);

#endif
