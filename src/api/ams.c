/* printdeck's slot API: /api/v1/ams and /api/v1/printers/{id}/ams…. Each slot shows the spool
 * assigned to it beside the tray the printer reports live, with a mismatch flag when the two
 * disagree on material or colour. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "track/slots.h"

/* Colours further apart than this (CIE94 ΔE) are flagged: Spoolman's similarity default. */
#define COLOR_MISMATCH_DE 20.0

static json_t *live_json(const pd_tray *t)
{
    return json_pack("{s:b,s:s,s:s,s:s,s:i,s:s,s:s,s:s}", "present", t->present, "material", t->type,
                     "sub_brand", t->sub_brand, "color", t->color, "remain", t->remain, "tray_uuid",
                     t->uuid, "tag_uid", t->tag_uid, "tray_id_name", t->id_name);
}

static bool color_matches(json_t *filament, const char *live)
{
    const char *one = json_string_value(json_object_get(filament, "color_hex"));
    const char *multi = json_string_value(json_object_get(filament, "multi_color_hexes"));
    if (!one && !multi)
        return true;  /* the spool says nothing about its colour */
    return pd_inv_filament_color_distance(one, multi, live) <= COLOR_MISMATCH_DE;
}

/* Adds live{…} and, when a spool is assigned and a spool is loaded, mismatch{material,color}. */
static void add_live(json_t *slot, const pd_tray *t)
{
    json_t *spool = json_object_get(slot, "spool");
    if (!t) {
        json_object_set_new(slot, "live", json_null());
        return;
    }
    json_object_set_new(slot, "live", live_json(t));
    if (!spool || !t->present)
        return;
    json_t *fil = json_object_get(spool, "filament");
    const char *material = json_string_value(json_object_get(fil, "material"));
    bool mat_bad = material && *t->type && strcasecmp(material, t->type);
    bool col_bad = *t->color && !color_matches(fil, t->color);
    json_object_set_new(slot, "mismatch", json_pack("{s:b,s:b}", "material", mat_bad, "color", col_bad));
}

static int64_t slot_int(json_t *s, const char *key)
{
    return json_integer_value(json_object_get(s, key));
}

/* The stored slots, sorted by printer, unit and slot (as pd_inv_slots_list returns them), and
 * the bare slots that live trays with nothing stored add. Each printer looks only at its own
 * run of stored slots, found by bisection: a farm's map costs slots × log(slots), not
 * printers × slots. */
typedef struct slot_merge {
    json_t *stored, *added;
} slot_merge;

static bool in_run(json_t *stored, size_t lo, size_t hi, int unit, int slot)
{
    for (size_t i = lo; i < hi; i++)
        if (slot_int(json_array_get(stored, i), "unit") == unit && slot_int(json_array_get(stored, i), "slot") == slot)
            return true;
    return false;
}

static void add_bare_slot(slot_merge *m, size_t lo, size_t hi, int64_t printer_id, int unit, int slot)
{
    if (!in_run(m->stored, lo, hi, unit, slot))
        json_array_append_new(m->added, json_pack("{s:I,s:i,s:i,s:b,s:{}}", "printer_id", (json_int_t)printer_id,
                                                  "unit", unit, "slot", slot, "external",
                                                  unit == PD_INV_EXTERNAL_UNIT, "reported"));
}

/* The printer's name and the live tray beside a slot of that printer. */
static void decorate(pd_printer *p, json_t *s)
{
    json_object_set_new(s, "printer", json_string(pd_printer_rec_get(p)->name));
    add_live(s, pd_track_tray(pd_printer_state(p), (int)slot_int(s, "unit"), (int)slot_int(s, "slot")));
}

/* Every slot the printer reports live joins the stored ones; then each gets its live tray. */
static void merge_printer(pd_printer *p, void *ud)
{
    slot_merge *m = ud;
    int64_t id = pd_printer_id(p);
    const pd_state *st = pd_printer_state(p);
    size_t n = json_array_size(m->stored), lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (slot_int(json_array_get(m->stored, mid), "printer_id") < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (hi = lo; hi < n && slot_int(json_array_get(m->stored, hi), "printer_id") == id;)
        hi++;
    size_t first_added = json_array_size(m->added);
    for (int i = 0; i < st->n_ams; i++)
        for (int k = 0; k < st->ams[i].n_trays; k++)
            add_bare_slot(m, lo, hi, id, st->ams[i].id, st->ams[i].trays[k].id);
    if (st->has_external)
        add_bare_slot(m, lo, hi, id, PD_INV_EXTERNAL_UNIT, 0);
    for (size_t i = lo; i < hi; i++)
        decorate(p, json_array_get(m->stored, i));
    for (size_t i = first_added; i < json_array_size(m->added); i++)
        decorate(p, json_array_get(m->added, i));
}

/* A slot's sort key, read out of its object once: a farm's map has tens of thousands. */
typedef struct slot_key {
    int64_t printer_id, unit, slot;
    json_t *j;
} slot_key;

static int slot_cmp(const void *a, const void *b)
{
    const slot_key *x = a, *y = b;
    if (x->printer_id != y->printer_id)
        return x->printer_id < y->printer_id ? -1 : 1;
    if (x->unit != y->unit)
        return x->unit < y->unit ? -1 : 1;
    return (x->slot > y->slot) - (x->slot < y->slot);
}

/* The slots sorted, those of printers `who` may not see left out. */
static json_t *sorted(json_t *slots, const pd_ident *who)
{
    size_t n = json_array_size(slots);
    slot_key *v = malloc((n ? n : 1) * sizeof *v);
    json_t *out = json_array();
    for (size_t i = 0; v && i < n; i++) {
        json_t *s = json_array_get(slots, i);
        v[i] = (slot_key){slot_int(s, "printer_id"), slot_int(s, "unit"), slot_int(s, "slot"), s};
    }
    if (v)
        qsort(v, n, sizeof *v, slot_cmp);
    for (size_t i = 0; v && i < n; i++)
        if (pd_auth_sees(who, v[i].printer_id))
            json_array_append(out, v[i].j);
    free(v);
    json_decref(slots);
    return out;
}


static void reply_slots(pd_req *r, pd_printer *one)
{
    pd_app *app = pd_req_app(r);
    json_t *slots = NULL;
    pd_err rc = pd_inv_slots_list(app->inv, one ? pd_printer_id(one) : 0, &slots);
    if (rc) {
        pd_req_reply_error(r, rc, "cannot read the slot map");
        return;
    }
    slot_merge m = {slots, json_array()};
    if (one)
        merge_printer(one, &m);
    else
        pd_fleet_foreach(app->fleet, merge_printer, &m);
    json_array_extend(slots, m.added);
    json_decref(m.added);
    pd_req_reply_json(r, 200, sorted(slots, pd_req_ident(r)));
}

static void ams_all(pd_req *r) { reply_slots(r, NULL); }

static void ams_printer(pd_req *r)
{
    pd_printer *p = pd_api_printer_of(r);
    if (p)
        reply_slots(r, p);
}

/* {unit}: a number or "external"; {slot}: a number (0 for the external holder). */
static bool slot_params(pd_req *r, int *unit, int *slot)
{
    const char *u = pd_req_param(r, "unit"), *s = pd_req_param(r, "slot");
    char *end;
    if (!strcmp(u, "external") || !strcmp(u, "ext")) {
        *unit = PD_INV_EXTERNAL_UNIT;
    } else {
        *unit = (int)strtol(u, &end, 10);
        if (!isdigit((unsigned char)*u) || *end) {
            pd_req_reply_field_error(r, "path", "unit", "an AMS unit number or \"external\" expected");
            return false;
        }
    }
    *slot = (int)strtol(s, &end, 10);
    if (!isdigit((unsigned char)*s) || *end) {
        pd_req_reply_field_error(r, "path", "slot", "a slot number expected");
        return false;
    }
    return true;
}

static void slot_reply(pd_req *r, pd_printer *p, pd_err rc, json_t *slot, const pd_inv_err *e)
{
    if (rc) {
        pd_api_inv_fail(r, e);
        return;
    }
    decorate(p, slot);
    pd_req_reply_json(r, 200, slot);
}

/* assign needs {"spool_id"}; unassign may come without a body. Both take "event_type". */
static void change_slot(pd_req *r, bool assign)
{
    pd_printer *p = pd_api_printer_of(r);
    int unit, slot;
    if (!p || !slot_params(r, &unit, &slot))
        return;
    size_t len;
    pd_req_body(r, &len);
    json_t *body = len || assign ? pd_req_json(r) : NULL;
    if ((len || assign) && !body)
        return;
    json_t *sid = json_object_get(body, "spool_id"), *et = json_object_get(body, "event_type");
    if (assign && !json_is_integer(sid)) {
        pd_req_reply_field_error(r, "body", "spool_id", "an integer spool id is required");
        return;
    }
    if (et && !json_is_string(et)) {
        pd_req_reply_field_error(r, "body", "event_type", "a string expected");
        return;
    }
    pd_inv *inv = ((pd_app *)pd_req_app(r))->inv;
    pd_inv_err e = {0};
    json_t *out = NULL;
    pd_err rc = assign ? pd_inv_slot_assign(inv, pd_printer_id(p), unit, slot, json_integer_value(sid),
                                            json_string_value(et), &out, &e)
                       : pd_inv_slot_unassign(inv, pd_printer_id(p), unit, slot, json_string_value(et),
                                              &out, &e);
    slot_reply(r, p, rc, out, &e);
}

static void assign(pd_req *r) { change_slot(r, true); }
static void unassign(pd_req *r) { change_slot(r, false); }

static bool count_param(pd_req *r, const char *name, int64_t dflt, int64_t *out)
{
    char buf[24];
    const char *v = pd_req_query(r, name, buf, sizeof buf);
    char *end;
    *out = v ? strtoll(v, &end, 10) : dflt;
    if (v && (!*v || *end || *out < 0)) {
        pd_req_reply_field_error(r, "query", name, "a non-negative integer expected");
        return false;
    }
    return true;
}

static void history(pd_req *r)
{
    pd_printer *p = pd_api_printer_of(r);
    int64_t limit, offset, total = 0;
    if (!p || !count_param(r, "limit", 100, &limit) || !count_param(r, "offset", 0, &offset))
        return;
    json_t *out = NULL;
    pd_err rc = pd_inv_slot_history(((pd_app *)pd_req_app(r))->inv, pd_printer_id(p), limit, offset,
                                    &out, &total);
    if (rc) {
        pd_req_reply_error(r, rc, "cannot read the slot history");
        return;
    }
    char t[24];
    snprintf(t, sizeof t, "%lld", (long long)total);
    pd_req_add_header(r, "x-total-count", t);
    pd_req_reply_json(r, 200, out);
}

const pd_route pd_api_ams_routes[] = {
    {"GET", "/api/v1/ams", ams_all, 0},
    {"GET", "/api/v1/printers/{id}/ams", ams_printer, 0},
    {"GET", "/api/v1/printers/{id}/ams/history", history, 0},
    {"POST", "/api/v1/printers/{id}/ams/{unit}/{slot}/assign", assign, 0},
    {"POST", "/api/v1/printers/{id}/ams/{unit}/{slot}/unassign", unassign, 0},
};
const size_t pd_api_ams_nroutes = sizeof pd_api_ams_routes / sizeof pd_api_ams_routes[0];
