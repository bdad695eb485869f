#include "printer/report.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Bounds on what one message may carry and what the merged object may grow to. Real
 * reports nest 7 deep and hold a few hundred values; AMS arrays hold at most 12 units. */
#define MERGE_MAX_DEPTH   16
#define MERGE_MAX_NODES   20000
#define MERGE_MAX_ITEMS   32    /* elements kept in an array merged by id */
#define MERGE_MAX_MEMBERS 512   /* members kept in one merged object */

static const char *const CATEGORIES[] = {
    "print", "pushing", "info", "system", "camera", "xcam", "upgrade", "mc_print", "security",
    "event",
};

/* Where in the print object a merge is; decides which arrays merge by id and which objects
 * are trays. */
typedef enum level { LV_PLAIN, LV_PRINT, LV_AMS, LV_UNIT, LV_TRAY } level;

/* jansson's iterators take non-const pointers; every use here only reads `in`. */
#define MUTABLE(v) ((json_t *)(uintptr_t)(v))

bool pd_report_number(const json_t *v, double *out)
{
    if (json_is_number(v)) {
        *out = json_number_value(v);
        return true;
    }
    const char *s = json_string_value(v);
    if (!s || !*s)
        return false;
    char *end;
    errno = 0;
    double d = strtod(s, &end);
    if (errno || *end || !isfinite(d))
        return false;
    *out = d;
    return true;
}

bool pd_report_hex(const json_t *v, uint64_t *out)
{
    const char *s = json_string_value(v);
    if (!s || !*s || strlen(s) > 16 || strspn(s, "0123456789abcdefABCDEF") != strlen(s))
        return false;
    *out = strtoull(s, NULL, 16);
    return true;
}

bool pd_report_id(const json_t *obj, long long *out)
{
    double d;
    /* ids are small; the range check keeps the conversion defined for hostile input */
    if (!json_is_object(obj) || !pd_report_number(json_object_get(obj, "id"), &d) ||
        d != floor(d) || d < -1e15 || d > 1e15)
        return false;
    *out = (long long)d;
    return true;
}

json_t *pd_report_find_id(const json_t *arr, long long id)
{
    size_t i;
    json_t *e;
    long long eid;
    json_array_foreach(arr, i, e)
        if (pd_report_id(e, &eid) && eid == id)
            return e;
    return NULL;
}

int pd_report_tray_bit(long long ams_id, long long slot)
{
    if (ams_id >= 0 && ams_id <= 3 && slot >= 0 && slot <= 3)
        return (int)(ams_id * 4 + slot);
    if (ams_id >= 128 && ams_id <= 135 && slot == 0)
        return (int)(16 + ams_id - 128);
    return -1;
}

pd_msg_kind pd_report_classify(const json_t *msg, const char **category, json_t **body)
{
    const char *cat = NULL;
    if (category)
        *category = NULL;
    if (body)
        *body = NULL;
    if (!json_is_object(msg))
        return PD_MSG_INVALID;
    /* signed requests carry "header"/"user_id" beside the category: ignore unknown keys,
     * but two categories in one message make it ambiguous */
    for (size_t i = 0; i < sizeof CATEGORIES / sizeof CATEGORIES[0]; i++) {
        if (!json_object_get(msg, CATEGORIES[i]))
            continue;
        if (cat)
            return PD_MSG_INVALID;
        cat = CATEGORIES[i];
    }
    json_t *b = cat ? json_object_get(msg, cat) : NULL;
    if (!json_is_object(b))
        return PD_MSG_INVALID;
    if (category)
        *category = cat;
    if (body)
        *body = b;

    const char *cmd = json_string_value(json_object_get(b, "command"));
    /* Older firmware answers get_version with result "success" (a1, a2l and p1p samples);
     * the modules are what matters, so this is a version reply, not a mere ack. */
    if (!strcmp(cat, "info") && cmd && !strcmp(cmd, "get_version") &&
        json_is_array(json_object_get(b, "module")))
        return PD_MSG_VERSION;
    if (json_object_get(b, "result"))
        return PD_MSG_ACK;
    if (strcmp(cat, "print") || (cmd && strcmp(cmd, "push_status")))
        return PD_MSG_OTHER;
    double m;
    const json_t *mv = json_object_get(b, "msg");
    if (mv)
        return pd_report_number(mv, &m) && m == 1 ? PD_MSG_DELTA : PD_MSG_FULL;
    /* No msg: a push_status without it is a full push (HA reads a missing msg as 0; H2D
     * captures). Without command either it is a bare fragment; merging it loses nothing,
     * treating it as a reset would throw the whole state away. */
    return cmd ? PD_MSG_FULL : PD_MSG_DELTA;
}

/* Refuses input too deep or too large before anything is touched. */
static pd_err check_shape(const json_t *v, int depth, size_t *nodes)
{
    if (++*nodes > MERGE_MAX_NODES)
        return PD_ERR_TOOBIG;
    if (depth > MERGE_MAX_DEPTH)
        return PD_ERR_PARSE;
    const char *key;
    size_t i;
    json_t *child;
    pd_err rc = PD_OK;
    if (json_is_object(v)) {
        json_object_foreach(MUTABLE(v), key, child)
            if ((rc = check_shape(child, depth + 1, nodes)))
                return rc;
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, child)
            if ((rc = check_shape(child, depth + 1, nodes)))
                return rc;
    }
    return rc;
}

/* An emptied slot keeps only its position and the printer's state word; what identified the
 * old spool (type, colour, RFID ids, remain) must not outlive the spool. */
static void tray_clear(json_t *tray)
{
    const char *key;
    void *tmp;
    json_t *v;
    json_object_foreach_safe(tray, tmp, key, v)
        if (strcmp(key, "id") && strcmp(key, "state"))
            json_object_del(tray, key);
}

static void tray_normalise(json_t *tray)
{
    const char *type = json_string_value(json_object_get(tray, "tray_type"));
    if (type && !*type)
        tray_clear(tray);
}

/* tray_exist_bits is the printer's truth about empty slots (docs/bambu-protocol.md §4.4):
 * bit ams_id*4+slot for AMS 0-3, 16+(id-128) for the single-slot AMS HT. Other unit ids
 * (A2L's 16) have no known bit and are left alone. All-zero bits while power_on_flag is false
 * are what a printer sends while shutting down, not an empty AMS. */
static void apply_exist_bits(json_t *ams)
{
    uint64_t bits;
    if (!pd_report_hex(json_object_get(ams, "tray_exist_bits"), &bits))
        return;
    if (!bits && !json_is_true(json_object_get(ams, "power_on_flag")))
        return;
    size_t i, j;
    json_t *unit, *tray;
    json_array_foreach(json_object_get(ams, "ams"), i, unit) {
        long long id, slot;
        if (!pd_report_id(unit, &id))
            continue;
        json_array_foreach(json_object_get(unit, "tray"), j, tray) {
            int bit = pd_report_id(tray, &slot) ? pd_report_tray_bit(id, slot) : -1;
            if (bit >= 0 && !(bits >> bit & 1))
                tray_clear(tray);
        }
    }
}

static pd_err merge_members(json_t *dst, const json_t *src, level lv);

/* Key names that are message envelope, not printer state. */
static bool envelope_key(const char *key)
{
    static const char *const keys[] = {"sequence_id", "command", "msg", "result", "reason"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (!strcmp(key, keys[i]))
            return true;
    return false;
}

/* The level of the object stored under key, inside an object at level lv. */
static level child_level(level lv, const char *key)
{
    if (lv == LV_PRINT && !strcmp(key, "ams"))
        return LV_AMS;
    if (lv == LV_PRINT && !strcmp(key, "vt_tray"))
        return LV_TRAY;
    return LV_PLAIN;
}

/* The element level of an array under key merged by id, or LV_PLAIN if it is replaced. */
static level id_array_level(level lv, const char *key)
{
    if (lv == LV_PRINT && !strcmp(key, "vir_slot"))
        return LV_TRAY;
    if (lv == LV_AMS && !strcmp(key, "ams"))
        return LV_UNIT;
    if (lv == LV_UNIT && !strcmp(key, "tray"))
        return LV_TRAY;
    return LV_PLAIN;
}

/* dst (an object, possibly empty) takes src's members, trays normalised. */
static pd_err merge_object_into(json_t *dst, const json_t *src, level lv)
{
    pd_err rc = merge_members(dst, src, lv);
    if (!rc && lv == LV_TRAY)
        tray_normalise(dst);
    return rc;
}

/* AMS units, their trays and the external holders come as arrays of objects keyed by "id",
 * and some firmware sends only the changed elements ({"id":"1","state":11} on H2D). Each
 * element is merged into the one with the same id; new ids are appended. */
static pd_err merge_by_id(json_t *dst, const json_t *src, level elem)
{
    size_t i;
    json_t *e;
    json_array_foreach(src, i, e) {
        long long id = 0;
        (void)pd_report_id(e, &id); /* merge_member sends only arrays whose elements all have one */
        json_t *d = pd_report_find_id(dst, id);
        pd_err rc;
        if (d) {
            rc = merge_object_into(d, e, elem);
        } else {
            if (json_array_size(dst) >= MERGE_MAX_ITEMS)
                continue;
            json_t *n = json_object();
            if (!n || json_array_append_new(dst, n))
                return PD_ERR_NOMEM;
            rc = merge_object_into(n, e, elem);
        }
        if (rc)
            return rc;
    }
    return PD_OK;
}

/* An empty array is the printer saying "none" (AMS unplugged), which only replacing says. */
static bool mergeable_by_id(const json_t *arr)
{
    size_t i;
    json_t *e;
    long long id;
    json_array_foreach(arr, i, e)
        if (!pd_report_id(e, &id))
            return false;
    return json_array_size(arr) > 0;
}

static json_t *copy_value(const json_t *v)
{
    /* scalars are never modified in place, so they can be shared */
    if (json_is_object(v) || json_is_array(v))
        return json_deep_copy(v);
    return json_incref(MUTABLE(v));
}

static pd_err merge_member(json_t *dst, const char *key, const json_t *sv, level lv)
{
    json_t *dv = json_object_get(dst, key);
    if (!dv && json_object_size(dst) >= MERGE_MAX_MEMBERS)
        return PD_OK;
    level elem = id_array_level(lv, key);
    if (json_is_object(sv) || (elem != LV_PLAIN && json_is_array(sv) && mergeable_by_id(sv))) {
        bool obj = json_is_object(sv);
        if (!dv || (obj ? !json_is_object(dv) : !json_is_array(dv))) {
            dv = obj ? json_object() : json_array();
            if (!dv || json_object_set_new(dst, key, dv))
                return PD_ERR_NOMEM;
        }
        return obj ? merge_object_into(dv, sv, child_level(lv, key)) : merge_by_id(dv, sv, elem);
    }
    json_t *copy = copy_value(sv);
    return copy && !json_object_set_new(dst, key, copy) ? PD_OK : PD_ERR_NOMEM;
}

static pd_err merge_members(json_t *dst, const json_t *src, level lv)
{
    const char *key;
    json_t *sv;
    json_object_foreach(MUTABLE(src), key, sv) {
        if (lv == LV_PRINT && envelope_key(key))
            continue;
        pd_err rc = merge_member(dst, key, sv, lv);
        if (rc)
            return rc;
    }
    /* After the units and trays of this message are in: a new tray_exist_bits applies to the
     * merged units, including ones this message did not mention. */
    if (lv == LV_AMS && json_object_get(src, "tray_exist_bits"))
        apply_exist_bits(dst);
    return PD_OK;
}

/* Only allocation failure can stop a merge once the input passed check_shape; the base is
 * then still a valid object holding part of the message, and the next full push resets it. */
pd_err pd_report_merge(json_t *base, const json_t *in, bool full)
{
    if (!json_is_object(base))
        return PD_ERR_INVAL;
    if (!json_is_object(in))
        return PD_ERR_PARSE;
    size_t nodes = 0;
    pd_err rc = check_shape(in, 1, &nodes);
    if (rc)
        return rc;
    if (!full)
        return merge_members(base, in, LV_PRINT);

    /* A full push is a merge into nothing: the same normalisation, then one swap. */
    json_t *fresh = json_object();
    if (!fresh)
        return PD_ERR_NOMEM;
    rc = merge_members(fresh, in, LV_PRINT);
    if (!rc) {
        json_object_clear(base);
        if (json_object_update(base, fresh))
            rc = PD_ERR_NOMEM;
    }
    json_decref(fresh);
    return rc;
}
