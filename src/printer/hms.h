/* HMS alerts and print_error codes decoded to text (tables generated from data/bambu/hms). */
#ifndef PD_HMS_H
#define PD_HMS_H

#include <stddef.h>
#include <stdint.h>

#include "printer/model.h"

/* "HMS_0300_0100_0001_0007" from attr/code (docs/bambu-protocol.md §5). out needs 24 bytes. */
void pd_hms_format(uint32_t attr, uint32_t code, char out[24]);
/* English text for the model (model-specific entry first, then the generic one), or NULL. */
const char *pd_hms_text(uint32_t attr, uint32_t code, pd_model model);
/* Wiki URL for the code and model (always produces a URL; generic x1 path as fallback). */
void pd_hms_url(uint32_t attr, uint32_t code, pd_model model, char *out, size_t n);
/* Severity 1 fatal, 2 serious, 3 common, 4 info, 0 unknown. */
int pd_hms_severity(uint32_t code);
/* print_error: "0300_400C" form (out 10 bytes) and text from the device_error table or NULL. */
void pd_print_error_format(uint32_t err, char out[10]);
const char *pd_print_error_text(uint32_t err, pd_model model);

#endif
