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

/* The first and last feed from tray t (indexes into ev); false when it never fed. */
static bool fed(const pd_split_event *ev, size_t nev, const pd_split_tray *t, size_t *first, size_t *last)
{
    bool any = false;
    for (size_t i = 0; i < nev; i++)
        if (ev[i].kind == PD_SPLIT_FEED && ev[i].unit == t->unit && ev[i].slot == t->slot) {
            if (!any)
                *first = i;
            *last = i;
            any = true;
        }
    return any;
}

static double distance(const pd_split_fil *f, const pd_split_tray *t)
{
    double d = f->color[0] && t->color[0] ? pd_inv_color_distance(f->color, t->color) : -1;
    return d < 0 ? MATCH_DE : d;
}

/* Several alike trays fed filament f's kind: the one that fed first when f is the only filament
 * of that kind and each tray began only after the one before fed for the last time (an AMS
 * refill from the spool alike); feeds that alternate are two filaments' and stay ambiguous. */
static int first_of_chain(const pd_split_fil *fil, int nfil, int self, const pd_split_tray *trays, const int *used,
                          int nu, const pd_split_event *ev, size_t nev)
{
    for (int g = 0; g < nfil; g++)
        if (g != self && pd_split_same_material(fil[g].type, fil[self].type) && distance(&fil[g], &trays[used[0]]) <= MATCH_DE)
            return PD_SPLIT_NO_TRAY;
    size_t first[PD_SPLIT_MAX_TRAYS], last[PD_SPLIT_MAX_TRAYS];
    int order[PD_SPLIT_MAX_TRAYS];
    for (int i = 0; i < nu; i++) {
        fed(ev, nev, &trays[used[i]], &first[i], &last[i]);
        int k = i;
        for (; k > 0 && first[order[k - 1]] > first[i]; k--)
            order[k] = order[k - 1];
        order[k] = i;
    }
    for (int i = 1; i < nu; i++)
        if (first[order[i]] < last[order[i - 1]])
            return PD_SPLIT_NO_TRAY;
    return used[order[0]];
}

static void map_one(const pd_split_fil *fil, int nfil, int self, const pd_split_tray *trays, int ntrays,
                    const pd_split_event *ev, size_t nev, pd_split_map *m)
{
    const pd_split_fil *f = &fil[self];
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
        size_t first, last;
        for (int i = 0; i < n; i++)
            if (fed(ev, nev, &trays[idx[i]], &first, &last))
                used[nu++] = idx[i];
        int pick = nu == 1 ? used[0] : nu > 1 ? first_of_chain(fil, nfil, self, trays, used, nu, ev, nev) : PD_SPLIT_NO_TRAY;
        if (pick != PD_SPLIT_NO_TRAY) {
            idx[0] = pick;
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
        map_one(fil, nfil, i, trays, ntrays, ev, nev, m);
    }
}

/* --- splitting ------------------------------------------------------------------------------ */

typedef struct feed {
    int unit, slot;
    int64_t spool_id;
    double from;
    int fil;
} feed;

/* The filament a feed from a tray nobody maps is taken over by: the only one; else the one that
 * was feeding when the switch came (its spool ran out) when the new tray holds its material in
 * a colour alike, as an AMS refill takes; else, of the filaments whose tray holds that
 * material, the nearest in colour. */
static int taker(int nfil, const feed *cur, int last, const pd_split_tray *trays, int ntrays, int unit, int slot)
{
    if (nfil == 1)
        return 0;
    int k = tray_index(trays, ntrays, unit, slot);
    if (k == PD_SPLIT_NO_TRAY)
        return -1;
    int best = -1;
    double best_de = 0;
    for (int f = 0; f < nfil; f++) {
        int c = tray_index(trays, ntrays, cur[f].unit, cur[f].slot);
        if (c == PD_SPLIT_NO_TRAY || !pd_split_same_material(trays[c].material, trays[k].material))
            continue;
        double de = trays[c].color[0] && trays[k].color[0] ? pd_inv_color_distance(trays[c].color, trays[k].color) : -1;
        if (de < 0)
            de = MATCH_DE;
        if (f == last && de <= MATCH_DE)
            return f;
        if (best < 0 || de < best_de) {
            best = f;
            best_de = de;
        }
    }
    return best;
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
    int last = -1;  /* the filament the last feed was for */
    for (size_t i = 0; i <= nev; i++) {
        int f = -1;
        feed next = {0};
        if (i < nev) {
            const pd_split_event *e = &ev[i];
            double at = e->layer < 0 ? 0 : e->layer > end ? end : e->layer;
            if (e->kind == PD_SPLIT_FEED) {
                int mapped = -1;
                for (int g = 0; g < nfil && mapped < 0; g++)
                    if (cur[g].unit == e->unit && cur[g].slot == e->slot)
                        mapped = g;
                if (mapped >= 0) {
                    last = mapped;
                    continue;
                }
                f = last = taker(nfil, cur, last, trays, ntrays, e->unit, e->slot);
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
