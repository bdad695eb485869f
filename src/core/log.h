/* Levelled logging to stderr, plain text or JSON lines. Loop thread and workers may log. */
#ifndef PD_LOG_H
#define PD_LOG_H

#include <stdbool.h>

typedef enum pd_log_level { PD_LOG_DEBUG, PD_LOG_INFO, PD_LOG_WARN, PD_LOG_ERROR } pd_log_level;

void pd_log_setup(pd_log_level min, bool json);
int pd_log_level_parse(const char *s, pd_log_level *out); /* 0 on success */
void pd_log(pd_log_level lvl, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define pd_debug(mod, ...) pd_log(PD_LOG_DEBUG, mod, __VA_ARGS__)
#define pd_info(mod, ...)  pd_log(PD_LOG_INFO, mod, __VA_ARGS__)
#define pd_warn(mod, ...)  pd_log(PD_LOG_WARN, mod, __VA_ARGS__)
#define pd_error(mod, ...) pd_log(PD_LOG_ERROR, mod, __VA_ARGS__)

#endif
