/* Print files: what a Bambu Studio / OrcaSlicer `.gcode.3mf` or a plain G-code file says it
 * will print (docs/files.md). Per plate: the filaments with their type, colour, grams and
 * metres, the time estimate, the thumbnail, and from the plate's G-code the grams each
 * filament has used by the end of each layer, so a failed or cancelled print can be charged
 * up to the layer it reached.
 *
 * Pure and blocking (files and CPU, no loop): run it in a worker (core/work.h). Every bound
 * is in pd_files_limits; input that passes one, or that is not what it claims, gives an error
 * with a reason a person can read, never a crash. A result is plain memory, owned by the
 * caller, safe to hand from the worker to the loop. */
#ifndef PD_FILES_H
#define PD_FILES_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/* Slicer filament slots: Bambu Studio numbers up to 32 (filament id 1-32, tool T0-T31). */
#define PD_FILES_MAX_FILAMENTS 32
#define PD_FILES_MAX_WARNINGS 16

typedef struct pd_files_limits {
    uint64_t max_input;         /* bytes of the file itself */
    uint64_t max_unzipped;      /* bytes inflated from a 3MF, all entries together */
    uint32_t max_entries;       /* entries in a 3MF */
    uint32_t max_ratio;         /* uncompressed/compressed of one entry (zip bombs) */
    uint32_t max_plates;
    uint32_t max_layers;        /* per plate */
    /* curve points (12 bytes each) of the whole file, shared evenly by its plates; past a
     * plate's share its curve is thinned (docs/files.md), never refused. At least 64 a plate. */
    uint32_t max_points;
    uint64_t max_thumbnail;     /* bytes of one plate thumbnail; larger ones are left out */
    int64_t deadline_ms;        /* pd_clock_mono_ms() by which to give up; 0 = none */
    const atomic_bool *cancel;  /* set by the caller when nobody wants the answer; may be NULL */
} pd_files_limits;

/* The defaults documented in docs/files.md (a 100 MB upload analysed in under a minute). */
void pd_files_limits_default(pd_files_limits *l);

typedef enum pd_files_kind { PD_FILES_3MF, PD_FILES_GCODE } pd_files_kind;

typedef struct pd_files_filament {
    int id;                  /* slicer filament, 1-based (tool T<id-1>, ams_mapping[id-1]) */
    char type[32];           /* "PLA", "PETG-CF"; "" unknown */
    char color[10];          /* "#RRGGBB" or "" */
    double used_g, used_m;   /* the slicer's figures (slice_info or header); <0 unknown */
    double density;          /* g/cm³ used for mm → g */
    double diameter;         /* mm */
    double gcode_mm;         /* filament pushed by the G-code (0 when there is none) */
} pd_files_filament;

/* The curve: at the end of layer `layer`, filament index `fil` (in the plate's filaments[])
 * had used `mm` in total. Only changes are kept: a filament idle in a layer has no point. */
typedef struct pd_files_point {
    uint32_t layer;
    uint16_t fil;
    float mm;
} pd_files_point;

typedef struct pd_files_plate {
    int index;                  /* 1-based, as plate_<index>.gcode */
    int64_t prediction_s;       /* estimated print time; -1 unknown */
    double weight_g;            /* total grams the slicer says; -1 unknown */
    int layers;                 /* total layers (header, else counted); 0 unknown */
    int nfil;
    pd_files_filament fil[PD_FILES_MAX_FILAMENTS];
    bool has_gcode;             /* the G-code was read: the curve below is meaningful */
    pd_files_point *curve;      /* by layer, ascending */
    size_t ncurve;
    unsigned char *thumb;       /* PNG bytes or NULL */
    size_t thumb_len;
} pd_files_plate;

typedef struct pd_files_result {
    pd_files_kind kind;
    char slicer[64];            /* "BambuStudio 02.08.02.61", "OrcaSlicer 2.3.1" … or "" */
    char printer_model[32];     /* slice_info printer_model_id, or "" */
    int nplates;
    pd_files_plate *plates;
    int nwarnings;
    char warnings[PD_FILES_MAX_WARNINGS][160];  /* what was odd but did not stop the analysis */
} pd_files_result;

/* Analyses len bytes of fd from offset off (a spooled upload's file part), a 3MF when they
 * begin with a zip signature, G-code otherwise. fd is only read (pread), never closed.
 * PARSE (not a 3MF / not G-code / broken archive or XML), TOOBIG (a bound, the deadline
 * included), BUSY (cancelled), IO, NOMEM; err says what, for the user. */
pd_err pd_files_analyze_fd(int fd, uint64_t off, uint64_t len, const pd_files_limits *lim,
                           pd_files_result **out, char *err, size_t errlen);
pd_err pd_files_analyze_path(const char *path, const pd_files_limits *lim,
                             pd_files_result **out, char *err, size_t errlen);
/* The same from memory (fuzzers, tests). */
pd_err pd_files_analyze_mem(const void *data, size_t len, const pd_files_limits *lim,
                            pd_files_result **out, char *err, size_t errlen);
void pd_files_result_free(pd_files_result **r);

/* Grams of each filament of plate `plate` (its index) used by the end of layer `layer`
 * (layer 0: before the first layer, the purge line), into grams[0..nfil), in the order of the
 * plate's fil[]. The curve is scaled to the slicer's used_g where both exist. Returns the
 * number of filaments written (at most n); NOTFOUND-like 0 when the plate is unknown or has no
 * G-code. */
size_t pd_files_grams_upto_layer(const pd_files_result *r, int plate, int layer, double *grams,
                                 size_t n);
/* The same along a plate, in one pass: a walk moves forward through the curve, so sampling
 * the grams at k ascending layers costs one scan of the curve, not k. */
typedef struct pd_files_walk {
    const pd_files_plate *pl;
    size_t at;                          /* next point of pl->curve */
    double mm[PD_FILES_MAX_FILAMENTS];  /* totals up to the layer reached */
} pd_files_walk;
void pd_files_walk_init(pd_files_walk *w, const pd_files_plate *pl);
/* Grams up to the end of `layer` as pd_files_grams_upto_layer says; a layer lower than the
 * last one asked for gives that one's grams (the walk does not go back). */
size_t pd_files_walk_to(pd_files_walk *w, int layer, double *grams, size_t n);
/* mm of filament → g, for a diameter in mm and a density in g/cm³. */
double pd_files_mm_to_g(double mm, double diameter, double density);
/* The density of a material by name ("PLA", "PETG-CF", "ABS"…), 1.24 when unknown. */
double pd_files_density(const char *type);

#endif
