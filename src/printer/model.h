/* Printer models: detection from get_version and the serial prefix, and per-model facts. */
#ifndef PD_MODEL_H
#define PD_MODEL_H

#include <jansson.h>
#include <stdbool.h>

typedef enum pd_model {
    PD_MODEL_UNKNOWN = 0,
    PD_MODEL_X1, PD_MODEL_X1C, PD_MODEL_X1E,
    PD_MODEL_P1P, PD_MODEL_P1S, PD_MODEL_P2S,
    PD_MODEL_A1, PD_MODEL_A1MINI, PD_MODEL_A2L,
    PD_MODEL_H2D, PD_MODEL_H2DPRO, PD_MODEL_H2C, PD_MODEL_H2S,
    PD_MODEL_X2D,
    PD_MODEL__COUNT
} pd_model;

/* "X1C", "P1S", "A1MINI", … — the keys the HMS tables use. "" for unknown. */
const char *pd_model_key(pd_model m);
/* "Bambu Lab X1 Carbon"-style display name. */
const char *pd_model_name(pd_model m);
/* Accepts keys ("P1S", "a1mini"), display names ("Bambu Lab A1 mini") and internal codes
 * ("BL-P001", "C12", "N1", "O1D"). */
pd_model pd_model_parse(const char *s);
/* From the serial prefix (docs/bambu-protocol.md §1.1). PD_MODEL_UNKNOWN if no prefix matches. */
pd_model pd_model_from_serial(const char *serial);
/* From an `info` object of a get_version reply; also reports the firmware (ota sw_ver). */
pd_model pd_model_from_version(const json_t *info, char *fw, size_t fwlen);
/* Wiki family used in HMS URLs: "x1", "p1", "a1", "h2", "p2s", "x2d", "a2l". */
const char *pd_model_wiki_family(pd_model m);
/* True when chamber_temper is a real reading on this model (X1/X1E/H2/P2S/X2D). */
bool pd_model_has_chamber_sensor(pd_model m);
/* The camera's protocol ("jpeg6000": A1, A1 mini, P1P, P1S, A2L; "rtsps": the others) and its
 * port (6000, 322); NULL and 0 for an unknown model. */
const char *pd_model_camera(pd_model m, int *port);

#endif
