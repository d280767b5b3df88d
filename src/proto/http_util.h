/* twitchd: helpers shared by the OAuth and Helix codecs (private to
 * src/proto).
 *
 * URL and form encoding, the query-string decoder, checked JSON member
 * access and the sanitiser for server-provided error text. Everything here is
 * sans-IO and allocation is explicit.
 */
#ifndef TWITCHD_PROTO_HTTP_UTIL_H
#define TWITCHD_PROTO_HTTP_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "twitchd/buf.h"

/* Percent-encodes `len` bytes of `s` onto `out`. Unreserved characters
 * (RFC 3986: ALPHA DIGIT - . _ ~) are kept, everything else becomes %XX with
 * upper-case hex digits. With `space_plus` a space becomes '+', as
 * application/x-www-form-urlencoded writes it; without, "%20", which reads
 * the same whether or not the server treats '+' as a space. Returns 0,
 * TW_ETOOBIG or TW_ENOMEM; on failure `out` may hold a partial append (the
 * callers roll back with tw__buf_truncate()). */
int tw__url_encode(tw_buf_t *out, const char *s, size_t len, bool space_plus);

/* Appends "key=value" (value encoded, '&' first unless `*first`), then
 * clears *first. */
int tw__form_add(tw_buf_t *out, bool *first, const char *key, const char *value,
                 bool space_plus);

/* Cuts `b` back to `len` bytes (the length it had before a failed build). */
void tw__buf_truncate(tw_buf_t *b, size_t len);

/* Decodes one percent-encoded component of `len` bytes into a new
 * NUL-terminated string (*out, malloc'ed; caller frees). With `plus_space`
 * '+' decodes to a space. Returns TW_EPARSE for a malformed escape or a
 * decoded NUL byte (it would cut the C string short), TW_ENOMEM. */
int tw__url_decode(const char *in, size_t len, bool plus_space, char **out);

/* True when `s` is 1..max bytes of visible ASCII (0x21..0x7e): the shape of
 * every Twitch token, client id, code and scope. Used to refuse values that
 * would break a header or a form. */
bool tw__is_visible_ascii(const char *s, size_t max);

/* True when `s` is 1..max ASCII digits: a Twitch user or broadcaster id. */
bool tw__is_numeric_id(const char *s, size_t max);

/* Number of Unicode code points in a valid UTF-8 string of `len` bytes, or
 * SIZE_MAX when it is not valid UTF-8. */
size_t tw__utf8_count(const char *s, size_t len);

/* Copies server-provided text into dst (capacity cap, always
 * NUL-terminated) for people to read: control characters become '?', and a
 * cut never splits a UTF-8 sequence. */
void tw__sanitize(char *dst, size_t cap, const char *src, size_t len);

/* Case-insensitive ASCII equality of a counted string with a C string. */
bool tw__ieq(const char *a, size_t alen, const char *b);

/* Parses a JSON body with the settings every decoder uses (duplicate keys
 * rejected: two values for one field is an ambiguity, not data). Returns
 * NULL when the bytes are not one JSON value. */
json_t *tw__json_parse(const char *body, size_t len);

/* Reads the string member `key` of object `obj`.
 *   absent or null: *out = NULL, returns 0 unless `required` (TW_EPARSE);
 *   present: must be a string of at most `cap` bytes without NUL bytes,
 *   else TW_EPARSE. *out is borrowed from the JSON tree. */
int tw__json_str(const json_t *obj, const char *key, size_t cap, bool required,
                 const char **out);

/* The same, copied into a new string (*out malloc'ed, caller frees; NULL
 * when absent). */
int tw__json_strdup(const json_t *obj, const char *key, size_t cap,
                    bool required, char **out);

/* Reads an integer member. Absent or null: *present = false (TW_EPARSE if
 * required). Present: must be an integer (a real with no fraction is
 * accepted) within [min, max], else TW_EPARSE. */
int tw__json_int(const json_t *obj, const char *key, int64_t min, int64_t max,
                 bool required, int64_t *out, bool *present);

/* Frees a string that may hold a secret, overwriting it first. */
void tw__free_secret(char *s);

#endif
