/* POST /api/v1/files/analyze (docs/files.md): the upload is spooled to a file by the server
 * (PD_ROUTE_UPLOAD), read in a worker (files/files.h, off the loop, bounded in time), and the
 * answer says per plate what it will use and which spools to load for it (item 7 of the
 * tracking issue): inventory spools of the same material and a near colour that hold enough,
 * loaded ones first, and, for a printer, whether the trays it has now would run out. */
#include <ctype.h>
#include <openssl/evp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "api/api.h"
#include "core/clock.h"
#include "core/jw.h"
#include "core/log.h"
#include "files/files.h"
#include "http/multipart.h"
#include "track/split.h"

/* Colours within this CIE94 ΔE look alike (Spoolman's similarity default). */
#define MATCH_DE 20.0
#define CANDIDATES_MAX 5        /* spools suggested per filament */
#define MATERIAL_SPOOLS_MAX 500 /* spools of one material looked at */
#define MATERIALS_MAX 16        /* distinct materials looked up per answer */
#define CURVE_POINTS 50         /* the per-layer curve in the answer, sampled */
/* PNG bytes of thumbnails in one answer (base64 makes 4/3 of it): 64 plates of 4 MiB would
 * pass the reply's 256 MiB bound, and no page shows that many anyway. Plates past it get
 * null and a warning. */
#define THUMBNAILS_MAX (16u << 20)

typedef struct analysis {
    pd_app *app;
    pd_req *req;            /* NULL once the client has gone */
    atomic_bool cancel;
    int fd;
    uint64_t len;
    char boundary[PD_MULTIPART_BOUNDARY_MAX + 1];
    char name[256];         /* the form's filename or ?name= */
    int64_t printer_id;     /* 0: none asked */
    bool thumbnails;
    pd_files_limits lim;
    /* worker → loop */
    pd_files_result *res;
    json_t *curves, *thumbs; /* per plate, in res's order: built in the worker */
    pd_err rc;
    char err[256];
} analysis;

static void analysis_free(analysis *a)
{
    if (a->fd >= 0)
        close(a->fd);
    pd_files_result_free(&a->res);
    json_decref(a->curves);
    json_decref(a->thumbs);
    free(a);
}

static void on_abort(void *ud)
{
    analysis *a = ud;
    a->req = NULL;
    atomic_store(&a->cancel, true);
}

/* --- built in the worker: pure, from the result alone ----------------------------------- */

static json_t *thumb_json(const pd_files_plate *pl)
{
    static const char prefix[] = "data:image/png;base64,";
    size_t n = sizeof prefix - 1 + 4 * ((pl->thumb_len + 2) / 3) + 1;
    char *s = malloc(n);
    if (!s)
        return json_null();
    memcpy(s, prefix, sizeof prefix - 1);
    EVP_EncodeBlock((unsigned char *)s + sizeof prefix - 1, pl->thumb, (int)pl->thumb_len);
    json_t *j = json_string(s);
    free(s);
    return j ? j : json_null();
}

/* The curve sampled at CURVE_POINTS layers (and the last), in one walk along it: layers[k]
 * and grams[k][filament]. */
static json_t *curve_json(const pd_files_plate *pl)
{
    if (!pl->has_gcode)
        return json_null();
    int last = 0;
    for (size_t i = 0; i < pl->ncurve; i++)
        if ((int)pl->curve[i].layer > last)
            last = (int)pl->curve[i].layer;
    json_t *layers = json_array(), *grams = json_array();
    int step = last / CURVE_POINTS + 1;
    pd_files_walk w;
    pd_files_walk_init(&w, pl);
    for (int l = 0;; l += step) {
        if (l > last)
            l = last;
        double g[PD_FILES_MAX_FILAMENTS];
        size_t n = pd_files_walk_to(&w, l, g, PD_FILES_MAX_FILAMENTS);
        json_t *row = json_array();
        for (size_t k = 0; k < n; k++)
            json_array_append_new(row, json_real(g[k]));
        json_array_append_new(layers, json_integer(l));
        json_array_append_new(grams, row);
        if (l == last)
            break;
    }
    return json_pack("{s:o,s:o}", "layers", layers, "grams", grams);
}

/* Each plate's curve and thumbnail (the latter up to THUMBNAILS_MAX in all). */
static void extras(analysis *a)
{
    const pd_files_result *res = a->res;
    a->curves = json_array();
    a->thumbs = json_array();
    uint64_t thumb_bytes = 0;
    bool dropped = false;
    for (int i = 0; i < res->nplates; i++) {
        const pd_files_plate *pl = &res->plates[i];
        json_array_append_new(a->curves, curve_json(pl));
        bool fits = pl->thumb && thumb_bytes + pl->thumb_len <= THUMBNAILS_MAX;
        dropped |= pl->thumb && a->thumbnails && !fits;
        if (fits)
            thumb_bytes += pl->thumb_len;
        json_array_append_new(a->thumbs, a->thumbnails && fits ? thumb_json(pl) : json_null());
    }
    if (dropped && res->nwarnings < PD_FILES_MAX_WARNINGS)
        snprintf(a->res->warnings[a->res->nwarnings++], sizeof a->res->warnings[0],
                 "thumbnails past %u MiB in all are left out", THUMBNAILS_MAX >> 20);
}

/* On a worker: nothing here touches the loop. */
static void run(void *ud)
{
    analysis *a = ud;
    uint64_t off = 0, len = a->len;
    if (atomic_load(&a->cancel) || pd_clock_mono_ms() >= a->lim.deadline_ms) {
        /* gone, or out of time, while it waited for a worker */
        a->rc = PD_ERR_OVERLOAD;
        snprintf(a->err, sizeof a->err, "the analysis waited for a worker past its time; retry in a moment");
        return;
    }
    if (a->boundary[0]) {
        char name[sizeof a->name];
        a->rc = pd_multipart_find(a->fd, a->len, a->boundary, &off, &len, name, sizeof name);
        if (a->rc) {
            snprintf(a->err, sizeof a->err, a->rc == PD_ERR_PARSE
                     ? "the multipart/form-data body is malformed or holds no file"
                     : "the upload could not be read");
            return;
        }
        if (name[0])
            snprintf(a->name, sizeof a->name, "%s", name);
    }
    a->rc = pd_files_analyze_fd(a->fd, off, len, &a->lim, &a->res, a->err, sizeof a->err);
    if (!a->rc)
        extras(a);
}

/* --- which spools ------------------------------------------------------------------------- */

/* The nearest of a filament's colours (color_hex, or any of multi_color_hexes) to want; -1
 * when either side has none. */
static double spool_distance(json_t *filament, const char *want)
{
    return pd_inv_filament_color_distance(json_string_value(json_object_get(filament, "color_hex")),
                                          json_string_value(json_object_get(filament, "multi_color_hexes")),
                                          want);
}

typedef struct material_spools {
    char type[32];
    json_t *spools;         /* Spoolman's spool objects, borrowed from the list */
} material_spools;

typedef struct ctx {
    analysis *a;
    json_t *slots;          /* every slot with a spool (pd_inv_slots_list), for "loaded" */
    material_spools mats[MATERIALS_MAX];
    int nmats;
    bool inv_failed;
} ctx;

static json_t *spools_of(ctx *c, const char *type)
{
    for (int i = 0; i < c->nmats; i++)
        if (!strcasecmp(c->mats[i].type, type))
            return c->mats[i].spools;
    if (c->nmats == MATERIALS_MAX)
        return NULL;
    material_spools *m = &c->mats[c->nmats++];
    snprintf(m->type, sizeof m->type, "%s", type);
    /* Spoolman's filter is a substring match ("PLA" finds "PLA-CF"): same_material sorts that
     * out. The fullest first, so the bound drops the emptiest. */
    char limit[16];
    snprintf(limit, sizeof limit, "%d", MATERIAL_SPOOLS_MAX);
    pd_inv_param p[] = {{"filament.material", type}, {"limit", limit},
                        {"sort", "remaining_weight:desc"}};
    pd_inv_list l = {0};
    pd_inv_err e = {0};
    if (pd_inv_list_get(c->a->app->inv, PD_INV_SPOOL, p, sizeof p / sizeof *p, &l, &e)) {
        c->inv_failed = true;
        return NULL;
    }
    m->spools = l.items;
    return m->spools;
}

/* Where the spool is loaded: {printer_id, unit, slot} (a new object when `build`, else any
 * non-null borrowed value), or null. */
static json_t *loaded_json(ctx *c, int64_t spool_id, bool build)
{
    size_t i;
    json_t *s;
    json_array_foreach(c->slots, i, s)
        if (json_integer_value(json_object_get(s, "spool_id")) == spool_id)
            return build ? json_pack("{s:O,s:O,s:O}", "printer_id", json_object_get(s, "printer_id"),
                                     "unit", json_object_get(s, "unit"), "slot", json_object_get(s, "slot"))
                         : s;
    return json_null();
}

typedef struct cand {
    json_t *spool;
    double distance;        /* -1 unknown */
    double remaining;       /* -1 unknown */
    bool loaded, enough;
} cand;

static int cand_cmp(const void *x, const void *y)
{
    const cand *a = x, *b = y;
    if (a->loaded != b->loaded)
        return a->loaded ? -1 : 1;
    if (a->enough != b->enough)
        return a->enough ? -1 : 1;
    double da = a->distance < 0 ? MATCH_DE : a->distance, db = b->distance < 0 ? MATCH_DE : b->distance;
    if (da != db)
        return da < db ? -1 : 1;
    /* the fuller one (an unknown remaining last) */
    return (a->remaining < b->remaining) - (a->remaining > b->remaining);
}

/* The spools for one filament: same material, colour within MATCH_DE (or unknown), ranked. */
static json_t *suggest(ctx *c, const pd_files_filament *f, double grams)
{
    json_t *out = json_array();
    json_t *spools = f->type[0] ? spools_of(c, f->type) : NULL;
    size_t n = 0, i;
    cand *all = calloc(json_array_size(spools) + 1, sizeof *all);
    if (!all)
        return out;
    json_t *s;
    json_array_foreach(spools, i, s) {
        json_t *fil = json_object_get(s, "filament");
        const char *mat = json_string_value(json_object_get(fil, "material"));
        if (!mat || !pd_split_same_material(mat, f->type) || json_is_true(json_object_get(s, "archived")))
            continue;
        double d = f->color[0] ? spool_distance(fil, f->color) : -1;
        if (d > MATCH_DE)
            continue;
        json_t *rw = json_object_get(s, "remaining_weight");
        cand *k = &all[n++];
        *k = (cand){.spool = s, .distance = d, .remaining = json_is_number(rw) ? json_number_value(rw) : -1};
        k->enough = k->remaining >= grams;
        k->loaded = !json_is_null(loaded_json(c, json_integer_value(json_object_get(s, "id")), false));
    }
    qsort(all, n, sizeof *all, cand_cmp);
    for (size_t j = 0; j < n && j < CANDIDATES_MAX; j++) {
        cand *k = &all[j];
        json_t *fil = json_object_get(k->spool, "filament");
        json_t *o = json_pack("{s:O,s:O,s:O,s:O,s:b}", "spool_id", json_object_get(k->spool, "id"),
                              "name", json_object_get(fil, "name") ? json_object_get(fil, "name") : json_null(),
                              "material", json_object_get(fil, "material"),
                              "color", json_object_get(fil, "color_hex") ? json_object_get(fil, "color_hex")
                                                                        : json_null(),
                              "enough", k->enough);
        json_object_set_new(o, "remaining_g", k->remaining >= 0 ? json_real(k->remaining) : json_null());
        json_object_set_new(o, "color_distance", k->distance >= 0 ? json_real(k->distance) : json_null());
        json_object_set_new(o, "loaded", loaded_json(c, json_integer_value(json_object_get(k->spool, "id")), true));
        json_array_append_new(out, o);
    }
    free(all);
    return out;
}

/* --- the printer as it is loaded now -------------------------------------------------------- */

typedef struct tray_ref {
    int unit, slot;
    const pd_tray *t;
    double needed;
} tray_ref;

/* The grams a tray holds: its assigned spool's remaining weight, else the printer's remain % of
 * the tray weight (RFID spools), else unknown (-1). */
static double tray_grams(ctx *c, int64_t printer_id, const tray_ref *r, int64_t *spool_id)
{
    size_t i;
    json_t *s;
    *spool_id = 0;
    json_array_foreach(c->slots, i, s) {
        if (json_integer_value(json_object_get(s, "printer_id")) != printer_id ||
            json_integer_value(json_object_get(s, "unit")) != r->unit ||
            json_integer_value(json_object_get(s, "slot")) != r->slot)
            continue;
        *spool_id = json_integer_value(json_object_get(s, "spool_id"));
        json_t *rw = json_object_get(json_object_get(s, "spool"), "remaining_weight");
        if (json_is_number(rw))
            return json_number_value(rw);
    }
    if (r->t->remain >= 0 && r->t->tray_weight > 0)
        return r->t->remain * r->t->tray_weight / 100.0;
    return -1;
}

/* Each filament goes to the tray Bambu Studio's automatic mapping would pick: the same
 * material, the nearest colour. A filament no tray can take, or trays that hold less than
 * what the filaments mapped to them need, make the print run out. */
static json_t *printer_check(ctx *c, const pd_files_plate *pl, const double *grams)
{
    pd_printer *p = pd_fleet_find_id(c->a->app->fleet, c->a->printer_id);
    if (!p)
        return json_null();
    const pd_state *st = pd_printer_state(p);
    tray_ref trays[PD_MAX_AMS * PD_MAX_TRAYS + 1];
    int nt = 0;
    for (int u = 0; u < st->n_ams; u++)
        for (int k = 0; k < st->ams[u].n_trays; k++)
            if (st->ams[u].trays[k].present)
                trays[nt++] = (tray_ref){st->ams[u].id, st->ams[u].trays[k].id, &st->ams[u].trays[k], 0};
    if (st->has_external && st->external.present)
        trays[nt++] = (tray_ref){PD_INV_EXTERNAL_UNIT, 0, &st->external, 0};
    int pick[PD_FILES_MAX_FILAMENTS];
    for (int i = 0; i < pl->nfil; i++) {
        const pd_files_filament *f = &pl->fil[i];
        double best = -1;
        pick[i] = -1;
        for (int k = 0; k < nt; k++) {
            if (!pd_split_same_material(trays[k].t->type, f->type))
                continue;
            double d = f->color[0] && trays[k].t->color[0] ? pd_inv_color_distance(f->color, trays[k].t->color)
                                                           : MATCH_DE;
            if (d < 0)
                d = MATCH_DE;
            if (pick[i] < 0 || d < best) {
                pick[i] = k;
                best = d;
            }
        }
        if (pick[i] >= 0)
            trays[pick[i]].needed += grams[i];
    }
    json_t *map = json_array();
    bool runs_out = false, unknown = false;
    for (int i = 0; i < pl->nfil; i++) {
        json_t *o = json_pack("{s:i,s:f}", "filament_id", pl->fil[i].id, "needed_g", grams[i]);
        if (pick[i] < 0) {
            json_object_set_new(o, "tray", json_null());
            json_object_set_new(o, "short_g", json_real(grams[i]));
            runs_out = true;
        } else {
            tray_ref *r = &trays[pick[i]];
            int64_t spool_id;
            double have = tray_grams(c, c->a->printer_id, r, &spool_id);
            json_object_set_new(o, "tray", json_pack("{s:i,s:i,s:s,s:s}", "unit", r->unit, "slot", r->slot,
                                                     "material", r->t->type, "color", r->t->color));
            json_object_set_new(o, "spool_id", spool_id ? json_integer(spool_id) : json_null());
            json_object_set_new(o, "remaining_g", have >= 0 ? json_real(have) : json_null());
            /* filaments sharing a tray share its grams: the shortfall is the tray's */
            double s = have >= 0 && r->needed > have ? r->needed - have : 0;
            json_object_set_new(o, "short_g", json_real(s));
            runs_out |= s > 0;
            unknown |= have < 0;
        }
        json_array_append_new(map, o);
    }
    return json_pack("{s:I,s:s,s:o,s:b,s:b}", "printer_id", (json_int_t)c->a->printer_id,
                     "name", pd_printer_rec_get(p)->name, "mapping", map, "runs_out", runs_out,
                     "remaining_unknown", unknown);
}

/* --- the answer ------------------------------------------------------------------------------ */

static json_t *num_or_null(double v)
{
    return v >= 0 ? json_real(v) : json_null();
}

/* The worker's curve or thumbnail of plate i; null if it could not be made. */
static json_t *extra(json_t *arr, size_t i)
{
    json_t *v = json_array_get(arr, i);
    return v ? json_incref(v) : json_null();
}

static json_t *plate_json(ctx *c, const pd_files_plate *pl, size_t at)
{
    double grams[PD_FILES_MAX_FILAMENTS];
    json_t *fils = json_array();
    for (int i = 0; i < pl->nfil; i++) {
        const pd_files_filament *f = &pl->fil[i];
        double gg = f->gcode_mm > 0 ? pd_files_mm_to_g(f->gcode_mm, f->diameter, f->density) : -1;
        grams[i] = f->used_g >= 0 ? f->used_g : gg >= 0 ? gg : 0;
        double m = f->used_m >= 0 ? f->used_m : f->gcode_mm > 0 ? f->gcode_mm / 1000 : -1;
        json_t *o = json_pack("{s:i,s:s,s:s}", "id", f->id, "type", f->type, "color", f->color);
        json_object_set_new(o, "grams", json_real(grams[i]));
        json_object_set_new(o, "meters", num_or_null(m));
        json_object_set_new(o, "grams_source", json_string(f->used_g >= 0 ? "slicer" : gg >= 0 ? "gcode" : "none"));
        json_object_set_new(o, "gcode_grams", num_or_null(gg));
        json_object_set_new(o, "density", json_real(f->density));
        json_object_set_new(o, "diameter", json_real(f->diameter));
        json_object_set_new(o, "spools", suggest(c, f, grams[i]));
        json_array_append_new(fils, o);
    }
    json_t *o = json_pack("{s:i,s:o,s:o,s:i,s:o,s:o}", "index", pl->index, "prediction_s",
                          pl->prediction_s >= 0 ? json_integer(pl->prediction_s) : json_null(),
                          "weight_g", num_or_null(pl->weight_g), "layers", pl->layers,
                          "filaments", fils, "curve", extra(c->a->curves, at));
    json_object_set_new(o, "thumbnail", extra(c->a->thumbs, at));
    if (c->a->printer_id)
        json_object_set_new(o, "printer", printer_check(c, pl, grams));
    return o;
}

static void reply(analysis *a)
{
    pd_req *r = a->req;
    ctx c = {.a = a};
    if (pd_inv_slots_list(a->app->inv, 0, &c.slots))
        c.inv_failed = true;
    const pd_files_result *res = a->res;
    json_t *plates = json_array(), *warn = json_array();
    for (int i = 0; i < res->nplates; i++)
        json_array_append_new(plates, plate_json(&c, &res->plates[i], (size_t)i));
    for (int i = 0; i < res->nwarnings; i++)
        json_array_append_new(warn, json_string(res->warnings[i]));
    if (c.inv_failed)
        json_array_append_new(warn, json_string("the inventory could not be read: no spool suggestions"));
    pd_jw_utf8_repair(a->name);
    json_t *body = json_pack("{s:s,s:o,s:I,s:s,s:s,s:o,s:o}", "kind",
                             res->kind == PD_FILES_3MF ? "3mf" : "gcode",
                             "name", a->name[0] ? json_string(a->name) : json_null(),
                             "size", (json_int_t)a->len, "slicer", res->slicer,
                             "printer_model", res->printer_model, "plates", plates, "warnings", warn);
    for (int i = 0; i < c.nmats; i++)
        json_decref(c.mats[i].spools);
    json_decref(c.slots);
    pd_req_reply_json(r, 200, body);
}

static void done(void *ud, bool cancelled)
{
    analysis *a = ud;
    if (a->req) {
        if (cancelled)
            pd_req_reply_error(a->req, PD_ERR_OVERLOAD, "the server is shutting down");
        else if (a->rc)
            pd_req_reply_error(a->req, a->rc, "%s", a->err);
        else
            reply(a);
    }
    analysis_free(a);
}

static void analyze(pd_req *r)
{
    pd_app *app = pd_req_app(r);
    char buf[256], ct[512];
    analysis *a = calloc(1, sizeof *a);
    if (!a) {
        pd_req_reply_error(r, PD_ERR_NOMEM, NULL);
        return;
    }
    a->app = app;
    a->fd = -1;
    a->thumbnails = true;
    if (pd_req_query(r, "thumbnails", buf, sizeof buf) && !pd_inv_bool_parse(buf, &a->thumbnails)) {
        pd_req_reply_field_error(r, "query", "thumbnails", "true or false");
        goto fail;
    }
    if (pd_req_query(r, "printer_id", buf, sizeof buf)) {
        pd_printer *p = pd_fleet_find(app->fleet, buf);
        if (p && !pd_api_printer_visible(r, pd_printer_id(p)))
            p = NULL;
        if (!p) {
            pd_req_reply_error(r, PD_ERR_NOTFOUND, "no printer %.*s", pd_jw_utf8_cut(buf, 64), buf);
            goto fail;
        }
        a->printer_id = pd_printer_id(p);
    }
    if (pd_req_query(r, "name", buf, sizeof buf))
        snprintf(a->name, sizeof a->name, "%s", buf);
    if (pd_req_header(r, "content-type", ct, sizeof ct)) {
        pd_err rc = pd_multipart_boundary(ct, a->boundary, sizeof a->boundary);
        if (rc == PD_ERR_PARSE) {
            pd_req_reply_error(r, PD_ERR_PARSE, "multipart/form-data without a valid boundary");
            goto fail;
        }
    }
    a->fd = pd_req_body_file(r, &a->len);
    if (a->fd < 0 || !a->len) {
        pd_req_reply_error(r, PD_ERR_INVAL, "send the 3MF or G-code file as the request body "
                           "(raw, or multipart/form-data)");
        goto fail;
    }
    pd_files_limits_default(&a->lim);
    a->lim.cancel = &a->cancel;
    /* on the loop, from the configuration as it is now (SIGHUP rewrites it), and counted from
     * the upload's arrival: a wait in the queue spends it too, so the client's wait is bounded */
    a->lim.deadline_ms = pd_clock_mono_ms() + (int64_t)app->cfg->files_timeout_s * 1000;
    pd_err rc = pd_work_submit(app->work, run, done, a);
    if (rc) {
        pd_req_add_header(r, "Retry-After", "5");
        pd_req_reply_error(r, rc == PD_ERR_BUSY ? PD_ERR_OVERLOAD : rc,
                           "every file analysis slot is taken; retry in a moment");
        goto fail;
    }
    a->req = r;
    pd_req_on_abort(r, on_abort, a);
    /* the deadline ends the wait; a little more for the answer to be made */
    pd_req_wait(r, app->cfg->files_timeout_s + 10);
    return;
fail:
    analysis_free(a);
}

const pd_route pd_api_files_routes[] = {
    /* a viewer may ask which spools a file needs: nothing is written */
    {"POST", "/api/v1/files/analyze", analyze, PD_ROUTE_UPLOAD | PD_ROUTE_VIEWER},
};
const size_t pd_api_files_nroutes = sizeof pd_api_files_routes / sizeof *pd_api_files_routes;
