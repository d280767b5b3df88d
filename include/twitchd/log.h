/* twitchd: logging with secret redaction.
 *
 * One process-wide logger (the daemon has one log). Lines go to a FILE* (stderr
 * by default) as text ("2026-11-25T21:30:00.123Z INFO  chat: joined #foo") or
 * as JSON lines ({"ts":"...","level":"info","module":"chat","msg":"..."}).
 *
 * Redaction: every string registered with tw_log_add_secret() is replaced by
 * "[REDACTED]" in every line written, wherever it appears (inside a URL, a
 * dumped request, a JSON value), before the line leaves the process. Secrets
 * shorter than TW_LOG_MIN_SECRET bytes are refused (they would redact ordinary
 * words). Redaction happens on the formatted line, so no call site can forget.
 */
#ifndef TWITCHD_LOG_H
#define TWITCHD_LOG_H

#include <stdarg.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TW_LOG_MAX_LINE 8192   /* longer messages are truncated, marked "..." */
#define TW_LOG_MAX_SECRETS 64  /* registered secrets at once */
#define TW_LOG_MIN_SECRET 6    /* shortest secret accepted, in bytes */
#define TW_LOG_MAX_SECRET 1024 /* longest secret accepted, in bytes */

typedef enum {
  TW_LOG_TRACE = 0,
  TW_LOG_DEBUG,
  TW_LOG_INFO,
  TW_LOG_WARN,
  TW_LOG_ERROR,
  TW_LOG_OFF
} tw_log_level_t;

typedef enum { TW_LOG_TEXT = 0, TW_LOG_JSON } tw_log_format_t;

/* Sets the minimum level written (default TW_LOG_INFO). */
void tw_log_set_level(tw_log_level_t level);
tw_log_level_t tw_log_get_level(void);
/* Sets the output format (default TW_LOG_TEXT). */
void tw_log_set_format(tw_log_format_t format);
/* Sets the output stream (borrowed; the caller keeps it open). NULL means
 * stderr. */
void tw_log_set_output(FILE *out);

/* Parses "trace", "debug", "info", "warn"/"warning", "error", "off"
 * (case-insensitive). Returns 0 or TW_EINVAL. */
int tw_log_level_parse(const char *s, tw_log_level_t *out);
/* Parses "text" or "json". Returns 0 or TW_EINVAL. */
int tw_log_format_parse(const char *s, tw_log_format_t *out);
const char *tw_log_level_name(tw_log_level_t level);

/* Registers a secret to redact (copied; the logger owns the copy until it is
 * removed). Also registers its URL-encoded forms (percent-encoded, hex digits
 * in either case, and form-encoded with '+' for space) and its JSON-escaped
 * forms (with and without "\/") when they differ. Registering a known secret
 * again is a no-op. Returns 0, TW_EINVAL (NULL, too short/long), TW_EFULL or
 * TW_ENOMEM. */
int tw_log_add_secret(const char *secret);
/* Forgets a secret (after a token rotation, say); frees the logger's copy.
 * Unknown secrets are ignored. */
void tw_log_remove_secret(const char *secret);
/* Forgets all secrets (tests). */
void tw_log_clear_secrets(void);

/* Copies `in` into `out` (capacity `cap`, always NUL-terminated) with every
 * registered secret replaced by "[REDACTED]". Returns the output length.
 * Both buffers are borrowed. When `out` is too small the copy stops at the
 * last whole piece that fits (a marker is never cut in half). */
size_t tw_log_redact(const char *in, char *out, size_t cap);

/* Writes one line at `level` for `module` (a short static name like "chat",
 * borrowed; at most 32 bytes are shown). Messages below the level are dropped
 * before formatting. Thread-safe: one mutex serialises lines. In text mode
 * control characters are shown as \n, \r, \xHH so that a message cannot
 * forge a line; in JSON mode the line is always valid JSON (bytes that are
 * not UTF-8 are written as \u00XX). */
void tw_log(tw_log_level_t level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void tw_logv(tw_log_level_t level, const char *module, const char *fmt,
             va_list ap) __attribute__((format(printf, 3, 0)));

#define tw_trace(mod, ...) tw_log(TW_LOG_TRACE, mod, __VA_ARGS__)
#define tw_debug(mod, ...) tw_log(TW_LOG_DEBUG, mod, __VA_ARGS__)
#define tw_info(mod, ...) tw_log(TW_LOG_INFO, mod, __VA_ARGS__)
#define tw_warn(mod, ...) tw_log(TW_LOG_WARN, mod, __VA_ARGS__)
#define tw_error(mod, ...) tw_log(TW_LOG_ERROR, mod, __VA_ARGS__)

#ifdef __cplusplus
}
#endif
#endif
