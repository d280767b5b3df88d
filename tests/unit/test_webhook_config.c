/* connectors.webhook in the configuration: both shapes (one instance, named
 * instances), the URL rules (https, http only for loopback), the checks on
 * kind and username, and that a webhook URL is treated as the secret it is:
 * listed by tw_config_foreach_secret() and never quoted in an error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "twitchd/config.h"
#include "twitchd/error.h"

#define TWITCH                                                                 \
  "connectors:\n"                                                              \
  "  twitch:\n"                                                                \
  "    client-id: abc\n"                                                       \
  "    channel: foo\n"                                                         \
  "    token-file: /tmp/twitchd-test-tokens.json\n"

static tw_config_t *load(const char *text, int want_rc) {
  tw_config_t *cfg = tw_config_new();
  assert_non_null(cfg);
  int rc = tw_config_load_buffer(cfg, "mem.yaml", text, strlen(text));
  if (rc != want_rc) {
    char buf[1024];
    for (size_t i = 0; i < tw_config_error_count(cfg); i++) {
      tw_config_diag_format(tw_config_error(cfg, i), buf, sizeof(buf));
      print_message("%s\n", buf);
    }
  }
  assert_int_equal(rc, want_rc);
  return cfg;
}

/* All errors, one per line, "line:col: message". */
static void errors_text(const tw_config_t *cfg, char *out, size_t cap) {
  size_t o = 0;
  out[0] = '\0';
  for (size_t i = 0; i < tw_config_error_count(cfg) && o < cap; i++) {
    const tw_config_diag_t *d = tw_config_error(cfg, i);
    o += (size_t)snprintf(out + o, cap - o, "%d:%d: %s\n", d->line, d->col,
                          d->message);
  }
}

static void expect_error(const char *yaml, const char *want) {
  tw_config_t *cfg = load(yaml, TW_ECONFIG);
  char all[4096];
  errors_text(cfg, all, sizeof(all));
  if (strstr(all, want) == NULL)
    fail_msg("expected an error containing\n  %s\ngot\n%s", want, all);
  tw_config_free(cfg);
}

static void test_single_form(void **state) {
  (void)state;
  tw_config_t *cfg = load(TWITCH "  webhook:\n"
                                 "    kind: discord\n"
                                 "    url: https://discord.com/api/webhooks/"
                                 "123/tok-abcdef?thread_id=9\n"
                                 "    username: Stream bot\n",
                          0);
  assert_int_equal(tw_config_webhook_count(cfg), 1);
  const tw_config_webhook_t *w = tw_config_webhook(cfg, 0);
  assert_non_null(w);
  assert_string_equal(w->name, "webhook");
  assert_int_equal(w->kind, TW_WEBHOOK_DISCORD);
  assert_string_equal(w->url.url,
                      "https://discord.com/api/webhooks/123/tok-abcdef"
                      "?thread_id=9");
  assert_string_equal(w->url.host, "discord.com");
  assert_int_equal(w->url.port, 443);
  assert_true(w->url.tls);
  assert_string_equal(w->username, "Stream bot");
  assert_int_equal(w->line, 6);
  assert_null(tw_config_webhook(cfg, 1));
  tw_config_free(cfg);
}

static void test_named_instances(void **state) {
  (void)state;
  tw_config_t *cfg =
      load(TWITCH "  webhook:\n"
                  "    discord:\n"
                  "      kind: discord\n"
                  "      url: https://discord.com/api/webhooks/1/aaaaaaaa\n"
                  "    team-slack:\n"
                  "      kind: slack\n"
                  "      url: https://hooks.slack.com/services/T0/B0/xxxxxxxx\n"
                  "    rocketchat:\n"
                  "      kind: rocketchat\n"
                  "      url: https://chat.example.org/hooks/id/token1234\n"
                  "      username: twitchd\n"
                  "    local:\n"
                  "      kind: slack\n"
                  "      url: http://127.0.0.1:8099/hook\n",
           0);
  assert_int_equal(tw_config_webhook_count(cfg), 4);
  const tw_config_webhook_t *w0 = tw_config_webhook(cfg, 0);
  const tw_config_webhook_t *w1 = tw_config_webhook(cfg, 1);
  const tw_config_webhook_t *w2 = tw_config_webhook(cfg, 2);
  const tw_config_webhook_t *w3 = tw_config_webhook(cfg, 3);
  assert_string_equal(w0->name, "discord");
  assert_int_equal(w0->kind, TW_WEBHOOK_DISCORD);
  assert_null(w0->username);
  assert_string_equal(w1->name, "team-slack");
  assert_int_equal(w1->kind, TW_WEBHOOK_SLACK);
  assert_string_equal(w2->name, "rocketchat");
  assert_int_equal(w2->kind, TW_WEBHOOK_ROCKETCHAT);
  assert_string_equal(w2->username, "twitchd");
  assert_string_equal(w3->name, "local");
  assert_false(w3->url.tls);
  assert_int_equal(w3->url.port, 8099);
  tw_config_free(cfg);
}

typedef struct {
  const char *v[8];
  size_t n;
} secrets_t;

static void collect(const char *s, void *arg) {
  secrets_t *acc = arg;
  assert_true(acc->n < 8);
  acc->v[acc->n++] = s;
}

/* A webhook URL is a credential: the runtime registers every one for
 * redaction through tw_config_foreach_secret(). */
static void test_urls_are_secrets(void **state) {
  (void)state;
  tw_config_t *cfg =
      load(TWITCH "  webhook:\n"
                  "    a: {kind: slack, url: 'https://h.example/one-1234'}\n"
                  "    b: {kind: slack, url: 'https://h.example/two-5678'}\n",
           0);
  secrets_t acc = {{0}, 0};
  tw_config_foreach_secret(cfg, collect, &acc);
  assert_int_equal(acc.n, 2);
  assert_string_equal(acc.v[0], "https://h.example/one-1234");
  assert_string_equal(acc.v[1], "https://h.example/two-5678");
  tw_config_free(cfg);
}

static void test_url_rules(void **state) {
  (void)state;
  expect_error(TWITCH "  webhook:\n"
                      "    kind: slack\n"
                      "    url: http://hooks.slack.com/services/x\n",
               "8:10: connectors.webhook.url: http:// is allowed only for a "
               "loopback host");
  expect_error(TWITCH "  webhook:\n"
                      "    kind: slack\n"
                      "    url: ftp://hooks.slack.com/services/x\n",
               "connectors.webhook.url: scheme 'ftp' is not allowed here");
  expect_error(TWITCH "  webhook:\n"
                      "    kind: slack\n",
               "missing required key 'url' in connectors.webhook");
  expect_error(TWITCH "  webhook:\n"
                      "    url: https://hooks.slack.com/services/x\n",
               "missing required key 'kind' in connectors.webhook");
}

/* Errors about a webhook URL never show it: it carries the token. */
static void test_url_never_quoted(void **state) {
  (void)state;
  const char *cases[] = {
      TWITCH "  webhook:\n"
             "    kind: discord\n"
             "    url: 'https://exa mple.com/SECRETTOKEN42'\n",
      TWITCH "  webhook:\n"
             "    kind: discord\n"
             "    url: 'https://example.com/SECRETTOKEN42#x'\n",
      TWITCH "  webhook:\n"
             "    kind: discord\n"
             "    url: {SECRETTOKEN42: 1}\n",
      TWITCH "  webhook:\n"
             "    d:\n"
             "      kind: discord\n"
             "      url: 'SECRETTOKEN42'\n",
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    tw_config_t *cfg = load(cases[i], TW_ECONFIG);
    char all[4096];
    errors_text(cfg, all, sizeof(all));
    assert_true(tw_config_error_count(cfg) >= 1);
    if (strstr(all, "SECRETTOKEN42") != NULL)
      fail_msg("case %zu shows the URL:\n%s", i, all);
    tw_config_free(cfg);
  }
}

static void test_kind_and_keys(void **state) {
  (void)state;
  expect_error(TWITCH "  webhook:\n"
                      "    kind: teams\n"
                      "    url: https://example.com/hook\n",
               "7:11: connectors.webhook.kind:");
  expect_error(TWITCH "  webhook:\n"
                      "    kind: teams\n"
                      "    url: https://example.com/hook\n",
               "discord, slack, rocketchat");
  /* A typo in the single form is a typo, not an instance name. */
  expect_error(TWITCH "  webhook:\n"
                      "    kind: slack\n"
                      "    URL: https://example.com/hook\n",
               "unknown key 'URL' in connectors.webhook (did you mean "
               "'url'?)");
  expect_error(TWITCH "  webhook:\n"
                      "    d:\n"
                      "      kind: slack\n"
                      "      url: https://example.com/hook\n"
                      "      channel: '#general'\n",
               "unknown key 'channel' in connectors.webhook.d");
  expect_error(TWITCH "  webhook: {}\n",
               "connectors.webhook: expected kind and url, or a map of named "
               "webhooks");
  expect_error(TWITCH "  webhook:\n", "connectors.webhook: expected kind");
}

static void test_names(void **state) {
  (void)state;
  expect_error(TWITCH "  webhook:\n"
                      "    twitch: {kind: slack, url: 'https://e.x/hook'}\n",
               "'twitch' names the Twitch connector");
  expect_error(TWITCH "  webhook:\n"
                      "    'my hook': {kind: slack, url: 'https://e.x/hook'}\n",
               "'my hook' is not a valid webhook name");
  char yaml[8192];
  size_t o = (size_t)snprintf(yaml, sizeof(yaml), "%s  webhook:\n", TWITCH);
  for (int i = 0; i <= TW_CONFIG_MAX_WEBHOOKS; i++)
    o += (size_t)snprintf(yaml + o, sizeof(yaml) - o,
                          "    h%d: {kind: slack, url: 'https://e.x/%d'}\n", i,
                          i);
  expect_error(yaml, "connectors.webhook: more than 16 webhooks");
}

static void test_username(void **state) {
  (void)state;
  expect_error(TWITCH "  webhook:\n"
                      "    kind: discord\n"
                      "    url: https://discord.com/api/webhooks/1/abc\n"
                      "    username: My Discord Bot\n",
               "9:15: connectors.webhook.username: Discord refuses webhook "
               "names that contain 'discord' or 'clyde'");
  expect_error(TWITCH "  webhook:\n"
                      "    d:\n"
                      "      kind: discord\n"
                      "      url: https://discord.com/api/webhooks/1/abc\n"
                      "      username: CLYDE\n",
               "connectors.webhook.d.username: Discord refuses");
  /* Other services have no such rule. */
  tw_config_t *cfg = load(TWITCH "  webhook:\n"
                                 "    kind: slack\n"
                                 "    url: https://hooks.slack.com/x/y/z\n"
                                 "    username: discord relay\n",
                          0);
  tw_config_free(cfg);

  char yaml[1024];
  char name[100];
  memset(name, 'n', 81);
  name[81] = '\0';
  snprintf(yaml, sizeof(yaml),
           TWITCH "  webhook:\n"
                  "    kind: slack\n"
                  "    url: https://hooks.slack.com/x/y/z\n"
                  "    username: %s\n",
           name);
  expect_error(yaml, "must be at most 80 characters");
  name[80] = '\0';
  snprintf(yaml, sizeof(yaml),
           TWITCH "  webhook:\n"
                  "    kind: slack\n"
                  "    url: https://hooks.slack.com/x/y/z\n"
                  "    username: %s\n",
           name);
  cfg = load(yaml, 0);
  tw_config_free(cfg);
  /* 80 characters of two bytes each is fine: characters, not bytes. */
  char wide[200];
  size_t w = 0;
  for (int i = 0; i < 80; i++) {
    wide[w++] = (char)0xc3;
    wide[w++] = (char)0xa9;
  }
  wide[w] = '\0';
  snprintf(yaml, sizeof(yaml),
           TWITCH "  webhook:\n"
                  "    kind: slack\n"
                  "    url: https://hooks.slack.com/x/y/z\n"
                  "    username: \"%s\"\n",
           wide);
  cfg = load(yaml, 0);
  tw_config_free(cfg);
}

/* No webhook section: nothing configured, and the twitch-only config still
 * loads as before. */
static void test_absent(void **state) {
  (void)state;
  tw_config_t *cfg = load(TWITCH, 0);
  assert_int_equal(tw_config_webhook_count(cfg), 0);
  assert_null(tw_config_webhook(cfg, 0));
  tw_config_free(cfg);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_single_form),
      cmocka_unit_test(test_named_instances),
      cmocka_unit_test(test_urls_are_secrets),
      cmocka_unit_test(test_url_rules),
      cmocka_unit_test(test_url_never_quoted),
      cmocka_unit_test(test_kind_and_keys),
      cmocka_unit_test(test_names),
      cmocka_unit_test(test_username),
      cmocka_unit_test(test_absent),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
