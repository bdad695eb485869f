/* Private to src/printer/hms.c: the tables tools/hmsgen generates at build time from
 * assets/bambu/hms. Each table is sorted by key (then models), a key may repeat with a
 * different model list; binary-search the first row of a key and scan its run. Strings are
 * offsets into pd_hms_strings, so the tables need no relocation at start. */
#ifndef PD_HMS_TABLE_H
#define PD_HMS_TABLE_H

#include <stddef.h>
#include <stdint.h>

typedef struct pd_hms_row {
    uint64_t key;          /* HMS: attr << 32 | code; device_error: the 32-bit error */
    uint32_t str;          /* English text, or the wiki path ("/en/h2/troubleshooting/…") */
    uint32_t models;       /* "H2D,H2S" — the rows' model keys; "" = every model */
} pd_hms_row;

extern const char pd_hms_strings[];

extern const pd_hms_row pd_hms_rows[];
extern const size_t pd_hms_rows_len;
extern const pd_hms_row pd_hms_error_rows[];
extern const size_t pd_hms_error_rows_len;
extern const pd_hms_row pd_hms_wiki_rows[];
extern const size_t pd_hms_wiki_rows_len;

#endif
