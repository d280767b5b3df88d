/* `twitchd check -c FILE`: validates a configuration file the way `run`
 * would load it, and prints every problem as FILE:LINE:COL: message (the
 * form editors and CI logs link to). On success it prints a short summary;
 * secrets are only ever shown as "set". */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "twitchd/config.h"
#include "twitchd/error.h"

static void usage(FILE *out) {
  fprintf(out,
          "usage: twitchd check -c FILE\n"
          "\n"
          "Validates a twitchd configuration file without connecting to "
          "anything.\n"
          "Every error is printed on stderr as FILE:LINE:COL: message, "
          "followed by\n"
          "notes (accepted keys that deserve attention). On success a short "
          "summary\n"
          "goes to stdout.\n"
          "\n"
          "options:\n"
          "  -c, --config FILE  the configuration file to check\n"
          "  -h, --help         show this help\n"
          "\n"
          "exit status: 0 valid, 1 invalid, 2 usage error or unreadable "
          "file\n");
}

static void print_diags(const tw_config_t *cfg, bool notes) {
  size_t n = notes ? tw_config_note_count(cfg) : tw_config_error_count(cfg);
  for (size_t i = 0; i < n; i++) {
    const tw_config_diag_t *d =
        notes ? tw_config_note(cfg, i) : tw_config_error(cfg, i);
    if (d->line > 0)
      fprintf(stderr, "%s:%d:%d: %s%s\n", d->file, d->line, d->col,
              notes ? "note: " : "", d->message);
    else
      fprintf(stderr, "%s: %s%s\n", d->file, notes ? "note: " : "", d->message);
  }
}

static void print_url(const char *name, const tw_config_url_t *u) {
  printf("  %-18s %s\n", name, u->url ? u->url : "(not set)");
}

static void summary(const tw_config_t *cfg) {
  const tw_config_twitch_t *t = tw_config_twitch(cfg);
  const tw_config_logging_t *l = tw_config_logging(cfg);
  const tw_config_web_t *w = tw_config_web(cfg);
  printf("%s: OK\n", tw_config_source(cfg));
  if (t != NULL) {
    printf("connectors.twitch:\n");
    printf("  %-18s", t->channel_count > 1 ? "channels" : "channel");
    for (size_t i = 0; i < t->channel_count; i++)
      printf("%s%s", i ? ", " : " ", t->channels[i]);
    printf("\n");
    printf("  %-18s %s\n", "client-id", t->client_id);
    printf("  %-18s %s\n", "client-secret",
           t->client_secret ? "set" : "(not set)");
    printf("  %-18s %s\n", "code", t->code ? "set" : "(not set)");
    printf("  %-18s %s\n", "token-file", t->token_file);
    if (t->ca_file != NULL)
      printf("  %-18s %s\n", "ca-file", t->ca_file);
    printf("  %-18s %s\n", "always-listening",
           t->always_listening ? "true" : "false");
    print_url("redirect", &t->redirect);
    if (t->forward_url.url != NULL)
      print_url("forward-url", &t->forward_url);
    print_url("endpoints.irc", &t->irc);
    print_url("endpoints.eventsub", &t->eventsub);
    print_url("endpoints.helix", &t->helix);
    print_url("endpoints.oauth", &t->oauth);
  }
  size_t ns = tw_config_skill_count(cfg);
  printf("skills: %zu", ns);
  for (size_t i = 0; i < ns; i++)
    printf("%s%s", i ? ", " : " (", tw_config_skill(cfg, i)->name);
  printf("%s\n", ns ? ")" : "");
  printf("logging: level %s, format %s\n", tw_log_level_name(l->level),
         l->format == TW_LOG_JSON ? "json" : "text");
  printf("web: %s port %d\n", w->host, w->port);
}

int tw__cli_check(int argc, char **argv) {
  const char *path = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      usage(stdout);
      return 0;
    }
    if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
      if (i + 1 >= argc) {
        fprintf(stderr, "twitchd check: %s needs a FILE argument\n", a);
        return 2;
      }
      path = argv[++i];
    } else if (strncmp(a, "--config=", 9) == 0) {
      path = a + 9;
    } else {
      fprintf(stderr,
              "twitchd check: unexpected argument '%s' (try twitchd check "
              "--help)\n",
              a);
      return 2;
    }
  }
  if (path == NULL || path[0] == '\0') {
    fprintf(stderr, "twitchd check: missing -c FILE (try twitchd check "
                    "--help)\n");
    return 2;
  }
  tw_config_t *cfg = tw_config_new();
  if (cfg == NULL) {
    fprintf(stderr, "twitchd check: out of memory\n");
    return 2;
  }
  int rc = tw_config_load_file(cfg, path);
  int status;
  if (rc == TW_EIO || rc == TW_EINVAL) {
    const tw_config_diag_t *d = tw_config_error(cfg, 0);
    fprintf(stderr, "twitchd check: cannot read %s: %s\n", path,
            d ? d->message : tw_strerror(rc));
    status = 2;
  } else if (rc == TW_ENOMEM) {
    fprintf(stderr, "twitchd check: out of memory\n");
    status = 2;
  } else if (rc != 0) {
    print_diags(cfg, false);
    print_diags(cfg, true);
    size_t n = tw_config_error_count(cfg);
    fprintf(stderr, "twitchd check: %s: %zu error%s\n", path, n,
            n == 1 ? "" : "s");
    status = 1;
  } else {
    print_diags(cfg, true);
    summary(cfg);
    status = 0;
  }
  tw_config_free(cfg);
  return status;
}
