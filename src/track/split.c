/* Filaments to trays, and grams to spools (split.h). */
#include "track/split.h"

#include <ctype.h>
#include <math.h>
#include <string.h>

#include "inventory/inventory.h"

/* Colours within this CIE94 ΔE look alike (Spoolman's similarity default); two trays whose
 * distances to the filament differ by less than TIE_DE are as good as each other. */
#define MATCH_DE 20.0
#define TIE_DE 3.0

bool pd_split_tray_of(int tray_now, int *unit, int *slot)
{
    if (tray_now >= 0 && tray_now < 16) {
        *unit = tray_now / 4;
        *slot = tray_now % 4;
    } else if (tray_now >= 128 && tray_now < 136) {
        *unit = tray_now;
        *slot = 0;
    } else if (tray_now == 254) {
        *unit = PD_INV_EXTERNAL_UNIT;
        *slot = 0;
    } else {
        return false;
    }
    return true;
}

int pd_split_tray_now(int unit, int slot)
{
    if (unit == PD_INV_EXTERNAL_UNIT)
        return 254;
    return unit >= 128 ? unit : unit * 4 + slot;
}

bool pd_split_same_material(const char *a, const char *b)
{
    for (;;) {
        while (*a && !isalnum((unsigned char)*a) && *a != '+')
            a++;
        while (*b && !isalnum((unsigned char)*b) && *b != '+')
            b++;
        if (!*a || !*b)
            return !*a && !*b;
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
            return false;
        a++;
        b++;
    }
}

static const char *const how_names[] = {
    [PD_MAP_NONE] = "none", [PD_MAP_COMMAND] = "mapping", [PD_MAP_TRAY_NOW] = "tray_now",
    [PD_MAP_MATCH] = "match", [PD_MAP_AMBIGUOUS] = "ambiguous",
};

const char *pd_split_how_name(pd_split_how h) { return how_names[h]; }

/* --- the curve ------------------------------------------------------------------------------ */

void pd_split_curve_from(pd_split_curve *c, const pd_files_result *r, int plate)
{
    const pd_files_plate *pl = NULL;
    c->n = 0;
    c->nfil = 0;
    for (int i = 0; r && i < r->nplates && !pl; i++)
        if (r->plates[i].index == plate)
            pl = &r->plates[i];
    if (!pl || !pl->has_gcode || pl->layers <= 0)
        return;
    c->nfil = pl->nfil;
    size_t n = (size_t)pl->layers + 1 < PD_SPLIT_CURVE_MAX ? (size_t)pl->layers + 1 : PD_SPLIT_CURVE_MAX;
    double g[PD_FILES_MAX_FILAMENTS];
    for (size_t i = 0; i < n; i++) {
        /* layer 0 (the purge line) to the last, evenly */
        int layer = (int)lround((double)i * pl->layers / (double)(n - 1));
        size_t k = pd_files_grams_upto_layer(r, plate, layer, g, PD_FILES_MAX_FILAMENTS);
        c->layers[i] = layer;
        for (size_t f = 0; f < (size_t)c->nfil; f++)
            c->grams[f][i] = f < k ? (float)g[f] : 0;
    }
    c->n = n;
}

double pd_split_curve_at(const pd_split_curve *c, int fil, double layer)
{
    if (!c || !c->n || fil < 0 || fil >= c->nfil)
        return 0;
    if (layer <= c->layers[0])
        return c->grams[fil][0];
    size_t lo = 0, hi = c->n - 1;
    if (layer >= c->layers[hi])
        return c->grams[fil][hi];
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (c->layers[mid] <= layer)
            lo = mid;
        else
            hi = mid;
    }
    double span = c->layers[hi] - c->layers[lo];
    double t = span > 0 ? (layer - c->layers[lo]) / span : 1;
    return c->grams[fil][lo] + t * (c->grams[fil][hi] - c->grams[fil][lo]);
}

/* --- mapping -------------------------------------------------------------------------------- */

static int tray_index(const pd_split_tray *trays, int ntrays, int unit, int slot)
{
    for (int i = 0; i < ntrays; i++)
        if (trays[i].unit == unit && trays[i].slot == slot)
            return i;
    return PD_SPLIT_NO_TRAY;
}

static bool fed(const pd_split_event *ev, size_t nev, const pd_split_tray *t)
{
    for (size_t i = 0; i < nev; i++)
        if (ev[i].kind == PD_SPLIT_FEED && ev[i].unit == t->unit && ev[i].slot == t->slot)
            return true;
    return false;
}

static double distance(const pd_split_fil *f, const pd_split_tray *t)
{
    double d = f->color[0] && t->color[0] ? pd_inv_color_distance(f->color, t->color) : -1;
    return d < 0 ? MATCH_DE : d;
}

static void map_one(const pd_split_fil *f, const pd_split_tray *trays, int ntrays,
                    const pd_split_event *ev, size_t nev, pd_split_map *m)
{
    double best = -1;
    int idx[PD_SPLIT_MAX_TRAYS], n = 0;
    for (int k = 0; k < ntrays; k++) {
        if (!pd_split_same_material(trays[k].material, f->type))
            continue;
        double d = distance(f, &trays[k]);
        if (d <= MATCH_DE && (best < 0 || d < best))
            best = d;
    }
    if (best < 0)
        return;
    for (int k = 0; k < ntrays && n < PD_SPLIT_MAX_TRAYS; k++)
        if (pd_split_same_material(trays[k].material, f->type) && distance(f, &trays[k]) <= best + TIE_DE)
            idx[n++] = k;
    if (n > 1) {
        /* of those that fit, the ones that actually fed the print */
        int used[PD_SPLIT_MAX_TRAYS], nu = 0;
        for (int i = 0; i < n; i++)
            if (fed(ev, nev, &trays[idx[i]]))
                used[nu++] = idx[i];
        if (nu == 1) {
            idx[0] = used[0];
            n = 1;
        }
    }
    if (n == 1) {
        m->how = PD_MAP_MATCH;
        m->tray = idx[0];
        return;
    }
    m->how = PD_MAP_AMBIGUOUS;
    for (int i = 0; i < n && m->ncand < PD_SPLIT_MAX_CANDIDATES; i++)
        m->cand[m->ncand++] = idx[i];
}

void pd_split_map_filaments(const pd_split_fil *fil, int nfil, const pd_split_tray *trays,
                            int ntrays, const int *cmd, int ncmd, const pd_split_event *ev,
                            size_t nev, pd_split_map *out)
{
    int first_unit = -1, first_slot = -1;
    for (size_t i = 0; i < nev && first_unit < 0; i++)
        if (ev[i].kind == PD_SPLIT_FEED) {
            first_unit = ev[i].unit;
            first_slot = ev[i].slot;
        }
    for (int i = 0; i < nfil; i++) {
        pd_split_map *m = &out[i];
        *m = (pd_split_map){.how = PD_MAP_NONE, .tray = PD_SPLIT_NO_TRAY};
        if (i < ncmd && cmd[i] >= 0 && cmd[i] != 65535) {
            int unit = cmd[i] >> 8, slot = cmd[i] & 0xff;
            m->tray = tray_index(trays, ntrays, unit, slot);
            if (m->tray != PD_SPLIT_NO_TRAY) {
                m->how = PD_MAP_COMMAND;
                continue;
            }
        }
        if (nfil == 1 && first_unit >= 0) {
            m->tray = tray_index(trays, ntrays, first_unit, first_slot);
            if (m->tray != PD_SPLIT_NO_TRAY) {
                m->how = PD_MAP_TRAY_NOW;
                continue;
            }
        }
        map_one(&fil[i], trays, ntrays, ev, nev, m);
    }
}

/* --- splitting ------------------------------------------------------------------------------ */

typedef struct feed {
    int unit, slot;
    int64_t spool_id;
    double from;
    int fil;
} feed;

/* The filament a feed from a tray nobody maps is taken over by: the only one, else the one
 * whose current tray holds that material (the AMS rolls over to the same material only). */
static int taker(int nfil, const feed *cur, const pd_split_tray *trays, int ntrays, int unit, int slot)
{
    if (nfil == 1)
        return 0;
    int k = tray_index(trays, ntrays, unit, slot);
    if (k == PD_SPLIT_NO_TRAY)
        return -1;
    for (int f = 0; f < nfil; f++) {
        int c = tray_index(trays, ntrays, cur[f].unit, cur[f].slot);
        if (c != PD_SPLIT_NO_TRAY && pd_split_same_material(trays[c].material, trays[k].material))
            return f;
    }
    return -1;
}

static double share(const pd_split_curve *curve, int fil, double from, double to, double end)
{
    if (curve && curve->n && fil < curve->nfil) {
        double total = pd_split_curve_at(curve, fil, end);
        if (total > 0)
            return (pd_split_curve_at(curve, fil, to) - pd_split_curve_at(curve, fil, from)) / total;
    }
    return end > 0 ? (to - from) / end : (from <= 0 ? 1 : 0);
}

size_t pd_split_pieces(const pd_split_fil *fil, int nfil, const pd_split_map *map,
                       const pd_split_tray *trays, int ntrays, const pd_split_event *ev, size_t nev,
                       const pd_split_curve *curve, double end, pd_split_piece *out, size_t max)
{
    feed cur[PD_FILES_MAX_FILAMENTS];
    size_t n = 0;
    if (nfil > PD_FILES_MAX_FILAMENTS)
        nfil = PD_FILES_MAX_FILAMENTS;
    for (int f = 0; f < nfil; f++) {
        const pd_split_tray *t = map[f].tray != PD_SPLIT_NO_TRAY ? &trays[map[f].tray] : NULL;
        cur[f] = (feed){t ? t->unit : -1, t ? t->slot : -1, t ? t->spool_id : 0, 0, f};
    }
    /* a piece ends where its filament's feed changes; the grams between are the curve's */
    for (size_t i = 0; i <= nev; i++) {
        int f = -1;
        feed next = {0};
        if (i < nev) {
            const pd_split_event *e = &ev[i];
            double at = e->layer < 0 ? 0 : e->layer > end ? end : e->layer;
            if (e->kind == PD_SPLIT_FEED) {
                bool mapped = false;
                for (int g = 0; g < nfil && !mapped; g++)
                    mapped = cur[g].unit == e->unit && cur[g].slot == e->slot;
                if (mapped)
                    continue;
                f = taker(nfil, cur, trays, ntrays, e->unit, e->slot);
                int k = tray_index(trays, ntrays, e->unit, e->slot);
                next = (feed){e->unit, e->slot, k != PD_SPLIT_NO_TRAY ? trays[k].spool_id : 0, at, f};
            } else {
                for (int g = 0; g < nfil && f < 0; g++)
                    if (cur[g].unit == e->unit && cur[g].slot == e->slot)
                        f = g;
                next = (feed){e->unit, e->slot, e->spool_id, at, f};
            }
            if (f < 0 || at <= cur[f].from) {
                /* at the very start: the first feed simply is what it says */
                if (f >= 0)
                    cur[f] = next;
                continue;
            }
        }
        for (int g = 0; g < nfil; g++) {
            if (i < nev && g != f)
                continue;
            double to = i < nev ? next.from : end;
            double s = share(curve, g, cur[g].from, to, end);
            if (n < max && (s > 0 || (i == nev && cur[g].from <= 0))) {
                out[n++] = (pd_split_piece){g, cur[g].unit, cur[g].slot, cur[g].spool_id, cur[g].from, to,
                                            fil[g].grams * s, fil[g].meters >= 0 ? fil[g].meters * s : -1};
            }
        }
        if (i < nev)
            cur[f] = next;
    }
    return n;
}
