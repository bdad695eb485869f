/* The channel type mqtt: each message, as the webhook's versioned JSON body, published at QoS 1
 * to a topic of the user's own broker, over the Home Assistant connection (ha/ha.c, its
 * sender). One optional field, `topic`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ha/ha.h"
#include "notify/notify.h"

#define DEFAULT_TOPIC "printdeck/notifications"

pd_err pd_notify_mqtt_validate(const json_t *cfg, const char **field, char *why, size_t whylen)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)cfg, key, v) {
        if (strcmp(key, "topic")) {
            *field = "body";
            snprintf(why, whylen, "%.64s: not a field of this channel type", key);
            return PD_ERR_FIELD;
        }
        *field = "topic";
        if (json_is_null(v))
            continue;
        if (!json_is_string(v)) {
            snprintf(why, whylen, "a string expected");
            return PD_ERR_FIELD;
        }
        if (pd_ha_check_topic(json_string_value(v), why, whylen))
            return PD_ERR_FIELD;
    }
    return PD_OK;
}

pd_err pd_notify_mqtt_build(const json_t *cfg, const pd_notify_msg *m, int64_t now_s, pd_notify_req *out)
{
    (void)now_s;
    const char *topic = json_string_value(json_object_get(cfg, "topic"));
    snprintf(out->url, sizeof out->url, "%s", topic ? topic : DEFAULT_TOPIC);
    if (!(out->body = pd_notify_webhook_body(m, &out->body_len)))
        return PD_ERR_NOMEM;
    return out->body_len > PD_NOTIFY_BODY_MAX ? PD_ERR_TOOBIG : PD_OK;
}
