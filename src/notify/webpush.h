/* Web Push to the installed dashboard (docs/notify.md, "Web Push"): the cryptography, pure
 * (ece.c: base64url, P-256 keys, the VAPID JWT of RFC 8292, the payload encrypted per RFC 8291
 * with RFC 8188's aes128gcm), the browsers' subscriptions and the channel type whose targets
 * they are (webpush.c). */
#ifndef PD_WEBPUSH_H
#define PD_WEBPUSH_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "notify/notify.h"
#include "store/store.h"

#define PD_WP_PUB_LEN 65    /* an uncompressed P-256 point: 0x04, x, y */
#define PD_WP_PRIV_LEN 32
#define PD_WP_AUTH_LEN 16   /* the subscription's auth secret */
#define PD_WP_SALT_LEN 16
/* aes128gcm's header: salt, record size (4), key id length (1), key id (the sender's key) */
#define PD_WP_HEADER_LEN (PD_WP_SALT_LEN + 4 + 1 + PD_WP_PUB_LEN)
/* Push services need take no more than 4096 bytes of body (RFC 8030 §7.2, RFC 8291 §4): one
 * record of that size, its plaintext followed by the 0x02 delimiter and the 16-byte tag. */
#define PD_WP_RECORD 4096
#define PD_WP_PLAIN_MAX (PD_WP_RECORD - PD_WP_HEADER_LEN - 1 - 16)
#define PD_WP_BODY_MAX PD_WP_RECORD

/* --- base64url without padding (RFC 4648 §5), the encoding of every key on the wire ------- */
/* The text of n bytes into out (NUL-terminated); false when out is too small. */
bool pd_b64url_enc(const uint8_t *in, size_t n, char *out, size_t outlen);
/* Exactly `want` bytes from s (trailing '=' tolerated); false for anything else. */
bool pd_b64url_dec_exact(const char *s, uint8_t *out, size_t want);

/* --- ece.c ------------------------------------------------------------------------------ */
/* A new P-256 key pair. */
pd_err pd_wp_keygen(uint8_t priv[PD_WP_PRIV_LEN], uint8_t pub[PD_WP_PUB_LEN]);
/* Whether pub is an uncompressed point on P-256 (a browser's p256dh key). */
bool pd_wp_pub_valid(const uint8_t pub[PD_WP_PUB_LEN]);
/* The aes128gcm body for a subscription (ua_pub, auth) carrying plain: header and one record.
 * as_priv/as_pub (the sender's ephemeral key) and salt are fresh random ones when NULL; the
 * unit test passes RFC 8291's. out must hold PD_WP_HEADER_LEN + len + 17; TOOBIG past
 * PD_WP_PLAIN_MAX. */
pd_err pd_wp_encrypt(const uint8_t ua_pub[PD_WP_PUB_LEN], const uint8_t auth[PD_WP_AUTH_LEN], const uint8_t *plain,
                     size_t len, const uint8_t *as_priv, const uint8_t *as_pub, const uint8_t *salt, uint8_t *out,
                     size_t outlen, size_t *outn);
/* The Authorization header's value "vapid t=<JWT>, k=<public key>" (RFC 8292 §3): an ES256 JWT
 * of {aud, exp, sub} signed with the VAPID key. */
pd_err pd_wp_vapid(const uint8_t priv[PD_WP_PRIV_LEN], const uint8_t pub[PD_WP_PUB_LEN], const char *aud, int64_t exp,
                   const char *sub, char *out, size_t outlen);

/* --- webpush.c: subscriptions ------------------------------------------------------------- */
typedef struct pd_wp_sub {
    char endpoint[PD_NOTIFY_URL_MAX + 1];
    char p256dh[96];     /* base64url, as the browser gave it (padding dropped) */
    char auth[32];
} pd_wp_sub;

/* A browser's PushSubscription JSON ({endpoint, keys: {p256dh, auth}}, other members such as
 * expirationTime ignored) checked: an https endpoint (http only to a loopback host), a point
 * on P-256, a 16-byte auth secret. FIELD with the field's name and why otherwise. */
pd_err pd_wp_sub_parse(const json_t *body, pd_wp_sub *out, const char **field, char *why, size_t whylen);

/* The VAPID key (priv, pub: NULL when not wanted), made and stored (table setting, key
 * "webpush.vapid") the first time. */
pd_err pd_wp_key(pd_db *db, uint8_t priv[PD_WP_PRIV_LEN], uint8_t pub[PD_WP_PUB_LEN]);

/* The channel type "webpush", its functions for channels.c's table (pd_notify_type tells what
 * each does): a channel's one field is `subject`, the VAPID contact; its targets are the
 * subscriptions of those who may see the message's printer; 404 and 410 remove one. */
pd_err pd_wp_validate(const json_t *cfg, const char **field, char *why, size_t whylen);
pd_err pd_wp_build(const json_t *cfg, const pd_notify_msg *m, int64_t now_s, pd_notify_req *out);
pd_err pd_wp_targets(pd_db *db, const json_t *cfg, const pd_notify_msg *m, json_t **out);
void pd_wp_answered(pd_db *db, const json_t *cfg, long status);
extern const char *const pd_wp_secrets[];
/* The delivery configuration of one subscription (row id sub_id) of a webpush channel whose
 * own configuration is cfg: what pd_wp_type's build takes. NOTFOUND when there is no such row. */
pd_err pd_wp_target(pd_db *db, const json_t *cfg, int64_t sub_id, json_t **out);

#endif
