/* Private to src/files/: the readers behind files.h.
 * The G-code reader is fed the file in pieces of any size (a 3MF entry as it inflates, or a
 * plain file), so memory stays bounded by the curve, not by the file. */
#ifndef PD_FILES_PRIV_H
#define PD_FILES_PRIV_H

#include <zip.h>

#include "files/files.h"

typedef struct pd_gcode pd_gcode;

pd_gcode *pd_gcode_new(const pd_files_limits *lim);
void pd_gcode_free(pd_gcode **g);
/* PARSE (binary data, not text), TOOBIG (layers, deadline), BUSY (cancelled); err says which. */
pd_err pd_gcode_feed(pd_gcode *g, const char *p, size_t n, char *err, size_t errlen);
/* Ends the input and merges what it found into the plate: filaments by id (the header's
 * figures only where the plate has none, from slice_info), the curve, the layer count, the
 * time estimate; the slicer name and warnings into res. PARSE when no G-code command was
 * seen at all. */
pd_err pd_gcode_finish(pd_gcode *g, pd_files_plate *plate, pd_files_result *res, char *err,
                       size_t errlen);

/* Shared by the readers: adds a warning (dropped past PD_FILES_MAX_WARNINGS). */
void pd_files_warn(pd_files_result *res, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Whether the deadline passed or the caller cancelled: TOOBIG / BUSY with err set. */
pd_err pd_files_check(const pd_files_limits *lim, char *err, size_t errlen);
/* The filament with this id in the plate, added (with defaults) if absent; NULL when full. */
pd_files_filament *pd_files_fil(pd_files_plate *p, int id);

/* Reads a 3MF from src (taken, freed here whatever happens) into res: plates, filaments,
 * thumbnails, each plate's G-code. */
pd_err pd_threemf_read(zip_source_t *src, const pd_files_limits *lim, pd_files_result *res,
                       char *err, size_t errlen);
/* A decimal number at *s, advancing it; `comma` also takes a decimal comma ("72,848236", a
 * German-locale Bambu Studio's XML) when digits follow. False when there is no digit. Clamped
 * to ±PD_FILES_NUM_MAX, so sums of them stay finite. */
#define PD_FILES_NUM_MAX 1e12
bool pd_files_num(const char **s, double *out, bool comma);

#endif
