#include "track/alerts.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"

static const char *const kind_names[PD_ALERT__N] = {
    [PD_ALERT_LOW_STOCK_SPOOL] = "low_stock_spool", [PD_ALERT_LOW_STOCK_FILAMENT] = "low_stock_filament",
    [PD_ALERT_INSUFFICIENT] = "insufficient_filament", [PD_ALERT_HUMIDITY] = "ams_humidity",
    [PD_ALERT_DRYING] = "drying_due", [PD_ALERT_STALLED] = "print_stalled",
};

const char *pd_alert_kind_name(pd_alert_kind k) { return k < PD_ALERT__N ? kind_names[k] : "?"; }

bool pd_alert_kind_parse(const char *s, pd_alert_kind *out)
{
    for (int i = 0; i < PD_ALERT__N; i++)
        if (!strcmp(s, kind_names[i])) {
            *out = (pd_alert_kind)i;
            return true;
        }
    return false;
}

/* --- the rules --------------------------------------------------------------------------------- */

pd_gate_move pd_alerts_gate(bool raised, bool high, double value, double limit, double margin)
{
    if (isnan(value))
        return PD_GATE_STAY;
    double past = high ? value - limit : limit - value;   /* > 0: the condition holds */
    if (!raised)
        return past > 0 ? PD_GATE_RAISE : PD_GATE_STAY;
    return past < -margin ? PD_GATE_CLEAR : PD_GATE_STAY;
}

/* --- the engine's memory: one watch per printer (stall, humidity per AMS unit) ------------------ */

typedef struct unit_watch {
    int unit;
    bool known;                  /* raised was read from the database */
    bool raised;
    int64_t high_since_ms;       /* monotonic; 0 while the humidity is not high */
} unit_watch;

typedef struct watch {
    int64_t printer_id;
    bool stall_known, stalled;
    bool running;
    int layer;
    int64_t layer_ms;            /* monotonic: when the layer last moved (or RUNNING began) */
    int n_units;
    unit_watch units[PD_MAX_AMS];
} watch;

typedef struct check check;    /* a stock or drying check, read off the loop (below) */
#define CHECK_WAIT 64             /* filaments waiting for a stock check; past it one full check */

struct pd_alerts {
    pd_bus *bus;
    pd_fleet *fleet;
    pd_inv *inv;
    pd_db *db;
    uv_loop_t *loop;
    const pd_config *cfg;
    int sub;
    uv_timer_t timer;
    bool timer_open;
    bool stopping;               /* freed once the timer is closed and no check runs */
    int64_t drying_due_ms;       /* monotonic: the next drying check */
    check *stock, *drying;       /* running, NULL none */
    bool stock_all;              /* a full stock check waits */
    int64_t wait[CHECK_WAIT];    /* filaments whose stock check waits */
    size_t n_wait;
    bool drying_wait;
    watch **v;                   /* sorted by printer_id */
    size_t n, cap;
};

#define TICK_MS 1000

static int64_t now_s(void) { return pd_clock_wall_ms() / 1000; }

static watch *watch_of(pd_alerts *a, int64_t printer_id)
{
    size_t lo = 0, hi = a->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a->v[mid]->printer_id < printer_id)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < a->n && a->v[lo]->printer_id == printer_id)
        return a->v[lo];
    if (a->n == a->cap) {
        size_t cap = a->cap ? 2 * a->cap : 16;
        watch **v = realloc(a->v, cap * sizeof *v);
        if (!v)
            return NULL;
        a->v = v;
        a->cap = cap;
    }
    watch *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->printer_id = printer_id;
    memmove(a->v + lo + 1, a->v + lo, (a->n - lo) * sizeof *a->v);
    a->v[lo] = w;
    a->n++;
    return w;
}

/* --- rows and announcements --------------------------------------------------------------------- */

#define ALERT_COLS "id, kind, key, severity, printer_id, spool_id, filament_id, job_id, message, data, " \
                   "raised_at, cleared_at, acked_at"

static json_t *id_or_null(const pd_row *row, int c)
{
    return pd_row_null(row, c) ? json_null() : json_integer(pd_row_int(row, c));
}

static json_t *time_or_null(const pd_row *row, int c)
{
    return pd_row_null(row, c) ? json_null() : pd_inv_time_json(pd_row_int(row, c));
}

static pd_err render_row(const pd_row *row, void *ud)
{
    json_t *data = pd_row_null(row, 9) ? NULL : json_loads(pd_row_text(row, 9), 0, NULL);
    json_t *o = json_pack("{s:I,s:s,s:s,s:s,s:o,s:o,s:o,s:o,s:s,s:o,s:o,s:o,s:o,s:b,s:b}",
                          "id", (json_int_t)pd_row_int(row, 0), "kind", pd_row_text(row, 1), "key",
                          pd_row_text(row, 2), "severity", pd_row_text(row, 3), "printer_id", id_or_null(row, 4),
                          "spool_id", id_or_null(row, 5), "filament_id", id_or_null(row, 6), "job_id",
                          id_or_null(row, 7), "message", pd_row_text(row, 8), "data", data ? data : json_object(),
                          "raised_at", pd_inv_time_json(pd_row_int(row, 10)), "cleared_at", time_or_null(row, 11),
                          "acked_at", time_or_null(row, 12), "open", pd_row_null(row, 11),
                          "acked", !pd_row_null(row, 12));
    return !o || json_array_append_new(ud, o) ? PD_ERR_NOMEM : PD_OK;
}

static void announce(pd_alerts *a, int64_t id, const char *change)
{
    json_t *items = json_array();
    pd_sqlv arg = PD_SQL_I(id);
    pd_err rc = items ? pd_db_query(a->db, "SELECT " ALERT_COLS " FROM alert WHERE id = ?", &arg, 1, render_row, items)
                      : PD_ERR_NOMEM;
    json_t *o = json_array_get(items, 0);
    char *text = !rc && o ? json_dumps(o, PD_JSON_FLAGS) : NULL;
    if (text) {
        json_t *p = json_object_get(o, "printer_id");
        pd_event ev = {.type = PD_EV_ALERT, .printer_id = json_integer_value(p), .ts_ms = pd_clock_wall_ms(),
                       .u.alert = {.id = id, .change = change, .payload = text, .payload_len = strlen(text)}};
        pd_bus_emit(a->bus, &ev);
        if (!strcmp(change, "raised"))
            pd_info("alerts", "%s: %s", json_string_value(json_object_get(o, "kind")),
                    json_string_value(json_object_get(o, "message")));
    } else {
        pd_warn("alerts", "alert %lld %s but not announced: %s", (long long)id, change, pd_strerror(rc ? rc : PD_ERR_NOMEM));
    }
    free(text);
    json_decref(items);
}

static pd_sqlv id_arg(int64_t id) { return id ? PD_SQL_I(id) : PD_SQL_NUL; }

pd_err pd_alerts_raise(pd_alerts *a, const pd_alert_in *in, int64_t *id)
{
    int64_t row = 0;
    bool created = false;
    char *data = in->data ? json_dumps(in->data, PD_JSON_FLAGS) : NULL;
    pd_sqlv k = PD_SQL_S(in->key);
    pd_err rc = pd_db_begin(a->db);
    if (!rc) {
        rc = pd_db_scalar(a->db, "SELECT id FROM alert WHERE key = ? AND cleared_at IS NULL", &k, 1, &row);
        if (rc == PD_ERR_NOTFOUND) {
            pd_sqlv args[] = {PD_SQL_S(pd_alert_kind_name(in->kind)), k, PD_SQL_S(in->severity),
                              id_arg(in->printer_id), id_arg(in->spool_id), id_arg(in->filament_id), id_arg(in->job_id),
                              PD_SQL_S(in->message), data ? PD_SQL_S(data) : PD_SQL_NUL, PD_SQL_I(now_s())};
            rc = pd_db_insert(a->db, "INSERT INTO alert (kind, key, severity, printer_id, spool_id, filament_id, "
                                     "job_id, message, data, raised_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                              args, sizeof args / sizeof *args, &row);
            created = !rc;
        }
    }
    rc = pd_db_end(a->db, rc);
    free(data);
    if (rc) {
        pd_error("alerts", "cannot raise %s: %s (%s)", in->key, pd_strerror(rc), pd_db_last_error(a->db));
        return rc;
    }
    if (created)
        announce(a, row, "raised");
    if (id)
        *id = row;
    return PD_OK;
}

static pd_err clear_row(const pd_row *row, void *ud)
{
    int64_t *id = ud;
    *id = pd_row_int(row, 0);
    return PD_OK;
}

pd_err pd_alerts_clear(pd_alerts *a, const char *key)
{
    int64_t id = 0;
    pd_sqlv k = PD_SQL_S(key);
    pd_err rc = pd_db_query(a->db, "SELECT id FROM alert WHERE key = ? AND cleared_at IS NULL", &k, 1, clear_row, &id);
    if (!rc && id) {
        pd_sqlv args[] = {PD_SQL_I(now_s()), PD_SQL_I(id)};
        rc = pd_db_run(a->db, "UPDATE alert SET cleared_at = ? WHERE id = ?", args, 2, NULL);
    }
    if (rc)
        pd_error("alerts", "cannot clear %s: %s", key, pd_strerror(rc));
    else if (id)
        announce(a, id, "cleared");
    return rc;
}

static bool is_open(pd_alerts *a, const char *key)
{
    int64_t id;
    pd_sqlv k = PD_SQL_S(key);
    return !pd_db_scalar(a->db, "SELECT id FROM alert WHERE key = ? AND cleared_at IS NULL", &k, 1, &id);
}

/* The open alerts of one kind (optionally of one filament), key → true: what a full check
 * compares its findings with, so a condition gone with its spool (deleted, archived) clears. */
static pd_err open_key_row(const pd_row *row, void *ud)
{
    return json_object_set_new(ud, pd_row_text(row, 0), json_true()) ? PD_ERR_NOMEM : PD_OK;
}

static json_t *open_keys(pd_alerts *a, pd_alert_kind k1, pd_alert_kind k2, int64_t filament_id)
{
    json_t *keys = json_object();
    pd_sqlv args[] = {PD_SQL_S(kind_names[k1]), PD_SQL_S(kind_names[k2]), PD_SQL_I(filament_id), PD_SQL_I(filament_id)};
    if (keys && pd_db_query(a->db, "SELECT key FROM alert WHERE cleared_at IS NULL AND kind IN (?, ?) "
                                   "AND (? = 0 OR filament_id = ?)", args, 4, open_key_row, keys)) {
        json_decref(keys);
        return NULL;
    }
    return keys;
}

/* One gate: raises or clears the alert of key as the value moves. open holds the keys open now;
 * the key is taken out of it (it was looked at). */
static void gate(pd_alerts *a, json_t *open, const pd_alert_in *in, bool high, double value, double limit,
                 double margin)
{
    bool raised = json_object_get(open, in->key) != NULL;
    json_object_del(open, in->key);
    switch (pd_alerts_gate(raised, high, value, limit, margin)) {
    case PD_GATE_RAISE: pd_alerts_raise(a, in, NULL); break;
    case PD_GATE_CLEAR: pd_alerts_clear(a, in->key); break;
    default: break;
    }
}

static void clear_rest(pd_alerts *a, json_t *open)
{
    const char *key;
    json_t *v;
    json_object_foreach(open, key, v)
        pd_alerts_clear(a, key);
}

/* --- stock and drying checks, read off the loop ------------------------------------------------- */

/* A check reads in the store's reader pool (pd_db_read) only what can raise an alert or keep
 * one open: a filament's spools summed by the database, a spool near its own threshold, a
 * hygroscopic spool past its limit. It takes at most CHECK_ROWS findings a read and resumes
 * past the last id until the walk is over; each read's done callback gates its findings on the
 * loop, so the loop's share is a few rows, whatever the size of the inventory. One stock check
 * and one drying check run at a time: what changes meanwhile waits (one entry per filament,
 * CHECK_WAIT of them, past that one full check) and runs when it ends. */
#define CHECK_ROWS 64

typedef struct finding {
    int64_t id;                  /* the filament (stock, per filament) or the spool */
    int64_t filament_id, printer_id;
    double value, limit;         /* grams left and the threshold; hours exposed and the limit */
    int count;                   /* per filament: spools counted */
    int unit, slot;              /* drying: the AMS slot */
    int64_t dried;               /* drying: last dried, -1 never */
    char label[160], material[64];
} finding;

typedef struct page {
    finding row[CHECK_ROWS];
    size_t n;
    int64_t after;               /* the last id read: the next read starts past it */
    bool done;                   /* nothing past it */
} page;

typedef enum check_kind { CHECK_STOCK, CHECK_DRYING } check_kind;

struct check {
    pd_alerts *a;
    check_kind kind;
    int64_t filament_id;         /* stock: one filament, 0 all */
    double default_g, margin_g;  /* [alerts] as the check began: the worker reads no config */
    pd_exposure exposure;        /* drying: [alerts] drying_hours as the check began */
    int64_t now;
    page fil, spool;             /* drying walks spool only */
    json_t *open;                /* on the loop, from the first read on: open keys not seen yet */
};

/* a row callback's "the page is full": the query stops there and the next read resumes */
#define PAGE_FULL PD_ERR_TOOBIG

static finding *page_add(page *p, int64_t id)
{
    if (p->n == CHECK_ROWS)
        return NULL;
    p->after = id;
    finding *f = &p->row[p->n++];
    *f = (finding){.id = id};
    return f;
}

#define REMAINING "(COALESCE(s.initial_weight, f.weight) - s.used_weight)"
#define LABEL "TRIM(COALESCE(v.name, '') || ' ' || COALESCE(f.name, f.material, 'filament ' || f.id))"
/* a filament's stock: its non-archived spools of known weight, each counted as at least 0 g */
#define TOTAL "COALESCE(SUM(CASE WHEN s.archived = 0 AND " REMAINING " > 0 THEN " REMAINING " ELSE 0 END), 0)"
#define COUNTED "COUNT(CASE WHEN s.archived = 0 THEN " REMAINING " END)"
/* A filament counts once it has a spool: one whose spools are all used up and archived is out
 * of stock when it has a threshold of its own; the default would otherwise warn about every old
 * catalogue entry, and a filament just created, before its first spool, is no stock yet. Only
 * those at or under threshold + margin can raise or stay open: the rest clear. */
#define FILAMENT_SQL(filter)                                                                                    \
    "SELECT f.id, COALESCE(f.low_stock_weight, ?), " LABEL ", COALESCE(f.material, ''), " TOTAL ", " COUNTED  \
    " FROM filament f LEFT JOIN vendor v ON v.id = f.vendor_id LEFT JOIN spool s ON s.filament_id = f.id "   \
    "WHERE f.id > ?" filter " AND COALESCE(f.low_stock_weight, ?) IS NOT NULL "                                \
    "GROUP BY f.id, f.low_stock_weight, f.name, f.material, v.name "                                           \
    "HAVING (" COUNTED " > 0 OR (f.low_stock_weight IS NOT NULL AND COUNT(s.id) > 0)) "                        \
    "AND " TOTAL " <= COALESCE(f.low_stock_weight, ?) + ? ORDER BY f.id"
/* spools with a threshold of their own, at or under it + margin, or of unknown weight (an open
 * alert stays open while the weight is unknown) */
#define SPOOL_SQL(filter)                                                                                       \
    "SELECT s.id, s.filament_id, s.low_stock_weight, " REMAINING ", " LABEL ", COALESCE(f.material, '') "      \
    "FROM spool s JOIN filament f ON f.id = s.filament_id LEFT JOIN vendor v ON v.id = f.vendor_id "          \
    "WHERE s.id > ?" filter " AND s.archived = 0 AND s.low_stock_weight IS NOT NULL AND "                      \
    "(" REMAINING " IS NULL OR " REMAINING " <= s.low_stock_weight + ?) ORDER BY s.id"

static pd_err filament_found(const pd_row *row, void *ud)
{
    finding *f = page_add(ud, pd_row_int(row, 0));
    if (!f)
        return PAGE_FULL;
    f->filament_id = f->id;
    f->limit = pd_row_real(row, 1);
    snprintf(f->label, sizeof f->label, "%s", pd_row_text(row, 2));
    snprintf(f->material, sizeof f->material, "%s", pd_row_text(row, 3));
    f->value = pd_row_real(row, 4);
    f->count = (int)pd_row_int(row, 5);
    return PD_OK;
}

static pd_err spool_found(const pd_row *row, void *ud)
{
    finding *f = page_add(ud, pd_row_int(row, 0));
    if (!f)
        return PAGE_FULL;
    f->filament_id = pd_row_int(row, 1);
    f->limit = pd_row_real(row, 2);
    f->value = pd_row_null(row, 3) ? NAN : fmax(pd_row_real(row, 3), 0);
    snprintf(f->label, sizeof f->label, "%s", pd_row_text(row, 4));
    snprintf(f->material, sizeof f->material, "%s", pd_row_text(row, 5));
    return PD_OK;
}

/* Rows: spool, material, last dried, since when in its slot, printer, unit, slot, label; the
 * material's limit is matched by prefix (pd_exposure_hours), which SQL does not do alike on
 * both backends, so the worker keeps the spools past it. */
static pd_err drying_found(const pd_row *row, void *ud)
{
    check *c = ud;
    const char *material = pd_row_text(row, 1);
    double limit_h = pd_exposure_hours(&c->exposure, material);
    bool dried = !pd_row_null(row, 2);
    double hours = (double)(c->now - pd_row_int(row, dried ? 2 : 3)) / 3600.0;
    if (limit_h <= 0 || hours <= limit_h)
        return PD_OK;  /* not due: an open alert for it is cleared with the rest */
    finding *f = page_add(&c->spool, pd_row_int(row, 0));
    if (!f)
        return PAGE_FULL;
    f->value = hours;
    f->limit = limit_h;
    f->dried = dried ? pd_row_int(row, 2) : -1;
    f->printer_id = pd_row_int(row, 4);
    f->unit = (int)pd_row_int(row, 5);
    f->slot = (int)pd_row_int(row, 6);
    snprintf(f->label, sizeof f->label, "%s", pd_row_text(row, 7));
    snprintf(f->material, sizeof f->material, "%s", material);
    return PD_OK;
}

/* Reads the next page of one walk; a full page leaves it not done. */
static pd_err walk(pd_db *rd, page *p, const char *sql, pd_sqlv *args, size_t n, pd_row_fn fn, void *ud)
{
    p->n = 0;
    if (p->done)
        return PD_OK;
    pd_err rc = pd_db_query(rd, sql, args, n, fn, ud);
    if (rc == PAGE_FULL)
        return PD_OK;
    p->done = !rc;
    return rc;
}

/* In the reader pool: touches rd and c only. */
static pd_err check_work(pd_db *rd, void *ud)
{
    check *c = ud;
    if (c->kind == CHECK_DRYING) {
        pd_sqlv arg = PD_SQL_I(c->spool.after);
        return walk(rd, &c->spool,
                    "SELECT s.id, COALESCE(f.material, ''), s.last_dried, "
                    "COALESCE((SELECT MAX(h.assigned_at) FROM slot_history h WHERE h.slot_id = m.id "
                    "AND h.spool_id = s.id AND h.unassigned_at IS NULL), m.updated_at), "
                    "m.printer_id, m.unit, m.slot, COALESCE(f.name, '') FROM ams_slot m "
                    "JOIN spool s ON s.id = m.spool_id JOIN filament f ON f.id = s.filament_id "
                    "WHERE s.archived = 0 AND s.id > ? ORDER BY s.id", &arg, 1, drying_found, c);
    }
    pd_sqlv def = c->default_g > 0 ? PD_SQL_D(c->default_g) : PD_SQL_NUL, fid = PD_SQL_I(c->filament_id),
            margin = PD_SQL_D(c->margin_g);
    /* one filament by its index, not a scan of every spool */
    pd_sqlv fa[] = {def, PD_SQL_I(c->fil.after), fid, def, def, margin};
    pd_sqlv sa[] = {PD_SQL_I(c->spool.after), fid, margin};
    pd_err rc = c->filament_id
                    ? walk(rd, &c->fil, FILAMENT_SQL(" AND f.id = ?"), fa, 6, filament_found, &c->fil)
                    : walk(rd, &c->fil, FILAMENT_SQL(""), (pd_sqlv[]){fa[0], fa[1], fa[3], fa[4], fa[5]}, 5,
                           filament_found, &c->fil);
    if (!rc)
        rc = c->filament_id ? walk(rd, &c->spool, SPOOL_SQL(" AND s.filament_id = ?"), sa, 3, spool_found, &c->spool)
                            : walk(rd, &c->spool, SPOOL_SQL(""), (pd_sqlv[]){sa[0], sa[2]}, 2, spool_found, &c->spool);
    return rc;
}

static void gate_filament(pd_alerts *a, check *c, const finding *f)
{
    char key[48], msg[320];
    snprintf(key, sizeof key, "low_stock:filament:%lld", (long long)f->id);
    snprintf(msg, sizeof msg, "%s is low on stock: %.0f g left in %d spool%s, under %.0f g", f->label, f->value,
             f->count, f->count == 1 ? "" : "s", f->limit);
    json_t *data = json_pack("{s:f,s:f,s:f,s:i,s:s}", "remaining_g", f->value, "threshold_g", f->limit, "margin_g",
                             c->margin_g, "spools", f->count, "material", f->material);
    pd_alert_in in = {.kind = PD_ALERT_LOW_STOCK_FILAMENT, .key = key, .severity = "warning",
                      .filament_id = f->id, .message = msg, .data = data};
    gate(a, c->open, &in, false, f->value, f->limit, c->margin_g);
    json_decref(data);
}

static void gate_spool(pd_alerts *a, check *c, const finding *f)
{
    char key[48], msg[320];
    double rem = isnan(f->value) ? 0 : f->value;
    snprintf(key, sizeof key, "low_stock:spool:%lld", (long long)f->id);
    snprintf(msg, sizeof msg, "Spool %lld (%s) is low: %.0f g left, under %.0f g", (long long)f->id, f->label, rem,
             f->limit);
    json_t *data = json_pack("{s:f,s:f,s:f,s:s}", "remaining_g", rem, "threshold_g", f->limit, "margin_g",
                             c->margin_g, "material", f->material);
    pd_alert_in in = {.kind = PD_ALERT_LOW_STOCK_SPOOL, .key = key, .severity = "warning", .spool_id = f->id,
                      .filament_id = f->filament_id, .message = msg, .data = data};
    gate(a, c->open, &in, false, f->value, f->limit, c->margin_g);
    json_decref(data);
}

static void raise_drying(pd_alerts *a, check *c, const finding *f)
{
    char key[48], msg[512];
    snprintf(key, sizeof key, "drying:spool:%lld", (long long)f->id);
    json_object_del(c->open, key);
    snprintf(msg, sizeof msg, "Spool %lld (%s, %s) has been in AMS %d slot %d for %.0f h %s; %s takes about "
                              "%.0f h: dry it",
             (long long)f->id, f->label, f->material, f->unit, f->slot, f->value,
             f->dried >= 0 ? "since it was dried" : "and was never marked dried", f->material, f->limit);
    json_t *data = json_pack("{s:s,s:f,s:f,s:o,s:i,s:i}", "material", f->material, "exposed_h", f->value, "limit_h",
                             f->limit, "last_dried", f->dried >= 0 ? pd_inv_time_json(f->dried) : json_null(), "unit",
                             f->unit, "slot", f->slot);
    pd_alert_in in = {.kind = PD_ALERT_DRYING, .key = key, .severity = "warning", .spool_id = f->id,
                      .printer_id = f->printer_id, .message = msg, .data = data};
    pd_alerts_raise(a, &in, NULL);
    json_decref(data);
}

static void check_next(pd_alerts *a);
static void release(pd_alerts *a);

/* A filament to check (0: all of them) once the running stock check ends. */
static void want_stock(pd_alerts *a, int64_t filament_id)
{
    if (a->stock_all)
        return;
    for (size_t i = 0; i < a->n_wait; i++)
        if (a->wait[i] == filament_id)
            return;
    if (!filament_id || a->n_wait == CHECK_WAIT) {
        a->stock_all = true;
        a->n_wait = 0;
        return;
    }
    a->wait[a->n_wait++] = filament_id;
}

/* again: the walk stopped before its end (the store's read queue was full): it runs anew. */
static void check_end(check *c, bool again)
{
    pd_alerts *a = c->a;
    if (c->kind == CHECK_STOCK) {
        a->stock = NULL;
        if (again)
            want_stock(a, c->filament_id);
    } else {
        a->drying = NULL;
        a->drying_wait |= again;
    }
    json_decref(c->open);
    free(c);
    if (a->stopping)
        release(a);
    else if (!again)
        check_next(a);  /* after a refusal the tick tries again */
}

static void check_done(pd_err rc, void *ud)
{
    check *c = ud;
    pd_alerts *a = c->a;
    const char *what = c->kind == CHECK_STOCK ? "stock" : "drying";
    if (a->stopping) {
        check_end(c, false);
        return;
    }
    if (rc) {
        pd_error("alerts", "cannot check %s: %s", what, pd_strerror(rc));
        check_end(c, false);
        return;
    }
    if (!c->open)
        c->open = c->kind == CHECK_STOCK
                      ? open_keys(a, PD_ALERT_LOW_STOCK_SPOOL, PD_ALERT_LOW_STOCK_FILAMENT, c->filament_id)
                      : open_keys(a, PD_ALERT_DRYING, PD_ALERT_DRYING, 0);
    if (!c->open) {
        pd_error("alerts", "cannot check %s: %s (%s)", what, pd_strerror(PD_ERR_DB), pd_db_last_error(a->db));
        check_end(c, false);
        return;
    }
    for (size_t i = 0; i < c->fil.n; i++)
        gate_filament(a, c, &c->fil.row[i]);
    for (size_t i = 0; i < c->spool.n; i++)
        (c->kind == CHECK_STOCK ? gate_spool : raise_drying)(a, c, &c->spool.row[i]);
    if (!c->fil.done || !c->spool.done) {
        if ((rc = pd_db_read(a->db, a->loop, check_work, check_done, c)))
            check_end(c, true);
        return;
    }
    clear_rest(a, c->open);  /* deleted, archived, refilled, dried or unloaded since */
    check_end(c, false);
}

static bool check_start(pd_alerts *a, check_kind kind, int64_t filament_id)
{
    check *c = malloc(sizeof *c);
    if (!c)
        return false;
    *c = (check){.a = a, .kind = kind, .filament_id = filament_id, .default_g = a->cfg->alert_low_stock_g,
                 .margin_g = a->cfg->alert_low_stock_margin_g, .now = now_s(), .fil.done = kind == CHECK_DRYING};
    char err[128];
    /* checked when it was set (core/config.c): an error here leaves no material flagged */
    if (kind == CHECK_DRYING)
        pd_exposure_parse(a->cfg->alert_drying_hours, &c->exposure, err, sizeof err);
    *(kind == CHECK_STOCK ? &a->stock : &a->drying) = c;
    if (!pd_db_read(a->db, a->loop, check_work, check_done, c))
        return true;
    *(kind == CHECK_STOCK ? &a->stock : &a->drying) = NULL;
    free(c);
    return false;
}

/* Starts what waits and nothing runs for. Taken off the waiting list first: an in-memory
 * database runs the whole check, and this again, inside pd_db_read. */
static void check_next(pd_alerts *a)
{
    if (!a->stopping && !a->stock && (a->stock_all || a->n_wait)) {
        int64_t fid = a->stock_all ? 0 : a->wait[0];
        if (a->stock_all)
            a->stock_all = false;
        else
            memmove(a->wait, a->wait + 1, --a->n_wait * sizeof *a->wait);
        if (!check_start(a, CHECK_STOCK, fid))
            want_stock(a, fid);
    }
    if (!a->stopping && !a->drying && a->drying_wait) {
        a->drying_wait = false;
        a->drying_due_ms = pd_clock_mono_ms() + (int64_t)a->cfg->alert_drying_check_s * 1000;
        if (!check_start(a, CHECK_DRYING, 0))
            a->drying_wait = true;
    }
}

void pd_alerts_thresholds_changed(pd_alerts *a)
{
    want_stock(a, 0);
    a->drying_wait = true;
    check_next(a);
}

bool pd_alerts_checking(const pd_alerts *a)
{
    return a->stock || a->drying || a->stock_all || a->n_wait || a->drying_wait;
}

/* --- humidity and stalls, per printer ---------------------------------------------------------------- */

static unit_watch *unit_of(watch *w, int unit)
{
    for (int i = 0; i < w->n_units; i++)
        if (w->units[i].unit == unit)
            return &w->units[i];
    if (w->n_units == PD_MAX_AMS)
        return NULL;
    w->units[w->n_units] = (unit_watch){.unit = unit};
    return &w->units[w->n_units++];
}

static void humidity_eval(pd_alerts *a, watch *w, const pd_ams_unit *u, int64_t now_ms)
{
    const pd_config *c = a->cfg;
    unit_watch *uw = unit_of(w, u->id);
    if (!uw)
        return;
    char key[64];
    snprintf(key, sizeof key, "humidity:%lld:%d", (long long)w->printer_id, u->id);
    if (!uw->known) {
        uw->known = true;
        uw->raised = is_open(a, key);
    }
    /* a percentage when the unit has a sensor that gives one, else its level 1-5 (5 driest) as
     * a wetness with the level threshold as limit */
    bool pct = u->humidity_pct >= 0;
    double value = pct ? u->humidity_pct : u->humidity > 0 && c->alert_humidity_level ? 6 - u->humidity : NAN;
    double limit = pct ? c->alert_humidity_pct : 5.5 - c->alert_humidity_level;
    double margin = pct ? c->alert_humidity_margin_pct : 0;
    if (isnan(value))
        return;
    if (value > limit) {
        if (!uw->high_since_ms)
            uw->high_since_ms = now_ms;
    } else {
        uw->high_since_ms = 0;
    }
    pd_gate_move m = pd_alerts_gate(uw->raised, true, value, limit, margin);
    if (m == PD_GATE_RAISE && now_ms - uw->high_since_ms >= (int64_t)c->alert_humidity_sustain_s * 1000) {
        char msg[200];
        if (pct)
            snprintf(msg, sizeof msg, "AMS %d humidity is %d %%, above %d %% for %d min", u->id, u->humidity_pct,
                     c->alert_humidity_pct, c->alert_humidity_sustain_s / 60);
        else
            snprintf(msg, sizeof msg, "AMS %d humidity is at level %d of 5 (1 wettest) for %d min", u->id,
                     u->humidity, c->alert_humidity_sustain_s / 60);
        json_t *data = json_pack("{s:i,s:o,s:i,s:i}", "unit", u->id, "humidity_pct",
                                 pct ? json_integer(u->humidity_pct) : json_null(), "level", u->humidity,
                                 "threshold_pct", c->alert_humidity_pct);
        pd_alert_in in = {.kind = PD_ALERT_HUMIDITY, .key = key, .severity = "warning", .printer_id = w->printer_id,
                          .message = msg, .data = data};
        uw->raised = !pd_alerts_raise(a, &in, NULL);
        json_decref(data);
    } else if (m == PD_GATE_CLEAR) {
        uw->raised = pd_alerts_clear(a, key) != PD_OK;
    }
}

static int64_t open_job(pd_alerts *a, int64_t printer_id)
{
    int64_t id = 0;
    pd_sqlv arg = PD_SQL_I(printer_id);
    pd_db_scalar(a->db, "SELECT MAX(id) FROM job WHERE printer_id = ? AND ended_at IS NULL", &arg, 1, &id);
    return id;
}

static void stall_eval(pd_alerts *a, watch *w, const pd_state *st, bool online, int64_t now_ms)
{
    char key[48];
    snprintf(key, sizeof key, "stalled:%lld", (long long)w->printer_id);
    if (!w->stall_known) {
        w->stall_known = true;
        w->stalled = is_open(a, key);
    }
    bool running = online && !strcmp(st->gcode_state, "RUNNING");
    if (!running || !w->running || st->layer != w->layer) {
        /* a new baseline: the print (re)started, moved a layer, or is not running now */
        w->running = running;
        w->layer = st->layer;
        w->layer_ms = now_ms;
        if (w->stalled && (running || strcmp(st->gcode_state, "PAUSE")) && online)
            w->stalled = pd_alerts_clear(a, key) != PD_OK;
        return;
    }
    int64_t still_ms = now_ms - w->layer_ms;
    if (w->stalled || still_ms < (int64_t)a->cfg->alert_stall_s * 1000)
        return;
    char msg[320];
    snprintf(msg, sizeof msg, "%s: no layer progress for %lld min (layer %d of %d, %s)",
             pd_printer_rec_get(pd_fleet_find_id(a->fleet, w->printer_id))->name, (long long)(still_ms / 60000),
             st->layer, st->total_layers, *st->subtask ? st->subtask : "unnamed print");
    json_t *data = json_pack("{s:i,s:i,s:i,s:I}", "layer", st->layer, "total_layers", st->total_layers, "progress",
                             st->progress, "still_s", (json_int_t)(still_ms / 1000));
    pd_alert_in in = {.kind = PD_ALERT_STALLED, .key = key, .severity = "critical", .printer_id = w->printer_id,
                      .job_id = open_job(a, w->printer_id), .message = msg, .data = data};
    w->stalled = !pd_alerts_raise(a, &in, NULL);
    json_decref(data);
}

static void watch_eval(pd_alerts *a, pd_printer *p, int64_t now_ms)
{
    watch *w = watch_of(a, pd_printer_id(p));
    if (!w)
        return;
    const pd_state *st = pd_printer_state(p);
    bool online = pd_printer_online(p);
    stall_eval(a, w, st, online, now_ms);
    for (int i = 0; online && i < st->n_ams; i++)
        humidity_eval(a, w, &st->ams[i], now_ms);
}

static void tick_one(pd_printer *p, void *ud)
{
    pd_alerts *a = ud;
    watch_eval(a, p, pd_clock_mono_ms());
}

static void on_tick(uv_timer_t *t)
{
    pd_alerts *a = t->data;
    /* sustained humidity and stalls become due without a report saying so */
    pd_fleet_foreach(a->fleet, tick_one, a);
    if (pd_clock_mono_ms() >= a->drying_due_ms)
        a->drying_wait = true;
    check_next(a);  /* also what waits after the store refused a read (its queue was full) */
}

/* --- the bus -------------------------------------------------------------------------------------- */

static void on_inventory(pd_alerts *a, const pd_event *ev)
{
    const char *res = ev->u.inv.resource;
    int64_t fid = 0;
    if (!strcmp(res, "filament")) {
        fid = strtoll(ev->u.inv.key, NULL, 10);
    } else if (!strcmp(res, "spool")) {
        json_t *o = json_loadb(ev->u.inv.payload, ev->u.inv.payload_len, 0, NULL);
        fid = json_integer_value(json_object_get(json_object_get(o, "filament"), "id"));
        json_decref(o);
        a->drying_wait = true;  /* last_dried, archived, deleted */
    } else if (!strcmp(res, "setting")) {
        return;
    }
    want_stock(a, fid);  /* 0 (a vendor renamed, a payload without its filament): all */
    check_next(a);
}

static void on_job(pd_alerts *a, const pd_event *ev)
{
    if (strcmp(ev->u.job.change, "ended"))
        return;
    char key[48];
    snprintf(key, sizeof key, "insufficient:job:%lld", (long long)ev->u.job.id);
    pd_alerts_clear(a, key);
}

static void on_event(const pd_event *ev, void *ud)
{
    pd_alerts *a = ud;
    pd_printer *p;
    switch (ev->type) {
    case PD_EV_STATE:
    case PD_EV_OFFLINE:
        if ((p = pd_fleet_find_id(a->fleet, ev->printer_id)))
            watch_eval(a, p, pd_clock_mono_ms());
        break;
    case PD_EV_INVENTORY: on_inventory(a, ev); break;
    case PD_EV_JOB: on_job(a, ev); break;
    default: break;
    }
}

pd_err pd_alerts_insufficient(pd_alerts *a, int64_t printer_id, int64_t job_id, const pd_alert_need *need,
                              size_t n, int64_t *id)
{
    json_t *items = json_array();
    double total = 0;
    int64_t spool = 0;
    for (size_t i = 0; i < n; i++) {
        double short_g = need[i].needed_g - fmax(need[i].remaining_g, 0);
        if (short_g <= 0)
            continue;
        total += short_g;
        spool = spool ? spool : need[i].spool_id;
        json_array_append_new(items, json_pack("{s:o,s:i,s:i,s:s,s:f,s:f,s:f}", "spool_id",
                                               need[i].spool_id ? json_integer(need[i].spool_id) : json_null(),
                                               "unit", need[i].unit, "slot", need[i].slot, "material",
                                               need[i].material ? need[i].material : "", "needed_g", need[i].needed_g,
                                               "remaining_g", need[i].remaining_g, "shortfall_g", short_g));
    }
    pd_err rc = PD_OK;
    if (json_array_size(items)) {
        char key[48], msg[200];
        snprintf(key, sizeof key, "insufficient:job:%lld", (long long)job_id);
        snprintf(msg, sizeof msg, "Job %lld needs %.0f g more filament than its spools hold (%zu filament%s short)",
                 (long long)job_id, total, json_array_size(items), json_array_size(items) == 1 ? "" : "s");
        json_t *data = json_pack("{s:O,s:f}", "filaments", items, "shortfall_g", total);
        pd_alert_in in = {.kind = PD_ALERT_INSUFFICIENT, .key = key, .severity = "critical",
                          .printer_id = printer_id, .job_id = job_id, .spool_id = json_array_size(items) == 1 ? spool : 0,
                          .message = msg, .data = data};
        rc = pd_alerts_raise(a, &in, id);
        json_decref(data);
    } else if (id) {
        *id = 0;
    }
    json_decref(items);
    return rc;
}

/* --- start and stop ------------------------------------------------------------------------------------ */

pd_err pd_alerts_start(pd_alerts **out, uv_loop_t *loop, pd_bus *bus, pd_fleet *fleet, pd_inv *inv,
                       const pd_config *cfg)
{
    pd_alerts *a = calloc(1, sizeof *a);
    if (!a)
        return PD_ERR_NOMEM;
    *a = (pd_alerts){.bus = bus, .fleet = fleet, .inv = inv, .db = inv->db, .loop = loop, .cfg = cfg};
    pd_err rc = uv_timer_init(loop, &a->timer) ? PD_ERR_INTERNAL : PD_OK;
    if (!rc) {
        a->timer_open = true;
        a->timer.data = a;
        uv_timer_start(&a->timer, on_tick, TICK_MS, TICK_MS);
        a->sub = pd_bus_subscribe(bus, PD_EV_STATE | PD_EV_OFFLINE | PD_EV_INVENTORY | PD_EV_JOB, on_event, a);
        if (!a->sub)
            rc = PD_ERR_BUSY;
    }
    if (rc) {
        pd_alerts_stop(&a);
        return rc;
    }
    /* a crossing that happened while printdeck was stopped is found now, once */
    want_stock(a, 0);
    a->drying_wait = true;
    check_next(a);
    *out = a;
    return PD_OK;
}

static void release(pd_alerts *a)
{
    if (!a->timer_open && !a->stock && !a->drying)
        free(a);
}

static void timer_closed(uv_handle_t *h)
{
    pd_alerts *a = h->data;
    a->timer_open = false;
    release(a);
}

void pd_alerts_stop(pd_alerts **ap)
{
    pd_alerts *a = *ap;
    if (!a)
        return;
    *ap = NULL;
    if (a->sub)
        pd_bus_unsubscribe(a->bus, a->sub);
    for (size_t i = 0; i < a->n; i++)
        free(a->v[i]);
    free(a->v);
    a->stopping = true;  /* a check reading now ends in its done callback, which writes nothing */
    if (a->timer_open)
        uv_close((uv_handle_t *)&a->timer, timer_closed);
    else
        release(a);
}

/* --- the API ------------------------------------------------------------------------------------------- */

static const pd_inv_filter alert_filters[] = {
    {"kind", NULL, "a.kind", PD_INV_F_TEXT_REQ},
    {"printer_id", "printer", "a.printer_id", PD_INV_F_IDS},
    {"spool_id", "spool", "a.spool_id", PD_INV_F_IDS},
    {"filament_id", "filament", "a.filament_id", PD_INV_F_IDS},
    {"job_id", "job", "a.job_id", PD_INV_F_IDS},
};

static void where(pd_sqlb *b, const char *state, int64_t since)
{
    pd_sqlb_add(b, " FROM alert a WHERE 1 = 1");
    if (!strcmp(state, "open"))
        pd_sqlb_add(b, " AND a.cleared_at IS NULL");
    else if (!strcmp(state, "unacked"))
        pd_sqlb_add(b, " AND a.cleared_at IS NULL AND a.acked_at IS NULL");
    else if (!strcmp(state, "cleared"))
        pd_sqlb_add(b, " AND a.cleared_at IS NOT NULL");
    if (strcmp(state, "open") && strcmp(state, "unacked")) {
        /* the recent past: what is still open, and what was raised since */
        pd_sqlb_add(b, " AND (a.cleared_at IS NULL OR a.raised_at >= ?)");
        pd_sqlb_arg(b, PD_SQL_I(since));
    }
}

pd_err pd_alerts_list(pd_inv *inv, const pd_inv_param *p, size_t n, json_t **items, int64_t *total,
                      pd_inv_err *e)
{
    const char *state = pd_inv_param_get(p, n, "state");
    const char *since_s = pd_inv_param_get(p, n, "since");
    int64_t since = now_s() - 7 * 86400, limit, offset;
    state = state ? state : "recent";
    if (strcmp(state, "recent") && strcmp(state, "open") && strcmp(state, "unacked") && strcmp(state, "cleared"))
        return pd_inv_fail(e, PD_ERR_FIELD, "query", "state", "recent, open, unacked or cleared expected");
    if (since_s && !pd_date_parse(since_s, PD_DATE_NAIVE_UTC, &since, NULL))
        return pd_inv_fail(e, PD_ERR_FIELD, "query", "since", "an ISO 8601 date or time expected");
    pd_err rc = pd_inv_paging(p, n, &limit, &offset, e);
    pd_sqlb *b = rc ? NULL : malloc(2 * sizeof *b);
    if (!rc && !b)
        rc = pd_inv_fail(e, PD_ERR_NOMEM, NULL, NULL, "out of memory");
    if (rc)
        return rc;
    pd_sqlb_init(&b[0]);
    pd_sqlb_init(&b[1]);
    pd_sqlb_add(&b[0], "SELECT " ALERT_COLS);
    pd_sqlb_add(&b[1], "SELECT count(*)");
    for (int i = 0; i < 2; i++)
        where(&b[i], state, since);
    for (size_t i = 0; !rc && i < sizeof alert_filters / sizeof *alert_filters; i++) {
        const char *v = pd_inv_param_get(p, n, alert_filters[i].param);
        if (!v && alert_filters[i].alias)
            v = pd_inv_param_get(p, n, alert_filters[i].alias);
        for (int k = 0; v && !rc && k < 2; k++)
            rc = pd_inv_filter_add(inv, &alert_filters[i], v, &b[k], e);
    }
    pd_sqlb_add(&b[0], " ORDER BY a.id DESC");
    if (limit >= 0) {
        pd_sqlb_add(&b[0], " LIMIT ? OFFSET ?");
        pd_sqlb_arg(&b[0], PD_SQL_I(limit));
        pd_sqlb_arg(&b[0], PD_SQL_I(offset));
    }
    *items = json_array();
    if (!rc && (!pd_sqlb_ok(&b[0]) || !pd_sqlb_ok(&b[1])))
        rc = pd_inv_fail(e, PD_ERR_TOOBIG, "query", "", "too many filter terms");
    if (!rc && (rc = pd_db_query(inv->db, b[0].sql, b[0].args, b[0].nargs, render_row, *items)))
        pd_inv_fail(e, rc, NULL, NULL, "%s", pd_strerror(rc));
    if (!rc && (rc = pd_db_scalar(inv->db, b[1].sql, b[1].args, b[1].nargs, total)))
        pd_inv_fail(e, rc, NULL, NULL, "%s", pd_strerror(rc));
    pd_sqlb_free(&b[0]);
    pd_sqlb_free(&b[1]);
    free(b);
    if (rc) {
        json_decref(*items);
        *items = NULL;
    }
    return rc;
}

pd_err pd_alerts_ack(pd_alerts *a, int64_t id, pd_inv_seen seen, json_t **out, pd_inv_err *e)
{
    int64_t changes = 0, printer_id = 0;
    pd_sqlv args[] = {PD_SQL_I(now_s()), PD_SQL_I(id)};
    pd_err rc = seen.n ? pd_db_scalar(a->db, "SELECT COALESCE(printer_id, 0) FROM alert WHERE id = ?", &args[1], 1,
                                      &printer_id)
                       : PD_OK;
    if (rc == PD_ERR_NOTFOUND || (!rc && !pd_inv_seen_has(seen, printer_id)))
        return pd_inv_fail(e, PD_ERR_NOTFOUND, "path", "id", "No alert with ID %lld found.", (long long)id);
    if (!rc)
        rc = pd_db_run(a->db, "UPDATE alert SET acked_at = ? WHERE id = ? AND acked_at IS NULL", args, 2, &changes);
    if (rc)
        return pd_inv_fail(e, rc, NULL, NULL, "%s", pd_strerror(rc));
    if (changes)
        announce(a, id, "acked");
    json_t *items = json_array();
    rc = pd_db_query(a->db, "SELECT " ALERT_COLS " FROM alert WHERE id = ?", &args[1], 1, render_row, items);
    if (!rc && !json_array_size(items))
        rc = pd_inv_fail(e, PD_ERR_NOTFOUND, "path", "id", "No alert with ID %lld found.", (long long)id);
    else if (rc)
        pd_inv_fail(e, rc, NULL, NULL, "%s", pd_strerror(rc));
    *out = rc ? NULL : json_incref(json_array_get(items, 0));
    json_decref(items);
    return rc;
}

pd_err pd_alerts_dried(pd_alerts *a, int64_t spool_id, json_t *body, json_t **out, pd_inv_err *e)
{
    json_t *at = json_object_get(body, "at");
    if (body && (!json_is_object(body) || (at && !json_is_string(at))))
        return pd_inv_fail(e, PD_ERR_FIELD, "body", "at", "an ISO 8601 time expected");
    json_t *patch = json_object();
    if (patch)
        json_object_set_new(patch, "last_dried", at ? json_incref(at) : pd_inv_time_json(now_s()));
    pd_err rc = patch ? pd_inv_update(a->inv, PD_INV_SPOOL, spool_id, patch, out, e)
                      : pd_inv_fail(e, PD_ERR_NOMEM, NULL, NULL, "out of memory");
    json_decref(patch);
    return rc;
}
