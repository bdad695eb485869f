/* multipart/form-data (RFC 7578) as a browser's form sends a file: finds the file part of a
 * body spooled to a file (an upload, PD_ROUTE_UPLOAD), so the part is read in place rather than
 * copied. Pure (pread only): unit-tested and fuzzed. */
#ifndef PD_HTTP_MULTIPART_H
#define PD_HTTP_MULTIPART_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define PD_MULTIPART_BOUNDARY_MAX 70   /* RFC 2046 5.1.1 */

/* The boundary of a Content-Type "multipart/form-data; boundary=…" (quoted or not) into out
 * (PD_MULTIPART_BOUNDARY_MAX + 1 bytes); NOTFOUND when the type is another, PARSE when the
 * boundary is missing or malformed. */
pd_err pd_multipart_boundary(const char *content_type, char *out, size_t outlen);
/* The first part of the len bytes of fd that carries a filename, else the first part: its data
 * as [*off, *off + *plen) of fd, its filename (without directories) into name ("" if none).
 * PARSE when the body is not multipart with that boundary; IO. */
pd_err pd_multipart_find(int fd, uint64_t len, const char *boundary, uint64_t *off,
                         uint64_t *plen, char *name, size_t namelen);

#endif
