/* Table-driven configuration tests from tests/fixtures/config/:
 *
 *  good/NAME.yaml   must load without errors;
 *  bad/NAME.yaml    must fail with exactly the errors (and notes) listed in
 *                   bad/NAME.expect, one per line, in order:
 *                     LINE:COL: substring of the message
 *                     note LINE:COL: substring of a note
 *                   Blank lines and lines starting with '#' are ignored.
 *
 * Adding a case is adding a file pair; this program finds them all. */
#include <dirent.h>
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

#define MAX_CASES 256

static const char *fixtures(void) {
  const char *d = getenv("TW_FIXTURES");
  return d ? d : "tests/fixtures";
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The NAME.yaml files of a fixture folder, sorted (malloc'ed names). */
static size_t list_yaml(const char *dir, char **names) {
  DIR *d = opendir(dir);
  if (d == NULL)
    fail_msg("cannot open fixture folder %s", dir);
  size_t n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    size_t l = strlen(e->d_name);
    if (l > 5 && strcmp(e->d_name + l - 5, ".yaml") == 0) {
      assert_true(n < MAX_CASES);
      names[n++] = strndup(e->d_name, l - 5);
    }
  }
  closedir(d);
  qsort(names, n, sizeof(*names), cmp_str);
  return n;
}

static void dump_diags(const tw_config_t *cfg) {
  char buf[1024];
  for (size_t i = 0; i < tw_config_error_count(cfg); i++) {
    tw_config_diag_format(tw_config_error(cfg, i), buf, sizeof(buf));
    print_message("    error: %s\n", buf);
  }
  for (size_t i = 0; i < tw_config_note_count(cfg); i++) {
    tw_config_diag_format(tw_config_note(cfg, i), buf, sizeof(buf));
    print_message("    note:  %s\n", buf);
  }
}

typedef struct {
  bool note;
  int line, col;
  char text[512];
} expect_t;

static size_t read_expect(const char *path, expect_t *v, size_t cap) {
  FILE *f = fopen(path, "r");
  if (f == NULL)
    fail_msg("missing %s (every bad/NAME.yaml needs a NAME.expect)", path);
  char line[700];
  size_t n = 0;
  while (fgets(line, sizeof(line), f) != NULL) {
    line[strcspn(line, "\n")] = '\0';
    if (line[0] == '\0' || line[0] == '#')
      continue;
    assert_true(n < cap);
    expect_t *e = &v[n];
    char *p = line;
    e->note = strncmp(p, "note ", 5) == 0;
    if (e->note)
      p += 5;
    char *end;
    e->line = (int)strtol(p, &end, 10);
    if (end == p || *end != ':')
      fail_msg("%s: bad expectation line '%s'", path, line);
    p = end + 1;
    e->col = (int)strtol(p, &end, 10);
    if (end == p || end[0] != ':' || end[1] != ' ')
      fail_msg("%s: bad expectation line '%s'", path, line);
    snprintf(e->text, sizeof(e->text), "%s", end + 2);
    n++;
  }
  fclose(f);
  return n;
}

static bool matches(const tw_config_diag_t *d, const expect_t *e) {
  return d != NULL && d->line == e->line && d->col == e->col &&
         strstr(d->message, e->text) != NULL;
}

static void test_bad_fixtures(void **state) {
  (void)state;
  char dir[1024], path[1100];
  snprintf(dir, sizeof(dir), "%s/config/bad", fixtures());
  char *names[MAX_CASES];
  size_t n = list_yaml(dir, names);
  assert_true(n >= 20);
  int failures = 0;
  for (size_t i = 0; i < n; i++) {
    expect_t want[64];
    snprintf(path, sizeof(path), "%s/%s.expect", dir, names[i]);
    size_t nwant = read_expect(path, want, 64);
    snprintf(path, sizeof(path), "%s/%s.yaml", dir, names[i]);
    tw_config_t *cfg = tw_config_new();
    int rc = tw_config_load_file(cfg, path);
    size_t ne = 0, nn = 0;
    bool ok = rc == TW_ECONFIG;
    for (size_t j = 0; j < nwant; j++) {
      if (want[j].note)
        ok = ok && matches(tw_config_note(cfg, nn++), &want[j]);
      else
        ok = ok && matches(tw_config_error(cfg, ne++), &want[j]);
    }
    ok = ok && ne == tw_config_error_count(cfg) &&
         nn == tw_config_note_count(cfg);
    /* every error names the file it came from */
    for (size_t j = 0; j < tw_config_error_count(cfg); j++)
      ok = ok && strcmp(tw_config_error(cfg, j)->file, path) == 0;
    /* a configuration with errors offers no values */
    ok = ok && tw_config_twitch(cfg) == NULL && tw_config_root(cfg) == NULL &&
         tw_config_skill_count(cfg) == 0;
    if (!ok) {
      print_message("FAIL bad/%s.yaml (rc %d); expected:\n", names[i], rc);
      for (size_t j = 0; j < nwant; j++)
        print_message("    %s%d:%d: %s\n", want[j].note ? "note " : "",
                      want[j].line, want[j].col, want[j].text);
      print_message("  got:\n");
      dump_diags(cfg);
      failures++;
    }
    tw_config_free(cfg);
    free(names[i]);
  }
  assert_int_equal(failures, 0);
}

static void test_good_fixtures(void **state) {
  (void)state;
  char dir[1024], path[1100];
  snprintf(dir, sizeof(dir), "%s/config/good", fixtures());
  char *names[MAX_CASES];
  size_t n = list_yaml(dir, names);
  assert_true(n >= 5);
  int failures = 0;
  for (size_t i = 0; i < n; i++) {
    snprintf(path, sizeof(path), "%s/%s.yaml", dir, names[i]);
    tw_config_t *cfg = tw_config_new();
    int rc = tw_config_load_file(cfg, path);
    if (rc != 0 || tw_config_twitch(cfg) == NULL) {
      print_message("FAIL good/%s.yaml: rc %d\n", names[i], rc);
      dump_diags(cfg);
      failures++;
    }
    tw_config_free(cfg);
    free(names[i]);
  }
  assert_int_equal(failures, 0);
}

static int setup(void **state) {
  (void)state;
  /* The default token-file depends on these; fix them for every case. */
  setenv("HOME", "/home/tester", 1);
  unsetenv("XDG_DATA_HOME");
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bad_fixtures),
      cmocka_unit_test(test_good_fixtures),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
