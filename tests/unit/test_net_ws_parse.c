/* Tests for the sans-IO parts of the WebSocket handshake: URL parsing,
 * Sec-WebSocket-Accept, HTTP head scanning. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "twitchd/error.h"
#include "twitchd/ws.h"

#include "net/ws_http.h"

typedef struct {
  const char *url;
  int rc;
  int tls;
  const char *host;
  unsigned port;
  const char *path;
} url_case_t;

static void test_url_parse(void **state) {
  static const url_case_t cases[] = {
      {"wss://irc-ws.chat.twitch.tv:443", 0, 1, "irc-ws.chat.twitch.tv", 443,
       "/"},
      {"wss://eventsub.wss.twitch.tv/ws?keepalive_timeout_seconds=10", 0, 1,
       "eventsub.wss.twitch.tv", 443, "/ws?keepalive_timeout_seconds=10"},
      {"ws://irc-ws.chat.twitch.tv", 0, 0, "irc-ws.chat.twitch.tv", 80, "/"},
      {"WS://Localhost:8080/a/b", 0, 0, "Localhost", 8080, "/a/b"},
      {"ws://127.0.0.1:1/", 0, 0, "127.0.0.1", 1, "/"},
      {"wss://[::1]:9443/x", 0, 1, "::1", 9443, "/x"},
      {"wss://[::1]", 0, 1, "::1", 443, "/"},
      {"ws://h?q=1", 0, 0, "h", 80, "/?q=1"},
      {"ws://h:65535", 0, 0, "h", 65535, "/"},
      {"http://example.com/", TW_EINVAL, 0, NULL, 0, NULL},
      {"https://example.com/", TW_EINVAL, 0, NULL, 0, NULL},
      {"irc://example.com/", TW_EINVAL, 0, NULL, 0, NULL},
      {"ws:/example.com", TW_EINVAL, 0, NULL, 0, NULL},
      {"ws://", TW_EINVAL, 0, NULL, 0, NULL},
      {"ws://:80/", TW_EINVAL, 0, NULL, 0, NULL},
      {"ws://h:0/", TW_EINVAL, 0, NULL, 0, NULL},
      {"ws://h:65536/", TW_EINVAL, 0, NULL, 0, NULL},
      {"ws://h:/", TW_EINVAL, 0, NULL, 0, NULL},
      {"ws://h:8x/", TW_EINVAL, 0, NULL, 0, NULL},
      {"ws://h:-1/", TW_EINVAL, 0, NULL, 0, NULL},
      {"ws://h:+80/", TW_EINVAL, 0, NULL, 0, NULL},
      {"ws://user:pw@h/", TW_EINVAL, 0, NULL, 0, NULL},
      {"ws://h/#frag", TW_EINVAL, 0, NULL, 0, NULL},
      {"ws://h/a b", TW_EINVAL, 0, NULL, 0, NULL},
      {"ws://h/a\r\nX-Injected: 1", TW_EINVAL, 0, NULL, 0, NULL},
      {"ws://[::1/", TW_EINVAL, 0, NULL, 0, NULL},
      {"ws://[nothex]/", TW_EINVAL, 0, NULL, 0, NULL},
      {"ws://[::1]x/", TW_EINVAL, 0, NULL, 0, NULL},
      {"ws://ho st/", TW_EINVAL, 0, NULL, 0, NULL},
      {"", TW_EINVAL, 0, NULL, 0, NULL},
  };
  size_t i;
  (void)state;
  for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    tw_ws_url_t u;
    int rc = tw_ws_url_parse(cases[i].url, &u);
    if (rc != cases[i].rc)
      fail_msg("%s: expected %d, got %d", cases[i].url, cases[i].rc, rc);
    if (rc != 0)
      continue;
    assert_int_equal(u.tls, cases[i].tls);
    assert_string_equal(u.host, cases[i].host);
    assert_int_equal(u.port, cases[i].port);
    assert_string_equal(u.path, cases[i].path);
  }
  assert_int_equal(tw_ws_url_parse(NULL, NULL), TW_EINVAL);
}

static void test_url_caps(void **state) {
  char url[TW_MAX_WS_URL + 64];
  tw_ws_url_t u;
  size_t n;
  (void)state;
  /* Host one byte over TW_MAX_HOST. */
  memcpy(url, "ws://", 5);
  memset(url + 5, 'a', TW_MAX_HOST + 1);
  url[5 + TW_MAX_HOST + 1] = '\0';
  assert_int_equal(tw_ws_url_parse(url, &u), TW_ETOOBIG);
  /* Host exactly TW_MAX_HOST. */
  url[5 + TW_MAX_HOST] = '\0';
  assert_int_equal(tw_ws_url_parse(url, &u), 0);
  assert_int_equal(strlen(u.host), TW_MAX_HOST);
  /* URL over TW_MAX_WS_URL. */
  n = 7;
  memcpy(url, "ws://h/", n);
  memset(url + n, 'p', TW_MAX_WS_URL + 1 - n);
  url[TW_MAX_WS_URL + 1] = '\0';
  assert_int_equal(tw_ws_url_parse(url, &u), TW_ETOOBIG);
}

static void test_accept_key(void **state) {
  char out[29];
  (void)state;
  /* RFC 6455 section 1.3. */
  assert_int_equal(tw_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out), 0);
  assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  assert_int_equal(tw_ws_accept_key("", out), TW_EINVAL);
  assert_int_equal(tw_ws_accept_key(NULL, out), TW_EINVAL);
}

static void test_new_key(void **state) {
  char a[25], b[25];
  (void)state;
  assert_int_equal(tw__ws_new_key(a), 0);
  assert_int_equal(tw__ws_new_key(b), 0);
  assert_int_equal(strlen(a), 24);
  assert_true(tw__ws_key_valid(a, 24));
  assert_string_not_equal(a, b); /* random, 128 bits */
  assert_true(tw__ws_key_valid("dGhlIHNhbXBsZSBub25jZQ==", 24));
  assert_false(tw__ws_key_valid("dGhlIHNhbXBsZSBub25jZQ=", 23));
  assert_false(tw__ws_key_valid("dGhlIHNhbXBsZSBub25jZQ!!", 24));
  assert_false(tw__ws_key_valid("dGhlIHNhbXBsZSBub25j!Q==", 24));
  assert_false(tw__ws_key_valid("aGVsbG8gd29ybGQgaGVsbG8h", 24)); /* 18 B */
}

static void test_head(void **state) {
  const char *resp = "HTTP/1.1 101 Switching Protocols\r\n"
                     "upgrade:  WebSocket \r\n"
                     "Connection: keep-alive, Upgrade\r\n"
                     "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                     "\r\n"
                     "\x81\x02hi";
  size_t len = strlen(resp), hlen;
  const char *v;
  size_t vlen;
  (void)state;
  hlen = tw__http_head_len(resp, len);
  assert_int_equal(hlen, len - 4);
  assert_int_equal(tw__http_head_len(resp, hlen - 1), 0);
  assert_int_equal(tw__http_status(resp, hlen), 101);
  assert_true(tw__http_header(resp, hlen, "Upgrade", &v, &vlen));
  assert_int_equal(vlen, 9);
  assert_memory_equal(v, "WebSocket", 9);
  assert_true(tw__http_list_has(v, vlen, "websocket"));
  assert_true(tw__http_header(resp, hlen, "connection", &v, &vlen));
  assert_true(tw__http_list_has(v, vlen, "upgrade"));
  assert_false(tw__http_list_has(v, vlen, "upgr"));
  assert_false(tw__http_header(resp, hlen, "Location", &v, &vlen));
  /* The status line is not a header. */
  assert_false(tw__http_header(resp, hlen, "HTTP/1.1 101 Switching Protocols",
                               &v, &vlen));
  assert_int_equal(tw__http_status("HTTP/1.1 301 Moved\r\n", 20), 301);
  assert_int_equal(tw__http_status("HTTP/1.0 404\r\n", 14), 404);
  assert_int_equal(tw__http_status("HTTP/2 200 OK\r\n", 15), TW_EPROTO);
  assert_int_equal(tw__http_status("SSH-2.0-OpenSSH\r\n", 17), TW_EPROTO);
  assert_int_equal(tw__http_status("HTTP/1.1 99x\r\n", 14), TW_EPROTO);
  assert_int_equal(tw__http_status("HTTP/1.1 1011\r\n", 15), TW_EPROTO);
}

static void test_request_line(void **state) {
  char m[16], t[64];
  const char *ok = "GET /ws?a=1 HTTP/1.1\r\nHost: x\r\n\r\n";
  (void)state;
  assert_int_equal(
      tw__http_request_line(ok, strlen(ok), m, sizeof(m), t, sizeof(t)), 0);
  assert_string_equal(m, "GET");
  assert_string_equal(t, "/ws?a=1");
  assert_int_equal(tw__http_request_line("GET / HTTP/1.0\r\n", 16, m, sizeof(m),
                                         t, sizeof(t)),
                   TW_EPROTO);
  assert_int_equal(
      tw__http_request_line("GET /\r\n", 7, m, sizeof(m), t, sizeof(t)),
      TW_EPROTO);
  assert_int_equal(tw__http_request_line("GET  HTTP/1.1\r\n", 15, m, sizeof(m),
                                         t, sizeof(t)),
                   TW_EPROTO);
  assert_int_equal(tw__http_request_line(ok, strlen(ok), m, sizeof(m), t, 4),
                   TW_ETOOBIG);
}

static void test_header_lines(void **state) {
  (void)state;
  assert_int_equal(tw__http_check_header_lines(""), 0);
  assert_int_equal(tw__http_check_header_lines("Origin: https://x\r\n"), 0);
  assert_int_equal(
      tw__http_check_header_lines("A: 1\r\nSec-WebSocket-Protocol: irc\r\n"),
      0);
  assert_int_equal(tw__http_check_header_lines("A: 1"), TW_EINVAL);
  assert_int_equal(tw__http_check_header_lines("A: 1\n"), TW_EINVAL);
  assert_int_equal(tw__http_check_header_lines("A: 1\r\n\r\n"), TW_EINVAL);
  assert_int_equal(tw__http_check_header_lines("NoColon\r\n"), TW_EINVAL);
  assert_int_equal(tw__http_check_header_lines(": v\r\n"), TW_EINVAL);
  assert_int_equal(tw__http_check_header_lines("A: 1\rB: 2\r\n"), TW_EINVAL);
  assert_int_equal(tw__http_check_header_lines("A: \x01\r\n"), TW_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_url_parse),    cmocka_unit_test(test_url_caps),
      cmocka_unit_test(test_accept_key),   cmocka_unit_test(test_new_key),
      cmocka_unit_test(test_head),         cmocka_unit_test(test_request_line),
      cmocka_unit_test(test_header_lines),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
