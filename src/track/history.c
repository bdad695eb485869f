/* The recent history of every printer (history.h). */
#include "track/history.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"

#define T_UNKNOWN INT16_MIN
#define N_TEMPS 5
#define N_FANS 4

/* Tenths of a degree fit int16 for every sensor a printer has (-3276.7 to 3276.7 °C). */
typedef struct sample {
    int16_t temp[N_TEMPS];  /* nozzle, nozzle target, bed, bed target, chamber */
    int8_t fan[N_FANS];     /* part, aux, chamber, heatbreak: %, -1 unknown */
} sample;

typedef struct ams_unit {
    uint8_t id;             /* 0-3, 16, 128-135 */
    int8_t humidity;        /* %, -1 unknown */
    int8_t level;           /* 1-5, 0 unknown */
    int16_t temp;           /* tenths of °C, T_UNKNOWN */
} ams_unit;

typedef struct ams_sample {
    uint8_t n;
    ams_unit u[PD_MAX_AMS];
} ams_sample;

typedef struct hprinter {
    int64_t id;
    uint64_t first;         /* tick of its oldest sample */
    uint64_t ams_first;     /* AMS tick of its oldest AMS sample */
    uint64_t seen;          /* the last tick it was put in */
    sample *s;              /* cap samples, tick k at k % cap */
    ams_sample *a;          /* ams_cap samples; NULL until the printer reports an AMS */
} hprinter;

struct pd_history {
    pd_fleet *fleet;
    uv_timer_t timer;
    bool timer_on;
    int interval_s;
    size_t cap, ams_cap;
    uint64_t ams_every;     /* ticks per AMS tick */
    uint64_t ticks, ams_ticks;  /* begun so far; the current one is the count minus one */
    bool ams_now;           /* the current tick samples the AMS too */
    int64_t *t, *at;        /* wall ms of each tick and AMS tick, rings like the samples */
    hprinter *p;            /* sorted by id between ticks; new printers appended during one */
    size_t n, alloc, sorted_n;
    bool warned;
};

static int16_t tenths(double v)
{
    if (isnan(v) || v < -3276.0 || v > 3276.0)
        return T_UNKNOWN;
    return (int16_t)lround(v * 10.0);
}

static int8_t pct(int v) { return v < 0 || v > 100 ? -1 : (int8_t)v; }

static int by_id(const void *a, const void *b)
{
    int64_t x = ((const hprinter *)a)->id, y = ((const hprinter *)b)->id;
    return (x > y) - (x < y);
}

static hprinter *find(const pd_history *h, size_t n, int64_t id)
{
    hprinter key = {.id = id};
    return n == 0 ? NULL : bsearch(&key, h->p, n, sizeof *h->p, by_id);
}

void pd_history_tick_begin(pd_history *h, int64_t wall_ms)
{
    h->t[h->ticks % h->cap] = wall_ms;
    h->ams_now = h->ticks % h->ams_every == 0;
    if (h->ams_now)
        h->at[h->ams_ticks++ % h->ams_cap] = wall_ms;
    h->ticks++;
    h->sorted_n = h->n;
}

static void put_ams(hprinter *hp, const pd_history *h, const pd_state *st, bool online)
{
    ams_sample *as = &hp->a[(h->ams_ticks - 1) % h->ams_cap];
    as->n = 0;
    for (int i = 0; online && i < st->n_ams && i < PD_MAX_AMS; i++) {
        const pd_ams_unit *u = &st->ams[i];
        if (u->id < 0 || u->id > UINT8_MAX)
            continue;
        as->u[as->n++] = (ams_unit){
            .id = (uint8_t)u->id,
            .humidity = pct(u->humidity_pct),
            .level = (int8_t)(u->humidity >= 1 && u->humidity <= 5 ? u->humidity : 0),
            .temp = u->temp == 0.0 ? T_UNKNOWN : tenths(u->temp),
        };
    }
}

pd_err pd_history_put(pd_history *h, int64_t printer_id, const pd_state *st, bool online)
{
    uint64_t tick = h->ticks - 1;
    hprinter *hp = find(h, h->sorted_n, printer_id);
    if (!hp) {
        if (h->n == h->alloc) {
            size_t na = h->alloc ? h->alloc * 2 : 16;
            hprinter *np = realloc(h->p, na * sizeof *np);
            if (!np)
                return PD_ERR_NOMEM;
            h->p = np;
            h->alloc = na;
        }
        sample *s = malloc(h->cap * sizeof *s);
        if (!s)
            return PD_ERR_NOMEM;
        hp = &h->p[h->n++];
        *hp = (hprinter){.id = printer_id, .first = tick, .s = s};
    }
    hp->seen = tick;
    sample *s = &hp->s[tick % h->cap];
    if (!online) {
        for (int i = 0; i < N_TEMPS; i++)
            s->temp[i] = T_UNKNOWN;
        memset(s->fan, -1, sizeof s->fan);
    } else {
        *s = (sample){
            .temp = {tenths(st->nozzle_temp), tenths(st->nozzle_target), tenths(st->bed_temp),
                     tenths(st->bed_target), tenths(st->chamber_temp)},
            .fan = {pct(st->fan_part), pct(st->fan_aux), pct(st->fan_chamber),
                    pct(st->fan_heatbreak)},
        };
    }
    if (!h->ams_now)
        return PD_OK;
    if (!hp->a && online && st->n_ams > 0) {
        if (!(hp->a = malloc(h->ams_cap * sizeof *hp->a)))
            return PD_ERR_NOMEM;
        hp->ams_first = h->ams_ticks - 1;
    }
    if (hp->a)
        put_ams(hp, h, st, online);
    return PD_OK;
}

void pd_history_tick_end(pd_history *h)
{
    uint64_t tick = h->ticks - 1;
    size_t w = 0;
    for (size_t i = 0; i < h->n; i++) {
        if (h->p[i].seen != tick) {  /* removed from the fleet */
            free(h->p[i].s);
            free(h->p[i].a);
            continue;
        }
        h->p[w++] = h->p[i];
    }
    bool added = h->n > h->sorted_n;
    h->n = w;
    if (added)
        qsort(h->p, h->n, sizeof *h->p, by_id);
    h->sorted_n = h->n;
}

static void sample_one(pd_printer *p, void *ud)
{
    pd_history *h = ud;
    if (pd_history_put(h, pd_printer_id(p), pd_printer_state(p), pd_printer_online(p)) &&
        !h->warned) {
        h->warned = true;
        pd_warn("history", "out of memory: some printers have no history");
    }
}

static void on_tick(uv_timer_t *t)
{
    pd_history *h = t->data;
    pd_history_tick_begin(h, pd_clock_wall_ms());
    pd_fleet_foreach(h->fleet, sample_one, h);
    pd_history_tick_end(h);
}

pd_err pd_history_start(pd_history **out, uv_loop_t *loop, pd_fleet *fleet, int interval_s,
                        int ams_interval_s, int keep_s)
{
    *out = NULL;
    pd_history *h = calloc(1, sizeof *h);
    if (!h)
        return PD_ERR_NOMEM;
    h->fleet = fleet;
    h->interval_s = interval_s;
    h->cap = (size_t)(keep_s / interval_s) + 1;
    h->ams_every = ams_interval_s <= interval_s ? 1 : (uint64_t)(ams_interval_s / interval_s);
    h->ams_cap = (size_t)(keep_s / (interval_s * (int)h->ams_every)) + 1;
    h->t = calloc(h->cap, sizeof *h->t);
    h->at = calloc(h->ams_cap, sizeof *h->at);
    if (!h->t || !h->at) {
        pd_history_stop(&h);
        return PD_ERR_NOMEM;
    }
    if (fleet) {
        uv_timer_init(loop, &h->timer);
        h->timer.data = h;
        h->timer_on = true;
        /* the first sample at once, so a page opened right after a start has a point */
        uv_timer_start(&h->timer, on_tick, 0, (uint64_t)interval_s * 1000);
    }
    *out = h;
    return PD_OK;
}

static void timer_closed(uv_handle_t *hd) { free(hd->data); }

void pd_history_stop(pd_history **hh)
{
    pd_history *h = *hh;
    if (!h)
        return;
    *hh = NULL;
    for (size_t i = 0; i < h->n; i++) {
        free(h->p[i].s);
        free(h->p[i].a);
    }
    free(h->p);
    free(h->t);
    free(h->at);
    if (h->timer_on) {
        uv_timer_stop(&h->timer);
        uv_close((uv_handle_t *)&h->timer, timer_closed);
    } else {
        free(h);
    }
}

/* --- JSON ---------------------------------------------------------------------------------- */

/* Every value as an int, so a bucket's minimum and maximum compare without floating point:
 * tenths of a degree, percents, levels; NONE is unknown. */
#define NONE INT_MIN

typedef enum vkind { V_TENTHS, V_INT } vkind;

/* One series of a reply: the value of sample k, read from a ring. */
typedef struct series {
    const pd_history *h;
    const hprinter *hp;
    int which;              /* temps 0-4, fans 5-8; AMS: humidity 0, level 1, temp 2 */
    int unit;               /* AMS: the unit's id; -1 for the printer's samples */
    vkind kind;
} series;

static const ams_unit *unit_at(const series *s, uint64_t k)
{
    const ams_sample *as = &s->hp->a[k % s->h->ams_cap];
    for (int i = 0; i < as->n; i++)
        if (as->u[i].id == s->unit)
            return &as->u[i];
    return NULL;
}

static int value_at(const series *s, uint64_t k)
{
    if (s->unit < 0) {
        const sample *x = &s->hp->s[k % s->h->cap];
        if (s->which < N_TEMPS)
            return x->temp[s->which] == T_UNKNOWN ? NONE : x->temp[s->which];
        return x->fan[s->which - N_TEMPS] < 0 ? NONE : x->fan[s->which - N_TEMPS];
    }
    const ams_unit *u = unit_at(s, k);
    if (!u)
        return NONE;
    switch (s->which) {
    case 0: return u->humidity < 0 ? NONE : u->humidity;
    case 1: return u->level ? u->level : NONE;
    default: return u->temp == T_UNKNOWN ? NONE : u->temp;
    }
}

static json_t *value_json(vkind kind, int v)
{
    if (v == NONE)
        return json_null();
    return kind == V_TENTHS ? json_real(v / 10.0) : json_integer(v);
}

/* The samples [lo, hi) as at most `points` rows (0: all of them). More samples than that are
 * cut into points / 2 buckets of consecutive samples (the ticks are regular, so of equal time),
 * and each bucket gives two rows, at the times of its first and last sample: a series' minimum
 * and maximum in the bucket, in the order they happened. So a peak or a dip survives any
 * reduction, and a target's step stays a step; a bucket without a value is null twice (a gap
 * stays a gap). Bucket b is the same for every series, so the columns stay aligned. */
typedef struct span {
    uint64_t lo, hi;
    size_t buckets;         /* 0: every sample */
} span;

static span span_of(uint64_t lo, uint64_t hi, size_t points)
{
    uint64_t n = hi - lo;
    return (span){lo, hi, points && n > points ? points / 2 : 0};
}

static void bucket(const span *sp, size_t b, uint64_t *from, uint64_t *to)
{
    uint64_t n = sp->hi - sp->lo;
    *from = sp->lo + n * b / sp->buckets;
    *to = sp->lo + n * (b + 1) / sp->buckets;
}

static void put_times(const span *sp, const int64_t *ring, size_t cap, json_t *t)
{
    if (!sp->buckets) {
        for (uint64_t k = sp->lo; k < sp->hi; k++)
            json_array_append_new(t, json_integer(ring[k % cap]));
        return;
    }
    for (size_t b = 0; b < sp->buckets; b++) {
        uint64_t from, to;
        bucket(sp, b, &from, &to);
        json_array_append_new(t, json_integer(ring[from % cap]));
        json_array_append_new(t, json_integer(ring[(to - 1) % cap]));
    }
}

static void put_series(const span *sp, const series *s, json_t *col)
{
    if (!sp->buckets) {
        for (uint64_t k = sp->lo; k < sp->hi; k++)
            json_array_append_new(col, value_json(s->kind, value_at(s, k)));
        return;
    }
    for (size_t b = 0; b < sp->buckets; b++) {
        uint64_t from, to, kmin = 0, kmax = 0;
        int vmin = NONE, vmax = NONE;
        bucket(sp, b, &from, &to);
        for (uint64_t k = from; k < to; k++) {
            int v = value_at(s, k);
            if (v == NONE)
                continue;
            if (vmin == NONE || v < vmin)
                vmin = v, kmin = k;
            if (vmax == NONE || v > vmax)
                vmax = v, kmax = k;
        }
        bool min_first = kmin <= kmax;
        json_array_append_new(col, value_json(s->kind, min_first ? vmin : vmax));
        json_array_append_new(col, value_json(s->kind, min_first ? vmax : vmin));
    }
}

/* The first tick still held of a series that began at `first`, of `count` ticks in a ring of
 * `cap`. */
static uint64_t oldest(uint64_t first, uint64_t count, size_t cap)
{
    uint64_t lo = count > cap ? count - cap : 0;
    return first > lo ? first : lo;
}

static const char *const temp_keys[N_TEMPS] = {"nozzle", "nozzle_target", "bed", "bed_target",
                                               "chamber"};
static const char *const fan_keys[N_FANS] = {"fan_part", "fan_aux", "fan_chamber",
                                             "fan_heatbreak"};

static json_t *ams_json(const pd_history *h, const hprinter *hp, int64_t since_ms, size_t points)
{
    json_t *o = json_pack("{s:i,s:[],s:[]}", "interval_s",
                          h->interval_s * (int)h->ams_every, "t", "units");
    if (!o || !hp || !hp->a)
        return o;
    json_t *units = json_object_get(o, "units");
    uint64_t lo = oldest(hp->ams_first, h->ams_ticks, h->ams_cap);
    while (lo < h->ams_ticks && h->at[lo % h->ams_cap] <= since_ms)
        lo++;
    span sp = span_of(lo, h->ams_ticks, points);
    put_times(&sp, h->at, h->ams_cap, json_object_get(o, "t"));
    bool present[UINT8_MAX + 1] = {0};
    for (uint64_t k = lo; k < h->ams_ticks; k++) {
        const ams_sample *as = &hp->a[k % h->ams_cap];
        for (int i = 0; i < as->n; i++)
            present[as->u[i].id] = true;
    }
    static const char *const keys[] = {"humidity", "humidity_level", "temp"};
    for (int id = 0; id <= UINT8_MAX; id++) {
        if (!present[id])
            continue;
        json_t *u = json_pack("{s:i}", "id", id);
        for (int i = 0; i < 3; i++) {
            json_t *col = json_array();
            put_series(&sp, &(series){h, hp, i, id, i == 2 ? V_TENTHS : V_INT}, col);
            json_object_set_new(u, keys[i], col);
        }
        json_array_append_new(units, u);
    }
    return o;
}

json_t *pd_history_json(const pd_history *h, int64_t printer_id, int64_t since_ms, size_t points)
{
    const hprinter *hp = find(h, h->n, printer_id);
    json_t *o = json_pack("{s:i,s:i,s:[]}", "interval_s", h->interval_s, "keep_s",
                          h->interval_s * (int)(h->cap - 1), "t");
    if (!o)
        return NULL;
    uint64_t lo = hp ? oldest(hp->first, h->ticks, h->cap) : h->ticks;
    while (lo < h->ticks && h->t[lo % h->cap] <= since_ms)
        lo++;
    span sp = span_of(lo, h->ticks, points);
    put_times(&sp, h->t, h->cap, json_object_get(o, "t"));
    for (int i = 0; i < N_TEMPS + N_FANS; i++) {
        json_t *col = json_array();
        if (hp)
            put_series(&sp, &(series){h, hp, i, -1, i < N_TEMPS ? V_TENTHS : V_INT}, col);
        json_object_set_new(o, i < N_TEMPS ? temp_keys[i] : fan_keys[i - N_TEMPS], col);
    }
    json_t *ams = ams_json(h, hp, since_ms, points);
    if (!ams) {
        json_decref(o);
        return NULL;
    }
    json_object_set_new(o, "ams", ams);
    return o;
}

size_t pd_history_bytes(const pd_history *h)
{
    size_t b = sizeof *h + h->alloc * sizeof *h->p + (h->cap + h->ams_cap) * sizeof(int64_t);
    for (size_t i = 0; i < h->n; i++)
        b += h->cap * sizeof(sample) + (h->p[i].a ? h->ams_cap * sizeof(ams_sample) : 0);
    return b;
}
