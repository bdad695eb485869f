/* Which tray, hence which spool, each slicer filament of a job was fed from, and how its grams
 * divide between the spools it was fed from (docs/accounting.md, "Mapping" and "Splits").
 * Pure: the job's facts in, pieces out, so every rule here is unit-tested
 * (tests/unit/test_split.c); src/track/accounting.c reads the facts and writes the pieces. */
#ifndef PD_TRACK_SPLIT_H
#define PD_TRACK_SPLIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "files/files.h"

#define PD_SPLIT_MAX_TRAYS 40      /* 4 AMS × 4, 8 AMS HT, the external holder, room to spare */
#define PD_SPLIT_MAX_EVENTS 256    /* tray changes and spool swaps looked at per job */
#define PD_SPLIT_MAX_PIECES 128
#define PD_SPLIT_MAX_CANDIDATES 8
#define PD_SPLIT_CURVE_MAX 512     /* samples of the per-layer curve kept with a job */
#define PD_SPLIT_NO_TRAY (-1)

/* A tray as the job's start snapshot saw it. unit 255 is the external holder (slot 0). */
typedef struct pd_split_tray {
    int unit, slot;
    int64_t spool_id;              /* 0: no spool assigned */
    char material[32];
    char color[10];                /* "#RRGGBB[AA]" or "" */
} pd_split_tray;

/* A tray numbered as tray_now numbers them, for the API's `tray`: unit × 4 + slot, an AMS HT's
 * unit, 254 the external holders (unit 255). */
int pd_split_tray_now(int unit, int slot);

/* What happened while the job printed, in order. */
typedef enum pd_split_kind {
    PD_SPLIT_FEED,    /* (unit, slot) began to feed at `layer` */
    PD_SPLIT_SWAP,    /* the spool in (unit, slot) was replaced at `layer` by spool_id (0 unknown) */
} pd_split_kind;

typedef struct pd_split_event {
    pd_split_kind kind;
    int unit, slot;
    int64_t spool_id;
    double layer;                  /* the layer being printed when it was seen */
} pd_split_event;

/* The filament's cumulative grams by layer: samples layers[0..n) ascending, grams per filament;
 * between samples the grams are interpolated linearly. */
typedef struct pd_split_curve {
    size_t n;
    int layers[PD_SPLIT_CURVE_MAX];
    int nfil;
    float grams[PD_FILES_MAX_FILAMENTS][PD_SPLIT_CURVE_MAX];
} pd_split_curve;

/* The curve of one plate, sampled (at most PD_SPLIT_CURVE_MAX layers, the last one kept). */
void pd_split_curve_from(pd_split_curve *c, const pd_files_result *r, int plate);
/* Grams of filament fil by layer (fractional: 10.5 is half of layer 11 done). */
double pd_split_curve_at(const pd_split_curve *c, int fil, double layer);

/* A slicer filament as the job's file names it. */
typedef struct pd_split_fil {
    char type[32];
    char color[10];
    double grams;                  /* what the print used of it in all */
    double meters;                 /* < 0 unknown */
} pd_split_fil;

typedef enum pd_split_how {
    PD_MAP_NONE,                   /* no tray: the grams are recorded without a spool */
    PD_MAP_COMMAND,                /* the ams_mapping / push `mapping` */
    PD_MAP_TRAY_NOW,               /* the only filament, the tray that fed it */
    PD_MAP_MATCH,                  /* material and colour, one tray fits */
    PD_MAP_AMBIGUOUS,              /* several trays fit: candidates, no spool charged */
} pd_split_how;
const char *pd_split_how_name(pd_split_how h);

typedef struct pd_split_map {
    pd_split_how how;
    int tray;                      /* index into the snapshot, PD_SPLIT_NO_TRAY */
    int ncand;
    int cand[PD_SPLIT_MAX_CANDIDATES]; /* AMBIGUOUS: the snapshot trays that fit */
} pd_split_map;

/* Maps each filament to a snapshot tray. cmd[i] (ncmd entries; may be 0) is the command's or
 * the push mapping's tray for filament i as ams_id × 256 + slot, 65535 unused, -1 unknown.
 * Order: the mapping; a single filament takes the first tray that fed (the events); else the
 * same material (Bambu Studio's names, any case and punctuation) and the nearest colour within
 * a ΔE of 20, a tie broken by the trays that fed — what still ties is AMBIGUOUS. */
void pd_split_map_filaments(const pd_split_fil *fil, int nfil, const pd_split_tray *trays,
                            int ntrays, const int *cmd, int ncmd, const pd_split_event *ev,
                            size_t nev, pd_split_map *out);

/* One share of a filament: the grams it took from a tray and spool between two layers. */
typedef struct pd_split_piece {
    int fil;
    int unit, slot;                /* -1 when the filament has no tray */
    int64_t spool_id;              /* 0: unknown */
    double from, to;               /* layers */
    double grams, meters;          /* meters < 0 unknown */
} pd_split_piece;

/* Divides each filament's grams over the trays and spools that fed it up to `end` (the last
 * layer printed, fractional), by the curve (NULL or empty: all to the mapped tray). A feed from
 * a tray no filament maps to is an AMS rollover (or a manual change) of the filament whose
 * tray has that material (a single filament: any tray); tray_now 255, the tube emptying before
 * the backup loads, is no change. A swap replaces the spool of its tray from its layer on.
 * Returns the number of pieces (at most max). */
size_t pd_split_pieces(const pd_split_fil *fil, int nfil, const pd_split_map *map,
                       const pd_split_tray *trays, int ntrays, const pd_split_event *ev, size_t nev,
                       const pd_split_curve *curve, double end, pd_split_piece *out, size_t max);

/* Bambu Studio's "PLA" and the inventory's "pla" or "P.L.A" are one material; "PLA-CF" is
 * another. */
bool pd_split_same_material(const char *a, const char *b);

#endif
