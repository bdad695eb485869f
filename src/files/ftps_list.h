/* Directory listings of the printer's FTPS server, parsed: the UNIX `ls -l` lines that LIST
 * returns on Bambu printers (vsFTPd) and the machine-readable MLSD lines (RFC 3659 §7) other
 * servers, or a relay standing in for a printer, may send. Pure, bounded, fuzzed. */
#ifndef PD_FTPS_LIST_H
#define PD_FTPS_LIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define PD_FTPS_NAME_MAX 255

typedef enum pd_ftps_kind { PD_FTPS_FILE, PD_FTPS_DIR, PD_FTPS_LINK } pd_ftps_kind;

typedef struct pd_ftps_entry {
    char name[PD_FTPS_NAME_MAX + 1]; /* no '/', no control characters, never "." or ".." */
    pd_ftps_kind kind;
    int64_t size;                     /* bytes; -1 when the line does not say */
    int64_t mtime;                    /* unix seconds (the server's clock, read as UTC); -1 */
} pd_ftps_entry;

typedef struct pd_ftps_listing {
    pd_ftps_entry *v;                 /* malloc'd */
    size_t n;
    size_t skipped;                   /* lines that were not understood */
    bool truncated;                   /* more entries than the bound: the first ones are kept */
} pd_ftps_listing;

/* One line without its line end. PD_OK and *out filled; PD_ERR_NOTFOUND for a line that is
 * no entry ("total 12", "." and ".."); PD_ERR_PARSE otherwise. `now` (unix seconds) gives the
 * year of `ls -l`'s recent form "Jun 18 00:27", which has none: the latest year that does not
 * put the date more than a day ahead of now. */
pd_err pd_ftps_list_line(const char *line, size_t len, int64_t now, pd_ftps_entry *out);
/* A whole listing (CRLF or LF lines), at most `max` entries. NOMEM only. */
pd_err pd_ftps_list_parse(const char *text, size_t len, int64_t now, size_t max,
                          pd_ftps_listing *out);
void pd_ftps_listing_free(pd_ftps_listing *l);
const char *pd_ftps_kind_name(pd_ftps_kind k); /* "file", "dir", "link" */

#endif
