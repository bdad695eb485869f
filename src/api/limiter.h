/* A bounded table of recent attempts per key (a client address, an account name), for the
 * login rate limit (docs/accounts.md). Pure: time comes from the caller, so it is unit-tested
 * without waiting. A full table forgets the key least recently seen, so memory never grows
 * with the number of addresses an attacker can use. */
#ifndef PD_LIMITER_H
#define PD_LIMITER_H

#include <stddef.h>
#include <stdint.h>

#define PD_LIMITER_SLOTS 1024
#define PD_LIMITER_KEY 96

typedef struct pd_limiter {
    int max;            /* attempts a key may make per window */
    int64_t window_ms;  /* the window starts at a key's first attempt */
    size_t n;
    struct {
        char key[PD_LIMITER_KEY];
        int count;
        int64_t start_ms, last_ms;
    } v[PD_LIMITER_SLOTS];
} pd_limiter;

void pd_limiter_init(pd_limiter *l, int max, int64_t window_ms);
/* 0 when `key` may make an attempt now, else the milliseconds until it may. Keys longer than
 * PD_LIMITER_KEY - 1 are cut (an address or a bounded name fits). */
int64_t pd_limiter_wait(const pd_limiter *l, const char *key, int64_t now_ms);
/* Counts an attempt by key. */
void pd_limiter_hit(pd_limiter *l, const char *key, int64_t now_ms);
/* Forgets key (a successful sign-in). */
void pd_limiter_clear(pd_limiter *l, const char *key);

#endif
