/* How printdeck serialises JSON everywhere: compact, and reals with 10 significant digits so
 * a nozzle diameter of 0.4 is sent as 0.4, not jansson's round-trip 0.40000000000000002;
 * any value, not only objects and arrays (Spoolman answers some routes with a bare string). */
#ifndef PD_JSON_H
#define PD_JSON_H

#include <jansson.h>

#define PD_JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(10) | JSON_ENCODE_ANY)

#endif
