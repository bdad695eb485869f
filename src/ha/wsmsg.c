#include "ha/wsmsg.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *type;
    pd_ha_ws_kind kind;
} KINDS[] = {
    {"auth_required", PD_HA_WS_AUTH_REQUIRED}, {"auth_ok", PD_HA_WS_AUTH_OK},
    {"auth_invalid", PD_HA_WS_AUTH_INVALID},   {"result", PD_HA_WS_RESULT},
    {"event", PD_HA_WS_EVENT},                 {"pong", PD_HA_WS_PONG},
};

pd_err pd_ha_ws_parse(const char *text, size_t len, pd_ha_ws_msg *out)
{
    memset(out, 0, sizeof *out);
    out->id = -1;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    const char *type = json_string_value(json_object_get(root, "type"));
    if (!type) {
        json_decref(root);
        return PD_ERR_INVAL;
    }
    out->root = root;
    for (size_t i = 0; i < sizeof KINDS / sizeof *KINDS; i++)
        if (!strcmp(type, KINDS[i].type))
            out->kind = KINDS[i].kind;
    const json_t *id = json_object_get(root, "id");
    if (json_is_integer(id))
        out->id = json_integer_value(id);
    out->success = json_is_true(json_object_get(root, "success"));
    const char *why = out->kind == PD_HA_WS_AUTH_INVALID
                          ? json_string_value(json_object_get(root, "message"))
                          : json_string_value(json_object_get(json_object_get(root, "error"), "message"));
    snprintf(out->error, sizeof out->error, "%s", why ? why : "");
    out->event = json_object_get(root, "event");
    if (out->kind == PD_HA_WS_EVENT && !json_is_object(out->event))
        out->kind = PD_HA_WS_OTHER;
    return PD_OK;
}

void pd_ha_ws_msg_free(pd_ha_ws_msg *m)
{
    json_decref(m->root);
    m->root = NULL;
    m->event = NULL;
}

json_t *pd_ha_ws_cache_new(const char *const *ids, size_t n)
{
    json_t *c = json_object();
    for (size_t i = 0; c && i < n; i++)
        if (json_object_set_new(c, ids[i], json_null())) {
            json_decref(c);
            return NULL;
        }
    return c;
}

/* Sets the entity's state and the attributes given; true when anything differs. */
static bool entity_set(json_t *cache, const char *id, const json_t *s, const json_t *attrs, bool whole)
{
    json_t *e = json_object_get(cache, id);
    bool changed = false;
    if (!json_is_object(e)) {
        if (!(e = json_pack("{s:n,s:{}}", "s", "a")) || json_object_set_new(cache, id, e))
            return false;
        changed = true;
    }
    json_t *a = json_object_get(e, "a");
    if (json_is_string(s) && !json_equal(json_object_get(e, "s"), s)) {
        json_object_set(e, "s", (json_t *)s);
        changed = true;
    }
    if (whole && json_is_object(attrs) && !json_equal(a, attrs)) {
        json_object_set(e, "a", (json_t *)attrs);
        return true;
    }
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)attrs, k, v)
        if (!json_equal(json_object_get(a, k), v)) {
            json_object_set(a, k, v);
            changed = true;
        }
    return changed;
}

size_t pd_ha_ws_apply(json_t *cache, const json_t *event, void (*changed)(const char *id, void *ud),
                      void *ud)
{
    size_t n = 0;
    const char *id;
    json_t *v;
    /* additions: the present state and every attribute */
    json_object_foreach(json_object_get(event, "a"), id, v)
        if (json_object_get(cache, id) &&
            entity_set(cache, id, json_object_get(v, "s"), json_object_get(v, "a"), true)) {
            n++;
            changed(id, ud);
        }
    /* changes: "+" what is new, "-" the attributes gone */
    json_object_foreach(json_object_get(event, "c"), id, v) {
        if (!json_object_get(cache, id))
            continue;
        const json_t *plus = json_object_get(v, "+");
        bool diff = entity_set(cache, id, json_object_get(plus, "s"), json_object_get(plus, "a"), false);
        json_t *attrs = json_object_get(json_object_get(cache, id), "a");
        size_t i;
        json_t *gone;
        json_array_foreach(json_object_get(json_object_get(v, "-"), "a"), i, gone)
            if (json_is_string(gone) && !json_object_del(attrs, json_string_value(gone)))
                diff = true;
        if (diff) {
            n++;
            changed(id, ud);
        }
    }
    /* removals: the entity is gone, as if it had never had a state */
    size_t i;
    json_array_foreach(json_object_get(event, "r"), i, v) {
        const char *rid = json_string_value(v);
        json_t *e = rid ? json_object_get(cache, rid) : NULL;
        if (e && !json_is_null(e)) {
            json_object_set_new(cache, rid, json_null());
            n++;
            changed(rid, ud);
        }
    }
    return n;
}
