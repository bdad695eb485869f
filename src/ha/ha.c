/* The Home Assistant connection: one libmosquitto client to the user's broker on the loop
 * (core/mqttio.h, as the printers' links), its last will saying printdeck is offline, and
 * what it publishes. Events only mark what changed; a tick publishes the states that differ
 * from what was last published, each entity at most once per min_interval_ms, and at most
 * BUDGET messages a tick, so a farm's thousand reports a second cost a comparison each. */
#include <arpa/inet.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/mqttio.h"
#include "ha/ha.h"
#include "inventory/inventory.h"
#include "printer/printer.h"

#define TICK_MS 250
#define BUDGET 500               /* messages published per tick */
#define SLOT_READS 64            /* printers whose slots are read per tick */
#define RESYNC_MS 30000          /* slots read again: an assignment through the API says nothing on the bus */
#define CONNECT_TIMEOUT_MS 15000
#define MAX_SENDS 256            /* notifications waiting for their PUBACK */
#define KEEPALIVE_S 30

typedef struct ha_topic {        /* one state topic: what was published, what is due */
    char *sent, *want;
    uint64_t next_ms;            /* monotonic: not before */
    bool cfg;                    /* its entities' configs published in this session */
} ha_topic;

typedef struct ha_slot {
    int unit, slot;
    int64_t spool_id;
    ha_topic t;
} ha_slot;

typedef struct ha_printer {
    int64_t id;
    char serial[32], name[64], model[32];
    bool dirty, slots_dirty, prompt;
    ha_topic t;
    ha_slot *slots;
    size_t nslots;
} ha_printer;

typedef struct ha_spool {
    int64_t id;
    char name[200];
    ha_topic t;
} ha_spool;

typedef struct ha_send {
    uint64_t ticket;             /* 0: free */
    int mid;
    pd_notify_sent_cb done;
    void *ud;
} ha_send;

typedef struct ha_resolve {
    uv_getaddrinfo_t req;        /* first: the callback gets the request through it */
    pd_ha *ha;                   /* NULL once given up */
} ha_resolve;

enum ha_state { HA_DOWN, HA_RESOLVING, HA_CONNECTING, HA_UP };

struct pd_ha {
    uv_loop_t *loop;
    pd_bus *bus;
    pd_fleet *fleet;
    pd_inv *inv;
    const pd_config *cfg;
    int sub;
    uv_timer_t tick;
    bool tls;
    char host[256];
    int port;
    SSL_CTX *ssl;
    char avail[PD_HA_TOPIC_MAX], birth[PD_HA_TOPIC_MAX];
    struct mosquitto *mosq;
    pd_mqttio *io;
    ha_resolve *resolve;
    enum ha_state st;
    int refused;                 /* the CONNACK code of a refusal, 0 none */
    int backoff_ms;
    uint64_t next_attempt_ms, attempt_ms, next_resync_ms;
    char last_error[256];
    ha_printer **pr;             /* by id */
    size_t npr, cappr;
    ha_spool **sp;               /* by id */
    size_t nsp, capsp;
    int budget;                  /* left in this tick */
    ha_send sends[MAX_SENDS];
    uint64_t next_ticket;
};

/* --- the tables, by id ----------------------------------------------------------------------- */

/* The index of id in the sorted ids at stride `size`, or where it goes. */
static size_t find_pos(void *const *v, size_t n, int64_t id, int64_t (*key)(const void *), bool *found)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (key(v[mid]) < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < n && key(v[lo]) == id;
    return lo;
}

static int64_t printer_key(const void *p) { return ((const ha_printer *)p)->id; }
static int64_t spool_key(const void *s) { return ((const ha_spool *)s)->id; }

/* The entry with id, made (zeroed, size bytes) when create; NULL when absent or out of memory. */
static void *table_get(void ***v, size_t *n, size_t *cap, int64_t id, int64_t (*key)(const void *), size_t size,
                       bool create)
{
    bool found;
    size_t i = find_pos(*v, *n, id, key, &found);
    if (found || !create)
        return found ? (*v)[i] : NULL;
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        void **nv = realloc(*v, nc * sizeof *nv);
        if (!nv)
            return NULL;
        *v = nv;
        *cap = nc;
    }
    void *e = calloc(1, size);
    if (!e)
        return NULL;
    memmove(*v + i + 1, *v + i, (*n - i) * sizeof **v);
    (*v)[i] = e;
    (*n)++;
    *(int64_t *)e = id; /* id is each entry's first member */
    return e;
}

static void table_drop(void **v, size_t *n, int64_t id, int64_t (*key)(const void *))
{
    bool found;
    size_t i = find_pos(v, *n, id, key, &found);
    if (found) {
        memmove(v + i, v + i + 1, (*n - i - 1) * sizeof *v);
        (*n)--;
    }
}

static void topic_clear(ha_topic *t)
{
    free(t->sent);
    free(t->want);
    *t = (ha_topic){0};
}

static void printer_free(ha_printer *p)
{
    for (size_t i = 0; i < p->nslots; i++)
        topic_clear(&p->slots[i].t);
    free(p->slots);
    topic_clear(&p->t);
    free(p);
}

/* After a (re)connect or Home Assistant's birth: every config and state goes again. */
static void resend_all(pd_ha *ha)
{
    for (size_t i = 0; i < ha->npr; i++) {
        ha_printer *p = ha->pr[i];
        p->t.cfg = false;
        free(p->t.sent);
        p->t.sent = NULL;
        p->dirty = p->slots_dirty = true;
        for (size_t j = 0; j < p->nslots; j++) {
            p->slots[j].t.cfg = false;
            free(p->slots[j].t.sent);
            p->slots[j].t.sent = NULL;
        }
    }
    for (size_t i = 0; i < ha->nsp; i++) {
        ha->sp[i]->t.cfg = false;
        free(ha->sp[i]->t.sent);
        ha->sp[i]->t.sent = NULL;
    }
}

/* --- publishing -------------------------------------------------------------------------------- */

static bool up(const pd_ha *ha) { return ha->st == HA_UP && ha->mosq; }

static bool publish(pd_ha *ha, const char *topic, const char *payload, int qos, bool retain, int *mid)
{
    if (!up(ha))
        return false;
    ha->budget--;
    int rc = mosquitto_publish(ha->mosq, mid, topic, payload ? (int)strlen(payload) : 0, payload, qos, retain);
    if (rc != MOSQ_ERR_SUCCESS)
        pd_warn("homeassistant", "cannot publish to %s: %s", topic, mosquitto_strerror(rc));
    return rc == MOSQ_ERR_SUCCESS;
}

static void state_topic(const pd_ha *ha, char *out, size_t n, const char *kind, const char *id, const char *sub)
{
    snprintf(out, n, "%s/%s/%s%s%s", ha->cfg->ha_base_topic, kind, id, sub ? "/" : "", sub ? sub : "");
}

/* One entity's config, or its removal (an empty retained message) when e is NULL-named. */
static void publish_config(pd_ha *ha, const pd_ha_entity *e, const char *node, const char *st,
                           const pd_ha_device *dev, bool remove)
{
    char topic[PD_HA_TOPIC_MAX];
    if (pd_ha_config_topic(topic, sizeof topic, ha->cfg->ha_discovery_prefix, e->component, node, e->object))
        return;
    char *cfg = remove ? NULL : pd_ha_config_json(e, node, st, ha->avail, dev);
    if (remove || cfg)
        publish(ha, topic, cfg, 1, true, NULL);
    free(cfg);
}

/* Publishes t's due state at topic when it differs and its interval passed. */
static void publish_state(pd_ha *ha, ha_topic *t, const char *topic, uint64_t now)
{
    if (!t->want || (t->sent && !strcmp(t->sent, t->want)) || now < t->next_ms || ha->budget <= 0)
        return;
    if (!publish(ha, topic, t->want, 0, true, NULL))
        return;
    free(t->sent);
    t->sent = t->want;
    t->want = NULL;
    t->next_ms = now + (uint64_t)ha->cfg->ha_min_interval_ms;
}

static void printer_device(const ha_printer *p, char *node, size_t n, pd_ha_device *dev)
{
    snprintf(node, n, "printdeck_%s", p->serial);
    *dev = (pd_ha_device){node, p->name, p->model[0] ? p->model : "Bambu Lab printer", "Bambu Lab"};
}

static void slot_entity(const ha_slot *s, char *object, size_t on, char *name, size_t nn, pd_ha_entity *e)
{
    if (s->unit == PD_INV_EXTERNAL_UNIT) {
        snprintf(object, on, "external%d", s->slot);
        snprintf(name, nn, "External spool%s", s->slot ? " 2" : "");
    } else {
        snprintf(object, on, "ams%d_%d", s->unit, s->slot);
        snprintf(name, nn, "AMS %d slot %d", s->unit >= 128 ? s->unit - 127 : s->unit + 1, s->slot + 1);
    }
    *e = (pd_ha_entity){"sensor", object, name, "spool", NULL, NULL, NULL, "mdi:printer-3d-nozzle", true};
}

/* The printer's entities and its slots': announced, or removed. */
static void printer_configs(pd_ha *ha, ha_printer *p, bool remove)
{
    char node[64], st[PD_HA_TOPIC_MAX], object[32], name[48];
    pd_ha_device dev;
    printer_device(p, node, sizeof node, &dev);
    if (!p->t.cfg || remove) {
        state_topic(ha, st, sizeof st, "printer", p->serial, NULL);
        for (size_t i = 0; i < pd_ha_printer_nentities; i++)
            publish_config(ha, &pd_ha_printer_entities[i], node, st, &dev, remove);
        p->t.cfg = !remove;
        if (remove)
            publish(ha, st, NULL, 0, true, NULL);
    }
    for (size_t i = 0; i < p->nslots; i++) {
        ha_slot *s = &p->slots[i];
        if (s->t.cfg && !remove)
            continue;
        pd_ha_entity e;
        slot_entity(s, object, sizeof object, name, sizeof name, &e);
        state_topic(ha, st, sizeof st, "printer", p->serial, object);
        publish_config(ha, &e, node, st, &dev, remove);
        s->t.cfg = !remove;
        if (remove)
            publish(ha, st, NULL, 0, true, NULL);
    }
}

static const pd_ha_device inventory_device = {"printdeck_inventory", "printdeck inventory", "Filament inventory",
                                              "printdeck"};

static void spool_configs(pd_ha *ha, ha_spool *s, bool remove)
{
    char st[PD_HA_TOPIC_MAX], id[24], object[32], low_object[40], low_name[224];
    snprintf(id, sizeof id, "%lld", (long long)s->id);
    snprintf(object, sizeof object, "spool%lld", (long long)s->id);
    snprintf(low_object, sizeof low_object, "spool%lld_low", (long long)s->id);
    snprintf(low_name, sizeof low_name, "%s low stock", s->name);
    state_topic(ha, st, sizeof st, "spool", id, NULL);
    const pd_ha_entity weight = {"sensor", object, s->name, "remaining_g", "weight", "g", "measurement",
                                 "mdi:printer-3d-nozzle", true};
    const pd_ha_entity low = {"binary_sensor", low_object, low_name, "low", "problem", NULL, NULL, NULL, false};
    publish_config(ha, &weight, inventory_device.id, st, &inventory_device, remove);
    publish_config(ha, &low, inventory_device.id, st, &inventory_device, remove);
    s->t.cfg = !remove;
    if (remove)
        publish(ha, st, NULL, 0, true, NULL);
}

/* --- what changed ------------------------------------------------------------------------------- */

static ha_printer *printer_of(pd_ha *ha, pd_printer *pp, bool create)
{
    int64_t id = pd_printer_id(pp);
    ha_printer *p = table_get((void ***)&ha->pr, &ha->npr, &ha->cappr, id, printer_key, sizeof *p, create);
    if (p && create) {
        const pd_printer_rec *r = pd_printer_rec_get(pp);
        snprintf(p->serial, sizeof p->serial, "%s", r->serial);
        snprintf(p->name, sizeof p->name, "%s", r->name[0] ? r->name : r->serial);
        snprintf(p->model, sizeof p->model, "%s", pd_model_name(pd_printer_model(pp)));
        p->dirty = p->slots_dirty = true;
    }
    return p;
}

static void count_prompts(pd_ha *ha, ha_printer *p)
{
    int64_t n = 0;
    pd_sqlv v = PD_SQL_I(p->id);
    if (pd_db_scalar(ha->inv->db, "SELECT COUNT(*) FROM prompt WHERE printer_id = ? AND status = 'open'", &v, 1, &n))
        return;
    p->prompt = n > 0;
    p->dirty = true;
}

static void add_printer(pd_printer *pp, void *ud)
{
    pd_ha *ha = ud;
    ha_printer *p = printer_of(ha, pp, true);
    if (p)
        count_prompts(ha, p);
}

/* The spool object of the inventory (GET /spool/{id}) as its entities' due state. */
static void spool_set(pd_ha *ha, const json_t *o)
{
    int64_t id = json_integer_value(json_object_get(o, "id"));
    if (id <= 0)
        return;
    ha_spool *s = table_get((void ***)&ha->sp, &ha->nsp, &ha->capsp, id, spool_key, sizeof *s, false);
    if (json_is_true(json_object_get(o, "archived"))) {
        if (s) {
            spool_configs(ha, s, true);
            table_drop((void **)ha->sp, &ha->nsp, id, spool_key);
            topic_clear(&s->t);
            free(s);
        }
        return;
    }
    if (!s && !(s = table_get((void ***)&ha->sp, &ha->nsp, &ha->capsp, id, spool_key, sizeof *s, true)))
        return;
    char name[sizeof s->name];
    pd_ha_spool_name(o, name, sizeof name);
    if (strcmp(name, s->name)) {
        snprintf(s->name, sizeof s->name, "%s", name);
        s->t.cfg = false; /* the entities' names are in the config */
    }
    char *want = pd_ha_spool_state(o, ha->cfg->alert_low_stock_g);
    if (want) {
        free(s->t.want);
        s->t.want = want;
    }
}

static void spools_load(pd_ha *ha)
{
    pd_inv_list l = {0};
    pd_inv_err e;
    if (pd_inv_list_get(ha->inv, PD_INV_SPOOL, NULL, 0, &l, &e)) {
        pd_warn("homeassistant", "cannot read the spools: %s", e.msg);
        return;
    }
    size_t i;
    json_t *o;
    json_array_foreach(l.items, i, o)
        spool_set(ha, o);
    json_decref(l.items);
}

static void slots_dirty_for_spool(pd_ha *ha, int64_t spool_id)
{
    for (size_t i = 0; i < ha->npr; i++)
        for (size_t j = 0; j < ha->pr[i]->nslots; j++)
            if (ha->pr[i]->slots[j].spool_id == spool_id)
                ha->pr[i]->slots_dirty = true;
}

static void on_inventory(pd_ha *ha, const pd_event *ev)
{
    const char *res = ev->u.inv.resource;
    if (!strcmp(res, "spool")) {
        int64_t id = strtoll(ev->u.inv.key, NULL, 10);
        ha_spool *s = table_get((void ***)&ha->sp, &ha->nsp, &ha->capsp, id, spool_key, sizeof *s, false);
        if (!strcmp(ev->u.inv.change, "deleted")) {
            if (s) {
                spool_configs(ha, s, true);
                table_drop((void **)ha->sp, &ha->nsp, id, spool_key);
                topic_clear(&s->t);
                free(s);
            }
        } else {
            json_t *o = json_loadb(ev->u.inv.payload, ev->u.inv.payload_len, 0, NULL);
            if (o)
                spool_set(ha, o);
            json_decref(o);
        }
        slots_dirty_for_spool(ha, id);
    } else if (!strcmp(res, "filament") || !strcmp(res, "vendor")) {
        /* a name or a threshold of many spools: rare enough to read them all again */
        spools_load(ha);
        for (size_t i = 0; i < ha->npr; i++)
            ha->pr[i]->slots_dirty = true;
    }
}

static void on_bus(const pd_event *ev, void *ud)
{
    pd_ha *ha = ud;
    if (ev->type == PD_EV_INVENTORY) {
        on_inventory(ha, ev);
        return;
    }
    pd_printer *pp = ev->printer_id ? pd_fleet_find_id(ha->fleet, ev->printer_id) : NULL;
    ha_printer *p = table_get((void ***)&ha->pr, &ha->npr, &ha->cappr, ev->printer_id, printer_key, sizeof *p, false);
    switch (ev->type) {
    case PD_EV_PRINTER_ADDED:
        if (pp && !p)
            add_printer(pp, ha);
        break;
    case PD_EV_PRINTER_REMOVED:
        if (p) {
            printer_configs(ha, p, true);
            table_drop((void **)ha->pr, &ha->npr, p->id, printer_key);
            printer_free(p);
        }
        break;
    case PD_EV_PROMPT:
        if (p)
            count_prompts(ha, p);
        if (p)
            p->slots_dirty = true;
        break;
    case PD_EV_TRAY:
        if (p)
            p->slots_dirty = p->dirty = true;
        break;
    default:
        if (p)
            p->dirty = true;
        break;
    }
}

/* --- the tick: connection upkeep and due messages ------------------------------------------------ */

static void slot_rows(pd_ha *ha, ha_printer *p)
{
    json_t *rows = NULL;
    p->slots_dirty = false;
    if (pd_inv_slots_list(ha->inv, p->id, &rows))
        return;
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row) {
        int unit = (int)json_integer_value(json_object_get(row, "unit"));
        int slot = (int)json_integer_value(json_object_get(row, "slot"));
        ha_slot *s = NULL;
        for (size_t j = 0; j < p->nslots && !s; j++)
            if (p->slots[j].unit == unit && p->slots[j].slot == slot)
                s = &p->slots[j];
        if (!s) {
            ha_slot *ns = realloc(p->slots, (p->nslots + 1) * sizeof *ns);
            if (!ns)
                break;
            p->slots = ns;
            s = &p->slots[p->nslots++];
            *s = (ha_slot){.unit = unit, .slot = slot};
        }
        s->spool_id = json_integer_value(json_object_get(row, "spool_id"));
        char *want = pd_ha_slot_state(row);
        if (want) {
            free(s->t.want);
            s->t.want = want;
        }
    }
    json_decref(rows);
}

static void publish_due(pd_ha *ha, uint64_t now)
{
    int64_t now_s = pd_clock_wall_ms() / 1000;
    char st[PD_HA_TOPIC_MAX], object[32], name[48];
    int reads = 0;
    for (size_t i = 0; i < ha->npr && ha->budget > 0; i++) {
        ha_printer *p = ha->pr[i];
        if (p->slots_dirty && reads < SLOT_READS) {
            reads++;
            slot_rows(ha, p);
        }
        printer_configs(ha, p, false);
        if (p->dirty && now >= p->t.next_ms) {
            pd_printer *pp = pd_fleet_find_id(ha->fleet, p->id);
            char *want = pp ? pd_ha_printer_state(pd_printer_state(pp), pd_printer_online(pp), p->prompt, now_s) : NULL;
            if (want) {
                free(p->t.want);
                p->t.want = want;
                p->dirty = false;
            }
        }
        state_topic(ha, st, sizeof st, "printer", p->serial, NULL);
        publish_state(ha, &p->t, st, now);
        for (size_t j = 0; j < p->nslots; j++) {
            pd_ha_entity e;
            slot_entity(&p->slots[j], object, sizeof object, name, sizeof name, &e);
            state_topic(ha, st, sizeof st, "printer", p->serial, object);
            publish_state(ha, &p->slots[j].t, st, now);
        }
    }
    for (size_t i = 0; i < ha->nsp && ha->budget > 0; i++) {
        ha_spool *s = ha->sp[i];
        if (!s->t.cfg)
            spool_configs(ha, s, false);
        char id[24];
        snprintf(id, sizeof id, "%lld", (long long)s->id);
        state_topic(ha, st, sizeof st, "spool", id, NULL);
        publish_state(ha, &s->t, st, now);
    }
}

static void sends_fail(pd_ha *ha, const char *words)
{
    for (size_t i = 0; i < MAX_SENDS; i++) {
        ha_send *s = &ha->sends[i];
        if (!s->ticket)
            continue;
        s->ticket = 0;
        s->done(s->ud, false, words);
    }
}

static void drop_client(pd_ha *ha)
{
    if (ha->resolve) {
        ha->resolve->ha = NULL;
        uv_cancel((uv_req_t *)&ha->resolve->req);
        ha->resolve = NULL;
    }
    pd_mqttio_unwatch(&ha->io);
    if (ha->mosq) {
        mosquitto_destroy(ha->mosq);
        ha->mosq = NULL;
    }
}

static void ha_fail(pd_ha *ha, const char *fmt, const char *detail)
{
    char why[sizeof ha->last_error];
    snprintf(why, sizeof why, fmt, detail);
    drop_client(ha);
    if (ha->st == HA_UP || strcmp(why, ha->last_error))
        pd_warn("homeassistant", "broker %s:%d: %s", ha->host, ha->port, why);
    snprintf(ha->last_error, sizeof ha->last_error, "%s", why);
    ha->st = HA_DOWN;
    sends_fail(ha, why);
    int delay = ha->backoff_ms ? ha->backoff_ms : ha->cfg->reconnect_min_ms;
    ha->backoff_ms = delay * 2 > ha->cfg->reconnect_max_ms ? ha->cfg->reconnect_max_ms : delay * 2;
    ha->next_attempt_ms = uv_now(ha->loop) + (uint64_t)pd_mqttio_jitter(delay);
}

static void fail_rc(pd_ha *ha, int rc)
{
    ha_fail(ha, ha->st == HA_UP ? "connection lost: %s" : "cannot connect: %s",
            rc == MOSQ_ERR_ERRNO ? "connection refused or reset" : mosquitto_strerror(rc));
}

static void poll_cb(uv_poll_t *h, int status, int events);

static void watch(pd_ha *ha)
{
    if (pd_mqttio_watch(&ha->io, ha->loop, ha->mosq, poll_cb, ha))
        ha_fail(ha, "%s", "cannot watch the socket");
}

static void poll_cb(uv_poll_t *h, int status, int events)
{
    pd_ha *ha = h->data;
    if (!ha || !ha->mosq)
        return;
    if (status < 0) {
        ha_fail(ha, "socket error: %s", uv_strerror(status));
        return;
    }
    int rc = pd_mqttio_service(&ha->mosq, events, ha->st == HA_CONNECTING);
    if (rc != MOSQ_ERR_SUCCESS)
        fail_rc(ha, rc);
    else
        watch(ha);
}

static void on_connect(struct mosquitto *m, void *obj, int rc)
{
    pd_ha *ha = obj;
    if (rc) {
        /* from inside loop_read: the client is dropped on the loop, by the tick */
        ha->refused = rc;
        return;
    }
    ha->st = HA_UP;
    ha->backoff_ms = 0;
    ha->last_error[0] = '\0';
    pd_info("homeassistant", "connected to the broker %s:%d", ha->host, ha->port);
    mosquitto_subscribe(m, NULL, ha->birth, 1);
    mosquitto_publish(m, NULL, ha->avail, 6, "online", 1, true);
    resend_all(ha);
}

static void on_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg)
{
    (void)m;
    pd_ha *ha = obj;
    /* Home Assistant's birth message: it (re)started and reads the configs anew */
    if (!strcmp(msg->topic, ha->birth) && msg->payloadlen == 6 && !memcmp(msg->payload, "online", 6)) {
        pd_info("homeassistant", "Home Assistant came online: announcing every entity again");
        resend_all(ha);
    }
}

static void on_publish(struct mosquitto *m, void *obj, int mid)
{
    (void)m;
    pd_ha *ha = obj;
    for (size_t i = 0; i < MAX_SENDS; i++) {
        ha_send *s = &ha->sends[i];
        if (s->ticket && s->mid == mid) {
            s->ticket = 0;
            s->done(s->ud, true, "published (PUBACK)");
            return;
        }
    }
}

static void open_client(pd_ha *ha, const char *addr)
{
    ha->mosq = mosquitto_new(ha->cfg->ha_client_id, true, ha);
    if (!ha->mosq) {
        ha_fail(ha, "%s", "out of memory");
        return;
    }
    mosquitto_int_option(ha->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    mosquitto_connect_callback_set(ha->mosq, on_connect);
    mosquitto_message_callback_set(ha->mosq, on_message);
    mosquitto_publish_callback_set(ha->mosq, on_publish);
    mosquitto_will_set(ha->mosq, ha->avail, 7, "offline", 1, true);
    if (ha->cfg->ha_username[0])
        mosquitto_username_pw_set(ha->mosq, ha->cfg->ha_username, ha->cfg->ha_password);
    if (ha->ssl) {
        mosquitto_int_option(ha->mosq, MOSQ_OPT_SSL_CTX_WITH_DEFAULTS, 0);
        mosquitto_void_option(ha->mosq, MOSQ_OPT_SSL_CTX, ha->ssl);
        /* the context checks the broker's name; libmosquitto would check the numeric address */
        mosquitto_tls_insecure_set(ha->mosq, true);
    }
    int rc = mosquitto_connect_async(ha->mosq, addr, ha->port, KEEPALIVE_S);
    if (rc != MOSQ_ERR_SUCCESS) {
        fail_rc(ha, rc);
        return;
    }
    ha->st = HA_CONNECTING;
    watch(ha);
}

static void resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *ai)
{
    ha_resolve *r = (ha_resolve *)req;
    pd_ha *ha = r->ha;
    char addr[64] = "";
    if (ai && !status)
        uv_ip_name(ai->ai_addr, addr, sizeof addr);
    uv_freeaddrinfo(ai);
    free(r);
    if (!ha)
        return;
    ha->resolve = NULL;
    if (!addr[0])
        ha_fail(ha, "cannot resolve the host: %s", status ? uv_strerror(status) : "no address");
    else
        open_client(ha, addr);
}

/* An attempt starts with the name resolved in libuv's thread pool: the loop never waits on DNS. */
static void attempt(pd_ha *ha)
{
    ha->attempt_ms = uv_now(ha->loop);
    ha->refused = 0;
    ha_resolve *r = calloc(1, sizeof *r);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    if (!r) {
        ha_fail(ha, "%s", "out of memory");
        return;
    }
    r->ha = ha;
    ha->st = HA_RESOLVING;
    ha->resolve = r;
    int rc = uv_getaddrinfo(ha->loop, &r->req, resolved, ha->host, NULL, &hints);
    if (rc) {
        ha->resolve = NULL;
        free(r);
        ha_fail(ha, "cannot resolve the host: %s", uv_strerror(rc));
    }
}

static void on_tick(uv_timer_t *t)
{
    pd_ha *ha = t->data;
    uint64_t now = uv_now(ha->loop);
    switch (ha->st) {
    case HA_DOWN:
        if (now >= ha->next_attempt_ms)
            attempt(ha);
        return;
    case HA_RESOLVING:
    case HA_CONNECTING:
        if (ha->refused)
            ha_fail(ha, "the broker refused the connection: %s", mosquitto_connack_string(ha->refused));
        else if (now - ha->attempt_ms > CONNECT_TIMEOUT_MS)
            ha_fail(ha, "%s", "connecting timed out");
        return;
    case HA_UP:
        break;
    }
    int rc = mosquitto_loop_misc(ha->mosq);
    if (rc != MOSQ_ERR_SUCCESS) {
        fail_rc(ha, rc);
        return;
    }
    if (now >= ha->next_resync_ms) {
        ha->next_resync_ms = now + RESYNC_MS;
        for (size_t i = 0; i < ha->npr; i++)
            ha->pr[i]->slots_dirty = true;
    }
    ha->budget = BUDGET;
    publish_due(ha, now);
    if (ha->mosq)
        watch(ha);
}

/* --- the notification sender ---------------------------------------------------------------------- */

static pd_err send_msg(void *ctx, const char *dest, const char *body, size_t len, pd_notify_sent_cb done, void *ud,
                       uint64_t *ticket)
{
    pd_ha *ha = ctx;
    if (!up(ha))
        return PD_ERR_OFFLINE;
    ha_send *s = NULL;
    for (size_t i = 0; i < MAX_SENDS && !s; i++)
        if (!ha->sends[i].ticket)
            s = &ha->sends[i];
    if (!s)
        return PD_ERR_BUSY;
    int mid = 0;
    if (mosquitto_publish(ha->mosq, &mid, dest, (int)len, body, 1, false) != MOSQ_ERR_SUCCESS)
        return PD_ERR_OFFLINE;
    *s = (ha_send){.ticket = ++ha->next_ticket, .mid = mid, .done = done, .ud = ud};
    *ticket = s->ticket;
    watch(ha);
    return PD_OK;
}

static void send_cancel(void *ctx, uint64_t ticket)
{
    pd_ha *ha = ctx;
    for (size_t i = 0; i < MAX_SENDS; i++)
        if (ha->sends[i].ticket == ticket)
            ha->sends[i].ticket = 0;
}

const pd_notify_sender pd_ha_sender = {send_msg, send_cancel};

/* --- start, stop ------------------------------------------------------------------------------------ */

static SSL_CTX *tls_ctx(const char *host)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx)
        return NULL;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (SSL_CTX_set_default_verify_paths(ctx) != 1 ||
        X509_VERIFY_PARAM_set1_host(SSL_CTX_get0_param(ctx), host, 0) != 1) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    return ctx;
}

pd_err pd_ha_start(pd_ha **out, uv_loop_t *loop, pd_bus *bus, pd_fleet *fleet, pd_inv *inv, const pd_config *cfg)
{
    *out = NULL;
    if (!cfg->ha_url[0])
        return PD_OK;
    pd_ha *ha = calloc(1, sizeof *ha);
    if (!ha)
        return PD_ERR_NOMEM;
    *ha = (pd_ha){.loop = loop, .bus = bus, .fleet = fleet, .inv = inv, .cfg = cfg};
    if (pd_ha_parse_url(cfg->ha_url, &ha->tls, ha->host, sizeof ha->host, &ha->port) ||
        (ha->tls && !(ha->ssl = tls_ctx(ha->host)))) {
        free(ha);
        return PD_ERR_INVAL;
    }
    snprintf(ha->avail, sizeof ha->avail, "%s/status", cfg->ha_base_topic);
    snprintf(ha->birth, sizeof ha->birth, "%s/status", cfg->ha_discovery_prefix);
    pd_fleet_foreach(fleet, add_printer, ha);
    spools_load(ha);
    ha->sub = pd_bus_subscribe(bus, PD_EV_PRINTER_ADDED | PD_EV_PRINTER_REMOVED | PD_EV_STATE | PD_EV_ONLINE |
                                        PD_EV_OFFLINE | PD_EV_TRAY | PD_EV_INVENTORY | PD_EV_PROMPT,
                               on_bus, ha);
    if (!ha->sub) {
        pd_ha_stop(&ha);
        return PD_ERR_INTERNAL;
    }
    uv_timer_init(loop, &ha->tick);
    ha->tick.data = ha;
    uv_timer_start(&ha->tick, on_tick, 0, TICK_MS);
    pd_info("homeassistant", "publishing to %s (discovery prefix %s, base topic %s)", cfg->ha_url,
            cfg->ha_discovery_prefix, cfg->ha_base_topic);
    *out = ha;
    return PD_OK;
}

static void tick_closed(uv_handle_t *h) { free(h->data); }

void pd_ha_stop(pd_ha **hp)
{
    pd_ha *ha = *hp;
    if (!ha)
        return;
    *hp = NULL;
    if (ha->sub)
        pd_bus_unsubscribe(ha->bus, ha->sub);
    if (up(ha)) {
        /* a clean leave sends no will: say offline ourselves */
        mosquitto_publish(ha->mosq, NULL, ha->avail, 7, "offline", 1, true);
        mosquitto_disconnect(ha->mosq);
        mosquitto_loop_write(ha->mosq, 1);
    }
    sends_fail(ha, "stopping");
    drop_client(ha);
    for (size_t i = 0; i < ha->npr; i++)
        printer_free(ha->pr[i]);
    for (size_t i = 0; i < ha->nsp; i++) {
        topic_clear(&ha->sp[i]->t);
        free(ha->sp[i]);
    }
    free(ha->pr);
    free(ha->sp);
    SSL_CTX_free(ha->ssl);
    if (ha->tick.data) {
        uv_timer_stop(&ha->tick);
        uv_close((uv_handle_t *)&ha->tick, tick_closed);
    } else {
        free(ha);
    }
}
