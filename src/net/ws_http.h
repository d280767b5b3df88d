/* Sans-IO pieces of the WebSocket opening handshake: HTTP head scanning,
 * header lookup, key generation and checks. Internal to the net layer (and
 * its tests). */
#ifndef TWITCHD_NET_WS_HTTP_H
#define TWITCHD_NET_WS_HTTP_H

#include <stddef.h>

/* Length of the head including its terminating blank line ("\r\n\r\n"), or 0
 * when `buf` does not hold a whole head yet. */
size_t tw__http_head_len(const char *buf, size_t len);

/* Finds the first header `name` (case-insensitive) in `head` (the whole head
 * including the start line). On success returns 1 and points *val and *vlen at
 * the value with surrounding blanks trimmed (borrowed from `head`). */
int tw__http_header(const char *head, size_t len, const char *name,
                    const char **val, size_t *vlen);

/* Non-zero when the comma-separated list `val` contains `token`
 * (case-insensitive), as Connection and Upgrade headers are compared. */
int tw__http_list_has(const char *val, size_t vlen, const char *token);

/* Parses "HTTP/1.x NNN ..." at the start of `head`. Returns the status
 * (100..599) or TW_EPROTO. */
int tw__http_status(const char *head, size_t len);

/* Splits "METHOD SP target SP HTTP/1.1" at the start of `head` into the
 * given buffers. Returns 0, TW_EPROTO (malformed, or not HTTP/1.1 or later)
 * or TW_ETOOBIG. */
int tw__http_request_line(const char *head, size_t len, char *method,
                          size_t mcap, char *target, size_t tcap);

/* A standard reason phrase for an HTTP status ("Not Found"). */
const char *tw__http_reason(int status);

/* Checks extra header lines given by a caller: each "Name: value\r\n", no
 * bare CR or LF, no control characters, no empty line. Returns 0 or
 * TW_EINVAL. */
int tw__http_check_header_lines(const char *lines);

/* Fills `key` (25 bytes) with a fresh random Sec-WebSocket-Key. Returns 0 or
 * TW_ETLS when the random generator fails. */
int tw__ws_new_key(char key[25]);

/* Non-zero when `val` (vlen bytes) is a valid Sec-WebSocket-Key: base64 of
 * exactly 16 bytes. */
int tw__ws_key_valid(const char *val, size_t vlen);

#endif
