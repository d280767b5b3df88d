/* Configuration values: what a valid file turns into (the seed's block, every
 * default, both skill forms, the generic option tree, secrets), and the
 * loader's API contract (buffers, caps, error list, states). The error
 * messages and positions themselves are covered table-driven by
 * test_config_fixtures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <math.h>

#include <cmocka.h>

#include "twitchd/config.h"
#include "twitchd/error.h"
#include "twitchd/log.h"

static char fixture_dir[1024];

static const char *fx(const char *name) {
  static char path[2048];
  snprintf(path, sizeof(path), "%s/%s", fixture_dir, name);
  return path;
}

static tw_config_t *load_ok(const char *name) {
  tw_config_t *cfg = tw_config_new();
  assert_non_null(cfg);
  int rc = tw_config_load_file(cfg, fx(name));
  if (rc != 0) {
    char buf[1024];
    for (size_t i = 0; i < tw_config_error_count(cfg); i++) {
      tw_config_diag_format(tw_config_error(cfg, i), buf, sizeof(buf));
      print_message("%s\n", buf);
    }
  }
  assert_int_equal(rc, 0);
  return cfg;
}

static tw_config_t *load_buf(const char *text, int want_rc) {
  tw_config_t *cfg = tw_config_new();
  assert_non_null(cfg);
  assert_int_equal(tw_config_load_buffer(cfg, "mem.yaml", text, strlen(text)),
                   want_rc);
  return cfg;
}

static void expect_url(const tw_config_url_t *u, const char *scheme,
                       const char *host, int port, const char *path, bool tls) {
  assert_non_null(u->url);
  assert_string_equal(u->scheme, scheme);
  assert_string_equal(u->host, host);
  assert_int_equal(u->port, port);
  assert_string_equal(u->path, path);
  assert_int_equal(u->tls, tls);
}

typedef struct {
  const char *v[8];
  size_t n;
} secrets_t;

static void collect_secret(const char *s, void *arg) {
  secrets_t *acc = arg;
  assert_true(acc->n < 8);
  acc->v[acc->n++] = s;
}

/* The seed's block, verbatim, with the seed's values. */
static void test_seed_values(void **state) {
  (void)state;
  tw_config_t *cfg = load_ok("good/seed.yaml");
  const tw_config_twitch_t *t = tw_config_twitch(cfg);
  assert_non_null(t);
  assert_string_equal(t->code, "hfu923hfks02nd2821jfislf");
  assert_string_equal(t->client_id, "e0asdj48jfkspod0284");
  assert_string_equal(t->client_secret, "kdksd0458j93847j");
  assert_int_equal(t->channel_count, 1);
  assert_string_equal(t->channels[0], "theflyingdev");
  expect_url(&t->redirect, "http", "localhost", 80, "/", false);
  assert_string_equal(t->redirect.url, "http://localhost");
  expect_url(&t->forward_url, "http", "94jfsd9ff.ngrok.io", 80, "/", false);
  assert_true(t->has_webhook_lease_seconds);
  assert_int_equal(t->webhook_lease_seconds, 86400);
  assert_false(t->always_listening);
  assert_int_equal(tw_config_skill_count(cfg), 0);

  /* Two notes, each logged once by the runtime: the lease is meaningless
   * today, and forward-url is not usable for EventSub webhooks as given. */
  assert_int_equal(tw_config_note_count(cfg), 2);
  const tw_config_diag_t *n0 = tw_config_note(cfg, 0);
  const tw_config_diag_t *n1 = tw_config_note(cfg, 1);
  assert_int_equal(n0->line, 9);
  assert_int_equal(n0->col, 18);
  assert_non_null(strstr(n0->message, "forward-url"));
  assert_int_equal(n1->line, 11);
  assert_int_equal(n1->col, 5);
  assert_non_null(strstr(n1->message, "webhook-lease-seconds: has no effect"));
  assert_non_null(strstr(n1->message, "EventSub"));

  secrets_t s = {{0}, 0};
  tw_config_foreach_secret(cfg, collect_secret, &s);
  assert_int_equal(s.n, 2);
  bool code = false, secret = false;
  for (size_t i = 0; i < s.n; i++) {
    code |= strcmp(s.v[i], "hfu923hfks02nd2821jfislf") == 0;
    secret |= strcmp(s.v[i], "kdksd0458j93847j") == 0;
  }
  assert_true(code && secret);
  tw_config_free(cfg);
}

/* Reads a whole file into a malloc'ed string (NULL when absent). */
static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    return NULL;
  char *buf = malloc(1 << 20);
  size_t n = fread(buf, 1, (1 << 20) - 1, f);
  buf[n] = '\0';
  fclose(f);
  return buf;
}

/* The fixtures hold the seed's blocks byte for byte: checked against the
 * seed itself when the shared folder is there (it is beside the repo). */
static void test_seed_fixture_is_verbatim(void **state) {
  (void)state;
  char path[2048];
  snprintf(path, sizeof(path),
           "%s/../../../../shared/seed/twitch-connector.txt", fixture_dir);
  char *seed = slurp(path);
  if (seed == NULL) {
    print_message("seed text not found at %s; skipping\n", path);
    skip();
  }
  char *block = slurp(fx("good/seed.yaml"));
  assert_non_null(block);
  assert_non_null(strstr(seed, block));
  free(block);
  /* the skills block of seed-skills.yaml */
  char *both = slurp(fx("good/seed-skills.yaml"));
  const char *skills = strstr(both, "skills:\n");
  assert_non_null(skills);
  assert_non_null(strstr(seed, skills));
  free(both);
  free(seed);
}

/* Only client-id and channel given: every other key takes its default. */
static void test_defaults(void **state) {
  (void)state;
  tw_config_t *cfg = load_ok("good/minimal.yaml");
  const tw_config_twitch_t *t = tw_config_twitch(cfg);
  assert_string_equal(t->client_id, "abc123");
  assert_null(t->code);
  assert_null(t->client_secret);
  assert_string_equal(t->redirect.url, "http://localhost");
  assert_null(t->forward_url.url);
  assert_false(t->has_webhook_lease_seconds);
  assert_false(t->always_listening);
  assert_string_equal(t->token_file,
                      "/home/tester/.local/share/twitchd/tokens.json");
  assert_null(t->ca_file);
  assert_string_equal(t->irc.url, "wss://irc-ws.chat.twitch.tv:443");
  expect_url(&t->irc, "wss", "irc-ws.chat.twitch.tv", 443, "/", true);
  expect_url(&t->eventsub, "wss", "eventsub.wss.twitch.tv", 443, "/ws", true);
  expect_url(&t->helix, "https", "api.twitch.tv", 443, "/helix", true);
  expect_url(&t->oauth, "https", "id.twitch.tv", 443, "/oauth2", true);
  const tw_config_logging_t *l = tw_config_logging(cfg);
  assert_int_equal(l->level, TW_LOG_INFO);
  assert_int_equal(l->format, TW_LOG_TEXT);
  const tw_config_web_t *w = tw_config_web(cfg);
  assert_string_equal(w->host, "127.0.0.1");
  assert_int_equal(w->port, 8080);
  assert_int_equal(tw_config_skill_count(cfg), 0);
  assert_int_equal(tw_config_note_count(cfg), 0);
  secrets_t s = {{0}, 0};
  tw_config_foreach_secret(cfg, collect_secret, &s);
  assert_int_equal(s.n, 0);
  tw_config_free(cfg);
}

static const char minimal[] = "connectors:\n"
                              "  twitch:\n"
                              "    client-id: abc\n"
                              "    channel: foo\n";

static void test_token_file_default_env(void **state) {
  (void)state;
  setenv("XDG_DATA_HOME", "/xdg/data", 1);
  tw_config_t *cfg = load_buf(minimal, 0);
  assert_string_equal(tw_config_twitch(cfg)->token_file,
                      "/xdg/data/twitchd/tokens.json");
  tw_config_free(cfg);
  /* a relative XDG_DATA_HOME is invalid by the XDG rules and ignored */
  setenv("XDG_DATA_HOME", "rel/data", 1);
  cfg = load_buf(minimal, 0);
  assert_string_equal(tw_config_twitch(cfg)->token_file,
                      "/home/tester/.local/share/twitchd/tokens.json");
  tw_config_free(cfg);
  unsetenv("XDG_DATA_HOME");
  unsetenv("HOME");
  cfg = load_buf(minimal, TW_ECONFIG);
  assert_int_equal(tw_config_error_count(cfg), 1);
  const tw_config_diag_t *d = tw_config_error(cfg, 0);
  assert_int_equal(d->line, 2);
  assert_int_equal(d->col, 3);
  assert_non_null(strstr(d->message, "default token-file"));
  tw_config_free(cfg);
  /* an explicit token-file needs no environment */
  cfg = load_buf("connectors:\n  twitch:\n    client-id: abc\n    channel: "
                 "foo\n    token-file: /var/lib/twitchd/t.json\n",
                 0);
  assert_string_equal(tw_config_twitch(cfg)->token_file,
                      "/var/lib/twitchd/t.json");
  tw_config_free(cfg);
  /* "~/" is $HOME */
  setenv("HOME", "/home/tester", 1);
  cfg = load_buf("connectors:\n  twitch:\n    client-id: abc\n    channel: "
                 "foo\n    token-file: ~/t.json\n",
                 0);
  assert_string_equal(tw_config_twitch(cfg)->token_file, "/home/tester/t.json");
  tw_config_free(cfg);
}

/* Every key set to something else than its default. */
static void test_full(void **state) {
  (void)state;
  tw_config_t *cfg = load_ok("good/full.yaml");
  const tw_config_twitch_t *t = tw_config_twitch(cfg);
  assert_string_equal(t->code, "abcdef123456");
  assert_string_equal(t->client_id, "clientid0123");
  assert_string_equal(t->client_secret, "secret0123456");
  assert_int_equal(t->channel_count, 3);
  assert_string_equal(t->channels[0], "foo");
  assert_string_equal(t->channels[1], "bar_2");
  assert_string_equal(t->channels[2], "baz");
  expect_url(&t->redirect, "https", "example.com", 443, "/oauth/callback",
             true);
  expect_url(&t->forward_url, "https", "bot.example.com", 443, "/", true);
  assert_true(t->always_listening); /* written "yes" */
  /* relative paths are relative to the file's folder */
  char want[2048];
  snprintf(want, sizeof(want), "%s/good/state/tokens.json", fixture_dir);
  assert_string_equal(t->token_file, want);
  snprintf(want, sizeof(want), "%s/good/test-ca.pem", fixture_dir);
  assert_string_equal(t->ca_file, want);
  /* plain-text schemes, allowed because the hosts are loopback */
  expect_url(&t->irc, "irc", "127.0.0.1", 16667, "/", false);
  expect_url(&t->eventsub, "ws", "localhost", 18080, "/ws", false);
  expect_url(&t->helix, "http", "::1", 18081, "/helix", false);
  expect_url(&t->oauth, "http", "127.0.0.1", 18082, "/oauth2", false);
  assert_int_equal(tw_config_logging(cfg)->level, TW_LOG_DEBUG);
  assert_int_equal(tw_config_logging(cfg)->format, TW_LOG_JSON);
  assert_string_equal(tw_config_web(cfg)->host, "0.0.0.0");
  assert_int_equal(tw_config_web(cfg)->port, 0);
  assert_int_equal(tw_config_note_count(cfg), 0);
  tw_config_free(cfg);
}

static const tw_config_skill_t *skill(const tw_config_t *cfg, size_t i,
                                      const char *name) {
  const tw_config_skill_t *s = tw_config_skill(cfg, i);
  assert_non_null(s);
  assert_string_equal(s->name, name);
  assert_non_null(s->options);
  assert_int_equal(tw_config_node_type(s->options), TW_CONFIG_MAP);
  return s;
}

static void expect_keys(const tw_config_node_t *map, const char *const *keys,
                        size_t n) {
  assert_int_equal(tw_config_node_size(map), n);
  for (size_t i = 0; i < n; i++)
    assert_string_equal(tw_config_node_key(map, i), keys[i]);
}

static void test_skills_list_form(void **state) {
  (void)state;
  tw_config_t *cfg = load_ok("good/skills-list.yaml");
  assert_int_equal(tw_config_skill_count(cfg), 4);
  char want[2048];

  const tw_config_skill_t *s = skill(cfg, 0, "hello");
  snprintf(want, sizeof(want), "%s/good/skills/hello.lua", fixture_dir);
  assert_string_equal(s->path, want);
  assert_int_equal(s->line, 7);
  assert_int_equal(s->col, 5);
  static const char *const hello_keys[] = {
      "greeting", "count", "ratio", "enabled", "nothing", "users", "limits"};
  expect_keys(s->options, hello_keys, 7);
  const tw_config_node_t *o = s->options;
  assert_int_equal(tw_config_node_type(tw_config_node_get(o, "greeting")),
                   TW_CONFIG_STRING);
  assert_string_equal(tw_config_node_string(tw_config_node_get(o, "greeting")),
                      "Hi there");
  assert_int_equal(tw_config_node_type(tw_config_node_get(o, "count")),
                   TW_CONFIG_INT);
  assert_int_equal(tw_config_node_int(tw_config_node_get(o, "count")), 3);
  assert_int_equal(tw_config_node_type(tw_config_node_get(o, "ratio")),
                   TW_CONFIG_FLOAT);
  assert_true(tw_config_node_float(tw_config_node_get(o, "ratio")) == 0.5);
  assert_int_equal(tw_config_node_type(tw_config_node_get(o, "enabled")),
                   TW_CONFIG_BOOL);
  assert_true(tw_config_node_bool(tw_config_node_get(o, "enabled")));
  assert_int_equal(tw_config_node_type(tw_config_node_get(o, "nothing")),
                   TW_CONFIG_NULL);
  const tw_config_node_t *users = tw_config_node_get(o, "users");
  assert_int_equal(tw_config_node_type(users), TW_CONFIG_LIST);
  assert_int_equal(tw_config_node_size(users), 2);
  assert_string_equal(tw_config_node_string(tw_config_node_item(users, 1)),
                      "bob");
  assert_null(tw_config_node_item(users, 2));
  const tw_config_node_t *limits = tw_config_node_get(o, "limits");
  assert_int_equal(tw_config_node_type(limits), TW_CONFIG_MAP);
  assert_int_equal(tw_config_node_int(tw_config_node_get(limits, "per-user")),
                   2);
  assert_string_equal(
      tw_config_node_string(tw_config_node_get(limits, "window")), "30s");
  assert_int_equal(tw_config_node_line(limits), 15);

  s = skill(cfg, 1, "bare");
  assert_null(s->path);
  assert_int_equal(tw_config_node_size(s->options), 0);

  /* the seed's form: neither the name key nor path is an option */
  s = skill(cfg, 2, "title");
  snprintf(want, sizeof(want), "%s/good/skills/title.lua", fixture_dir);
  assert_string_equal(s->path, want);
  static const char *const title_keys[] = {"whitelisted"};
  expect_keys(s->options, title_keys, 1);

  s = skill(cfg, 3, "nested");
  assert_non_null(s->path);
  static const char *const nested_keys[] = {"mode"};
  expect_keys(s->options, nested_keys, 1);
  tw_config_free(cfg);
}

static void test_skills_seed_form(void **state) {
  (void)state;
  tw_config_t *cfg = load_ok("good/seed-skills.yaml");
  assert_int_equal(tw_config_skill_count(cfg), 1);
  const tw_config_skill_t *s = skill(cfg, 0, "twitch");
  assert_null(s->path);
  const tw_config_node_t *wl = tw_config_node_get(s->options, "whitelisted");
  assert_int_equal(tw_config_node_type(wl), TW_CONFIG_LIST);
  assert_int_equal(tw_config_node_size(wl), 2);
  assert_string_equal(tw_config_node_string(tw_config_node_item(wl, 0)),
                      "your_username_on_twitch");
  assert_string_equal(tw_config_node_string(tw_config_node_item(wl, 1)),
                      "your_username_on_another_connector");
  assert_int_equal(tw_config_node_size(s->options), 1);
  tw_config_free(cfg);
}

static void test_skills_map_form(void **state) {
  (void)state;
  tw_config_t *cfg = load_ok("good/skills-map.yaml");
  assert_int_equal(tw_config_skill_count(cfg), 3);
  const tw_config_skill_t *s = skill(cfg, 0, "hello");
  assert_non_null(s->path);
  static const char *const hello_keys[] = {"greeting"};
  expect_keys(s->options, hello_keys, 1);
  s = skill(cfg, 1, "empty");
  assert_null(s->path);
  assert_int_equal(tw_config_node_size(s->options), 0);
  s = skill(cfg, 2, "title");
  assert_int_equal(
      tw_config_node_size(tw_config_node_get(s->options, "whitelisted")), 1);
  assert_null(tw_config_skill(cfg, 3));
  tw_config_free(cfg);
}

/* Plain scalars follow the YAML 1.2 core schema; quoting makes a string. */
static void test_scalar_typing(void **state) {
  (void)state;
  tw_config_t *cfg = load_buf("connectors: {twitch: {client-id: abc, "
                              "channel: foo}}\n"
                              "skills:\n"
                              "  - name: t\n"
                              "    hex: 0x1F\n"
                              "    oct: 0o17\n"
                              "    neg: -5\n"
                              "    pos: +7\n"
                              "    exp: 1.5e3\n"
                              "    inf: -.inf\n"
                              "    nan: .NaN\n"
                              "    tilde: ~\n"
                              "    nul: Null\n"
                              "    empty:\n"
                              "    yes11: yes\n"
                              "    true12: True\n"
                              "    quoted: \"123\"\n"
                              "    huge: 99999999999999999999\n"
                              "    tagged: !!str 12\n"
                              "    under: 1_000\n"
                              "    ver: 1.2.3\n"
                              "    block: |\n"
                              "      line one\n"
                              "      line two\n",
                              0);
  const tw_config_node_t *o = tw_config_skill(cfg, 0)->options;
#define T(key, type)                                                           \
  assert_int_equal(tw_config_node_type(tw_config_node_get(o, key)), type)
  T("hex", TW_CONFIG_INT);
  assert_int_equal(tw_config_node_int(tw_config_node_get(o, "hex")), 31);
  assert_string_equal(tw_config_node_string(tw_config_node_get(o, "hex")),
                      "0x1F");
  T("oct", TW_CONFIG_INT);
  assert_int_equal(tw_config_node_int(tw_config_node_get(o, "oct")), 15);
  assert_int_equal(tw_config_node_int(tw_config_node_get(o, "neg")), -5);
  assert_int_equal(tw_config_node_int(tw_config_node_get(o, "pos")), 7);
  T("exp", TW_CONFIG_FLOAT);
  assert_true(tw_config_node_float(tw_config_node_get(o, "exp")) == 1500.0);
  T("inf", TW_CONFIG_FLOAT);
  assert_true(isinf(tw_config_node_float(tw_config_node_get(o, "inf"))));
  assert_true(tw_config_node_float(tw_config_node_get(o, "inf")) < 0);
  assert_true(isnan(tw_config_node_float(tw_config_node_get(o, "nan"))));
  T("tilde", TW_CONFIG_NULL);
  T("nul", TW_CONFIG_NULL);
  T("empty", TW_CONFIG_NULL);
  T("yes11", TW_CONFIG_STRING); /* YAML 1.2: "yes" is a word */
  T("true12", TW_CONFIG_BOOL);
  T("quoted", TW_CONFIG_STRING);
  T("huge", TW_CONFIG_STRING); /* no digit silently lost */
  assert_string_equal(tw_config_node_string(tw_config_node_get(o, "huge")),
                      "99999999999999999999");
  T("tagged", TW_CONFIG_STRING);
  T("under", TW_CONFIG_STRING);
  T("ver", TW_CONFIG_STRING);
  T("block", TW_CONFIG_STRING);
  assert_string_equal(tw_config_node_string(tw_config_node_get(o, "block")),
                      "line one\nline two\n");
#undef T
  /* NULL-safe accessors */
  assert_int_equal(tw_config_node_type(NULL), TW_CONFIG_NULL);
  assert_null(tw_config_node_string(NULL));
  assert_int_equal(tw_config_node_size(NULL), 0);
  assert_null(tw_config_node_get(NULL, "x"));
  assert_null(tw_config_node_key(o, 99));
  assert_int_equal(tw_config_node_line(NULL), 0);
  assert_string_equal(tw_config_type_name(TW_CONFIG_MAP), "map");
  /* the root is the whole document */
  const tw_config_node_t *root = tw_config_root(cfg);
  assert_int_equal(tw_config_node_type(root), TW_CONFIG_MAP);
  assert_string_equal(tw_config_node_key(root, 0), "connectors");
  tw_config_free(cfg);
}

/* YAML 1.1 booleans (opsdroid users wrote them with PyYAML) are accepted
 * where a boolean is expected, when plain. */
static void test_yaml11_booleans(void **state) {
  (void)state;
  static const struct {
    const char *word;
    bool value;
  } cases[] = {{"yes", true},  {"On", true},   {"NO", false},
               {"off", false}, {"TRUE", true}, {"false", false}};
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    char text[256];
    snprintf(text, sizeof(text),
             "connectors:\n  twitch:\n    client-id: abc\n    channel: foo\n"
             "    always-listening: %s\n",
             cases[i].word);
    tw_config_t *cfg = load_buf(text, 0);
    assert_int_equal(tw_config_twitch(cfg)->always_listening, cases[i].value);
    tw_config_free(cfg);
  }
}

/* connectors.twitch send-chat: irc (the default) or helix; anything else
 * is an error that names the choices and suggests the near miss. */
static void test_send_chat(void **state) {
  (void)state;
  const char *base =
      "connectors:\n  twitch:\n    client-id: abc\n    channel: foo\n";
  tw_config_t *cfg = load_buf(base, 0);
  assert_int_equal(tw_config_twitch(cfg)->send_chat, TW_SEND_CHAT_IRC);
  tw_config_free(cfg);
  static const struct {
    const char *word;
    tw_send_chat_t value;
  } cases[] = {{"irc", TW_SEND_CHAT_IRC}, {"helix", TW_SEND_CHAT_HELIX}};
  char text[256];
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    snprintf(text, sizeof(text), "%s    send-chat: %s\n", base, cases[i].word);
    cfg = load_buf(text, 0);
    assert_int_equal(tw_config_twitch(cfg)->send_chat, cases[i].value);
    tw_config_free(cfg);
  }
  snprintf(text, sizeof(text), "%s    send-chat: helx\n", base);
  cfg = load_buf(text, TW_ECONFIG);
  assert_int_equal(tw_config_error_count(cfg), 1);
  const tw_config_diag_t *d = tw_config_error(cfg, 0);
  assert_int_equal(d->line, 5);
  assert_non_null(strstr(d->message, "send-chat"));
  assert_non_null(strstr(d->message, "irc, helix"));
  assert_non_null(strstr(d->message, "helix"));
  tw_config_free(cfg);
  snprintf(text, sizeof(text), "%s    send-chat: true\n", base);
  cfg = load_buf(text, TW_ECONFIG);
  assert_int_equal(tw_config_error_count(cfg), 1);
  tw_config_free(cfg);
}

/* Relative paths from a buffer stay relative (to the working directory);
 * messages use the given name; the buffer need not be NUL-terminated. */
static void test_buffer(void **state) {
  (void)state;
  static const char text[] = "connectors:\n  twitch:\n    client-id: abc\n"
                             "    channel: foo\n    token-file: rel/t.json\n"
                             "XXXX";
  tw_config_t *cfg = tw_config_new();
  assert_int_equal(
      tw_config_load_buffer(cfg, "inline", text, sizeof(text) - 1 - 4), 0);
  assert_string_equal(tw_config_twitch(cfg)->token_file, "rel/t.json");
  assert_string_equal(tw_config_source(cfg), "inline");
  tw_config_free(cfg);
  cfg = tw_config_new();
  assert_int_equal(tw_config_load_buffer(cfg, NULL, "bad: [", 6), TW_ECONFIG);
  assert_string_equal(tw_config_error(cfg, 0)->file, "<memory>");
  assert_non_null(strstr(tw_config_error(cfg, 0)->message, "syntax"));
  tw_config_free(cfg);
  /* empty input: no connectors */
  cfg = tw_config_new();
  assert_int_equal(tw_config_load_buffer(cfg, "e", NULL, 0), TW_ECONFIG);
  assert_int_equal(tw_config_error(cfg, 0)->line, 1);
  tw_config_free(cfg);
}

/* Single-quoted strings are decoded by the loader itself (libfyaml 0.7.12
 * gets runs of quote escapes wrong): check the YAML 1.2 rules. */
static void test_single_quoted(void **state) {
  (void)state;
  static const struct {
    const char *yaml; /* the value as written after "v: " */
    const char *want;
  } cases[] = {
      {"'x''''y'", "x''y"},
      {"''", ""},
      {"''''", "'"},
      {"''''''", "''"},
      {"'it''s'", "it's"},
      {"'  lead and trail  '", "  lead and trail  "},
      {"'a\n\n      b  \n       c'", "a\nb c"},
      {"'a  \n\n\n      b'", "a\n\nb"},
      {"'one\r\n      two'", "one two"},
      {"'#not a comment: {}[]'", "#not a comment: {}[]"},
      {"'caf\xc3\xa9 ''ok'''", "caf\xc3\xa9 'ok'"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    char text[512];
    snprintf(text, sizeof(text), "%sskills:\n  - name: q\n    v: %s\n", minimal,
             cases[i].yaml);
    tw_config_t *cfg = load_buf(text, 0);
    const tw_config_node_t *v =
        tw_config_node_get(tw_config_skill(cfg, 0)->options, "v");
    assert_int_equal(tw_config_node_type(v), TW_CONFIG_STRING);
    assert_string_equal(tw_config_node_string(v), cases[i].want);
    tw_config_free(cfg);
  }
}

/* The lexical pass that keeps explicit keys, directives and tab
 * indentation away from libfyaml lets their look-alikes through intact. */
static void test_lexical_lookalikes(void **state) {
  (void)state;
  tw_config_t *cfg = load_ok("good/lexical.yaml");
  const tw_config_twitch_t *t = tw_config_twitch(cfg);
  assert_int_equal(t->channel_count, 2);
  assert_string_equal(t->channels[1], "bar");
  const tw_config_node_t *o = tw_config_skill(cfg, 0)->options;
  static const struct {
    const char *key, *want;
  } want[] = {
      {"question", "? not a key"},
      {"single", "? nor this, it's quoted"},
      {"hash", "a # b"},
      {"pipe", "| >"},
      {"tabbed", "tab\tinside"},
      {"block", "? a line of a block scalar\n% and another\n\tstill inside "
                "(a tab after the indentation)\n"},
      {"folded", "? folded\n"},
      {"plain", "what? yes"},
      {"dash", "a - b -"},
  };
  for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
    assert_string_equal(
        tw_config_node_string(tw_config_node_get(o, want[i].key)),
        want[i].want);
  const tw_config_node_t *flow = tw_config_node_get(o, "flow");
  assert_string_equal(tw_config_node_string(tw_config_node_get(flow, "a")),
                      "?");
  assert_int_equal(tw_config_node_size(tw_config_node_get(flow, "b")), 2);
  tw_config_free(cfg);
}

static void register_secret(const char *s, void *arg) {
  (void)arg;
  assert_int_equal(tw_log_add_secret(s), 0);
}

/* What the runtime does at start-up: every secret of the configuration is
 * registered with the logger, and then no log line can show it. */
static void test_secrets_redacted_in_log(void **state) {
  (void)state;
  tw_config_t *cfg = load_ok("good/seed.yaml");
  tw_log_clear_secrets();
  tw_config_foreach_secret(cfg, register_secret, NULL);
  char out[256];
  tw_log_redact("exchanging code=hfu923hfks02nd2821jfislf with "
                "client_secret=kdksd0458j93847j",
                out, sizeof(out));
  assert_null(strstr(out, "hfu923hfks02nd2821jfislf"));
  assert_null(strstr(out, "kdksd0458j93847j"));
  assert_non_null(strstr(out, "[REDACTED]"));
  tw_log_clear_secrets();
  tw_config_free(cfg);
}

static void test_diag_format(void **state) {
  (void)state;
  tw_config_diag_t d = {"twitchd.yaml", 7, 5, "unknown key 'clientid'"};
  char buf[128];
  int n = tw_config_diag_format(&d, buf, sizeof(buf));
  assert_string_equal(buf, "twitchd.yaml:7:5: unknown key 'clientid'");
  assert_int_equal(n, strlen(buf));
  d.line = d.col = 0;
  tw_config_diag_format(&d, buf, sizeof(buf));
  assert_string_equal(buf, "twitchd.yaml: unknown key 'clientid'");
  /* truncation keeps a terminated string and reports the full length */
  n = tw_config_diag_format(&d, buf, 10);
  assert_int_equal(strlen(buf), 9);
  assert_true(n > 10);
}

/* Errors are sorted by position, whatever order they were found in. */
static void test_errors_sorted(void **state) {
  (void)state;
  tw_config_t *cfg = load_buf("web:\n  port: x\n"
                              "connectors:\n  twitch:\n    channel: A\n"
                              "logging: {level: loud}\n",
                              TW_ECONFIG);
  size_t n = tw_config_error_count(cfg);
  assert_true(n >= 4);
  for (size_t i = 1; i < n; i++) {
    const tw_config_diag_t *a = tw_config_error(cfg, i - 1);
    const tw_config_diag_t *b = tw_config_error(cfg, i);
    assert_true(a->line < b->line || (a->line == b->line && a->col <= b->col));
  }
  assert_null(tw_config_error(cfg, n));
  tw_config_free(cfg);
}

/* A file with more problems than TW_CONFIG_MAX_ERRORS: the list stops
 * there, with a last entry saying so. */
static void test_error_cap(void **state) {
  (void)state;
  size_t cap = 300 * 16 + 256;
  char *text = malloc(cap);
  size_t o = (size_t)snprintf(text, cap, "%s", minimal);
  for (int i = 0; i < 300; i++)
    o += (size_t)snprintf(text + o, cap - o, "k%d: 1\n", i);
  tw_config_t *cfg = load_buf(text, TW_ECONFIG);
  assert_int_equal(tw_config_error_count(cfg), TW_CONFIG_MAX_ERRORS + 1);
  const tw_config_diag_t *last = tw_config_error(cfg, TW_CONFIG_MAX_ERRORS);
  assert_int_equal(last->line, 0);
  assert_non_null(strstr(last->message, "too many"));
  assert_int_equal(tw_config_error(cfg, 0)->line, 5);
  tw_config_free(cfg);
  free(text);
}

/* Many keys in one map (the sorted duplicate check) still find every
 * duplicate at its position. */
static void test_many_duplicates(void **state) {
  (void)state;
  size_t cap = 200 * 32 + 256;
  char *text = malloc(cap);
  size_t o = (size_t)snprintf(text, cap, "%sskills:\n", minimal);
  for (int i = 0; i < 100; i++)
    o += (size_t)snprintf(text + o, cap - o, "  s%d:\n", i);
  o += (size_t)snprintf(text + o, cap - o, "  s7:\n  s42:\n");
  tw_config_t *cfg = load_buf(text, TW_ECONFIG);
  assert_int_equal(tw_config_error_count(cfg), 2);
  assert_int_equal(tw_config_error(cfg, 0)->line, 106);
  assert_non_null(strstr(tw_config_error(cfg, 0)->message,
                         "duplicate key 's7' (first defined at 13:3)"));
  assert_int_equal(tw_config_error(cfg, 1)->line, 107);
  tw_config_free(cfg);
  free(text);
}

static void test_too_big_and_unreadable(void **state) {
  (void)state;
  size_t big = TW_CONFIG_MAX_BYTES + 1;
  char *text = malloc(big);
  memset(text, '#', big);
  tw_config_t *cfg = tw_config_new();
  assert_int_equal(tw_config_load_buffer(cfg, "big", text, big), TW_ETOOBIG);
  assert_int_equal(tw_config_error_count(cfg), 1);
  tw_config_free(cfg);

  char path[] = "/tmp/tw_config_big_XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, text, big), (ssize_t)big);
  close(fd);
  cfg = tw_config_new();
  assert_int_equal(tw_config_load_file(cfg, path), TW_ETOOBIG);
  assert_non_null(strstr(tw_config_error(cfg, 0)->message, "larger than"));
  tw_config_free(cfg);
  unlink(path);
  free(text);

  cfg = tw_config_new();
  assert_int_equal(tw_config_load_file(cfg, "/nonexistent/twitchd.yaml"),
                   TW_EIO);
  const tw_config_diag_t *d = tw_config_error(cfg, 0);
  assert_int_equal(d->line, 0);
  assert_string_equal(d->file, "/nonexistent/twitchd.yaml");
  assert_non_null(strstr(d->message, "No such file"));
  tw_config_free(cfg);

  cfg = tw_config_new();
  assert_int_equal(tw_config_load_file(cfg, fixture_dir), TW_EIO);
  assert_non_null(strstr(tw_config_error(cfg, 0)->message, "not a regular"));
  tw_config_free(cfg);
}

static void test_states_and_nulls(void **state) {
  (void)state;
  tw_config_t *cfg = tw_config_new();
  assert_null(tw_config_twitch(cfg)); /* not loaded yet */
  assert_null(tw_config_source(cfg));
  assert_int_equal(tw_config_load_buffer(cfg, "a", minimal, strlen(minimal)),
                   0);
  assert_int_equal(tw_config_load_buffer(cfg, "a", minimal, strlen(minimal)),
                   TW_ESTATE);
  assert_int_equal(tw_config_load_file(cfg, "x"), TW_ESTATE);
  tw_config_free(cfg);
  assert_int_equal(tw_config_load_file(NULL, "x"), TW_EINVAL);
  assert_int_equal(tw_config_load_buffer(NULL, "x", "", 0), TW_EINVAL);
  assert_int_equal(tw_config_error_count(NULL), 0);
  assert_null(tw_config_error(NULL, 0));
  assert_null(tw_config_logging(NULL));
  tw_config_foreach_secret(NULL, collect_secret, NULL);
  tw_config_free(NULL);
}

/* No error or note ever repeats a secret's value. */
static void test_secrets_never_in_messages(void **state) {
  (void)state;
  static const char *const texts[] = {
      "connectors:\n  twitch:\n    client-id: abc\n    channel: foo\n"
      "    client-secret: \"hunter2 hunter2\"\n    code: [s3cr3tc0de]\n",
      "connectors:\n  twitch:\n    client-id: abc\n    channel: foo\n"
      "    client-secret: {hunter2hunter2: 1}\n    code: 123456789\n"
      "    client_secret: hunter2hunter2\n",
  };
  for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
    tw_config_t *cfg = load_buf(texts[i], TW_ECONFIG);
    assert_true(tw_config_error_count(cfg) > 0);
    for (size_t j = 0; j < tw_config_error_count(cfg); j++) {
      const char *m = tw_config_error(cfg, j)->message;
      assert_null(strstr(m, "hunter2"));
      assert_null(strstr(m, "s3cr3tc0de"));
    }
    /* and an invalid configuration hands out no secrets */
    secrets_t s = {{0}, 0};
    tw_config_foreach_secret(cfg, collect_secret, &s);
    assert_int_equal(s.n, 0);
    tw_config_free(cfg);
  }
}

static int setup(void **state) {
  (void)state;
  const char *d = getenv("TW_FIXTURES");
  snprintf(fixture_dir, sizeof(fixture_dir), "%s/config",
           d ? d : "tests/fixtures");
  setenv("HOME", "/home/tester", 1);
  unsetenv("XDG_DATA_HOME");
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_seed_values),
      cmocka_unit_test(test_seed_fixture_is_verbatim),
      cmocka_unit_test(test_defaults),
      cmocka_unit_test(test_token_file_default_env),
      cmocka_unit_test(test_full),
      cmocka_unit_test(test_skills_list_form),
      cmocka_unit_test(test_skills_seed_form),
      cmocka_unit_test(test_skills_map_form),
      cmocka_unit_test(test_scalar_typing),
      cmocka_unit_test(test_yaml11_booleans),
      cmocka_unit_test(test_buffer),
      cmocka_unit_test(test_single_quoted),
      cmocka_unit_test(test_lexical_lookalikes),
      cmocka_unit_test(test_diag_format),
      cmocka_unit_test(test_errors_sorted),
      cmocka_unit_test(test_error_cap),
      cmocka_unit_test(test_many_duplicates),
      cmocka_unit_test(test_too_big_and_unreadable),
      cmocka_unit_test(test_states_and_nulls),
      cmocka_unit_test(test_secrets_never_in_messages),
      cmocka_unit_test(test_secrets_redacted_in_log),
      cmocka_unit_test(test_send_chat),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
