/* Unit tests for the token file: round trip, typed load errors, file modes,
 * atomic replacement (a failing write, a process killed mid-write, a
 * writer killed at random while a reader checks every version), stale
 * temporary files, default paths and secret registration. Every test works
 * in its own mkdtemp() directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "twitchd/error.h"
#include "twitchd/log.h"
#include "twitchd/token_store.h"

#define ACCESS_A "rfx2uswqe8l4g1mkagrvg5tv0ks3"
#define REFRESH_A "5b93chm6hdve3mycz05zfzatkfdenfspp1h1ar2xxdalen01"
#define ACCESS_B "1ssjqsqfy6bads1ws7m03gras79zfr"
#define REFRESH_B "eyJfMzUtNDU0OC4MWYwLTQ5MDY5ODY4NGNlMSJ9%asdfasdf="
#define LOGIN_UNICODE "Zo\xc3\xab_\xe3\x83\xad\xe3\x82\xb0\xf0\x9f\x98\x80"

typedef struct {
  char dir[256];
  char path[512];
  mode_t umask; /* restored by teardown, even after a failed assertion */
} fixture_t;

static void rm_rf(const char *dir) {
  DIR *d = opendir(dir);
  if (!d)
    return;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
      continue;
    char p[1024];
    snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
    struct stat st;
    if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
      chmod(p, 0700);
      rm_rf(p);
    } else {
      unlink(p);
    }
  }
  closedir(d);
  rmdir(dir);
}

static int setup(void **state) {
  fixture_t *f = calloc(1, sizeof(*f));
  const char *tmp = getenv("TMPDIR");
  snprintf(f->dir, sizeof(f->dir), "%s/tw_tokens_XXXXXX", tmp ? tmp : "/tmp");
  if (!mkdtemp(f->dir))
    return -1;
  snprintf(f->path, sizeof(f->path), "%s/tokens.json", f->dir);
  tw_log_clear_secrets();
  f->umask = umask(077);
  umask(f->umask);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture_t *f = *state;
  umask(f->umask);
  rm_rf(f->dir);
  free(f);
  tw_log_clear_secrets();
  tw_log_set_output(NULL);
  return 0;
}

/* A token set with owned copies of the given values. */
static tw_token_set_t make_set(const char *access, const char *refresh,
                               const char *login) {
  tw_token_set_t t = {0};
  t.access_token = access ? strdup(access) : NULL;
  t.refresh_token = refresh ? strdup(refresh) : NULL;
  t.login = login ? strdup(login) : NULL;
  t.user_id = strdup("141981764");
  t.client_id = strdup("wbmytr93xzw8zbg0p1izqyzzc5mbiz");
  t.expires_at_ms = 1764107400000ull;
  tw_scopes_add(&t.scopes, "chat:read");
  tw_scopes_add(&t.scopes, "chat:edit");
  return t;
}

static void write_file(const char *path, const char *content, mode_t mode) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
  assert_true(fd >= 0);
  size_t n = strlen(content);
  assert_int_equal(write(fd, content, n), (ssize_t)n);
  fchmod(fd, mode);
  close(fd);
}

static mode_t mode_of(const char *path) {
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  return st.st_mode & 07777;
}

/* Number of temporary files of the store left in `dir`. */
static int count_temps(const char *dir) {
  DIR *d = opendir(dir);
  assert_non_null(d);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (strncmp(e->d_name, ".tokens.json.tmp.", 17) == 0)
      n++;
  closedir(d);
  return n;
}

/* Loads `path` and checks that it holds the access token `want`. */
static void expect_access(const char *path, const char *want) {
  tw_token_store_t *s;
  assert_int_equal(tw_token_store_new(path, &s), 0);
  tw_token_set_t t;
  int rc = tw_token_store_load(s, &t);
  if (rc != 0)
    fail_msg("load: %d %s", rc, tw_token_store_error(s));
  assert_string_equal(t.access_token, want);
  tw_token_set_clear(&t);
  tw_token_store_free(s);
}

/* ---- round trip ------------------------------------------------------------
 */

static void test_round_trip(void **state) {
  fixture_t *f = *state;
  /* Missing parent directories are created, mode 0700. */
  char path[1024], sub[700];
  snprintf(sub, sizeof(sub), "%s/a/b", f->dir);
  snprintf(path, sizeof(path), "%s/tokens.json", sub);
  tw_token_store_t *s;
  assert_int_equal(tw_token_store_new(path, &s), 0);
  assert_string_equal(tw_token_store_path(s), path);
  tw_token_set_t in = make_set(ACCESS_A, REFRESH_B, LOGIN_UNICODE);
  assert_int_equal(tw_token_store_save(s, &in), 0);
  assert_string_equal(tw_token_store_error(s), "");
  assert_int_equal(mode_of(sub), 0700);
  assert_int_equal(mode_of(path), 0600);

  tw_token_set_t out;
  assert_int_equal(tw_token_store_load(s, &out), 0);
  assert_string_equal(out.access_token, ACCESS_A);
  assert_string_equal(out.refresh_token, REFRESH_B);
  assert_string_equal(out.login, LOGIN_UNICODE);
  assert_string_equal(out.user_id, "141981764");
  assert_string_equal(out.client_id, "wbmytr93xzw8zbg0p1izqyzzc5mbiz");
  assert_int_equal(out.expires_at_ms, 1764107400000ull);
  assert_int_equal(out.scopes.n, 2);
  assert_string_equal(out.scopes.v[0], "chat:read");
  assert_string_equal(out.scopes.v[1], "chat:edit");
  tw_token_set_clear(&out);

  /* The file is the documented JSON, UTF-8 written as is. */
  json_error_t je;
  json_t *j = json_load_file(path, 0, &je);
  assert_non_null(j);
  assert_int_equal(json_integer_value(json_object_get(j, "version")), 1);
  assert_string_equal(json_string_value(json_object_get(j, "access_token")),
                      ACCESS_A);
  assert_string_equal(json_string_value(json_object_get(j, "login")),
                      LOGIN_UNICODE);
  assert_int_equal(json_integer_value(json_object_get(j, "expires_at_ms")),
                   1764107400000ll);
  json_decref(j);

  /* An app token: no refresh token, no user; saving replaces everything. */
  tw_token_set_t app = {0};
  app.access_token = strdup(ACCESS_B);
  assert_int_equal(tw_token_store_save(s, &app), 0);
  assert_int_equal(tw_token_store_load(s, &out), 0);
  assert_string_equal(out.access_token, ACCESS_B);
  assert_null(out.refresh_token);
  assert_null(out.login);
  assert_null(out.user_id);
  assert_int_equal(out.expires_at_ms, 0);
  assert_int_equal(out.scopes.n, 0);
  tw_token_set_clear(&out);
  tw_token_set_clear(&app);
  tw_token_set_clear(&in);
  assert_null(in.access_token);
  assert_int_equal(count_temps(sub), 0);
  tw_token_store_free(s);
}

static void test_save_rejects(void **state) {
  fixture_t *f = *state;
  tw_token_store_t *s;
  assert_int_equal(tw_token_store_new(f->path, &s), 0);
  tw_token_set_t t = make_set(NULL, REFRESH_A, "x");
  assert_int_equal(tw_token_store_save(s, &t), TW_EINVAL);
  assert_non_null(strstr(tw_token_store_error(s), f->path));
  tw_token_set_clear(&t);
  t = make_set("has space", REFRESH_A, "x");
  assert_int_equal(tw_token_store_save(s, &t), TW_EINVAL);
  tw_token_set_clear(&t);
  t = make_set(ACCESS_A, "line\nbreak", "x");
  assert_int_equal(tw_token_store_save(s, &t), TW_EINVAL);
  tw_token_set_clear(&t);
  t = make_set(ACCESS_A, REFRESH_A, "bad\xc3");
  assert_int_equal(tw_token_store_save(s, &t), TW_EINVAL);
  tw_token_set_clear(&t);
  t = make_set(ACCESS_A, REFRESH_A, "x");
  t.expires_at_ms = UINT64_MAX;
  assert_int_equal(tw_token_store_save(s, &t), TW_EINVAL);
  tw_token_set_clear(&t);
  /* Nothing was written. */
  assert_int_equal(access(f->path, F_OK), -1);
  assert_int_equal(tw_token_store_save(s, NULL), TW_EINVAL);
  tw_token_store_free(s);

  tw_token_store_t *bad;
  assert_int_equal(tw_token_store_new("", &bad), TW_EINVAL);
  assert_int_equal(tw_token_store_new("/tmp/dir/", &bad), TW_EINVAL);
  assert_null(bad);
  assert_int_equal(tw_token_store_new(f->path, NULL), TW_EINVAL);
}

/* ---- load errors ------------------------------------------------------------
 */

static int load_rc(const char *path, char *detail, size_t cap) {
  tw_token_store_t *s;
  assert_int_equal(tw_token_store_new(path, &s), 0);
  tw_token_set_t t;
  int rc = tw_token_store_load(s, &t);
  snprintf(detail, cap, "%s", tw_token_store_error(s));
  if (rc != 0) {
    assert_null(t.access_token);
    assert_int_equal(t.scopes.n, 0);
  }
  tw_token_set_clear(&t);
  tw_token_store_free(s);
  return rc;
}

static void test_missing(void **state) {
  fixture_t *f = *state;
  char detail[TW_MAX_TOKEN_DETAIL];
  assert_int_equal(load_rc(f->path, detail, sizeof(detail)), TW_ENOTFOUND);
  assert_non_null(strstr(detail, f->path));
  assert_non_null(strstr(detail, "no such file"));
}

static void test_corrupt(void **state) {
  fixture_t *f = *state;
  static const struct {
    const char *content;
    const char *says;
  } cases[] = {
      {"", "empty file"},
      {"{\"version\":1,\"access_token\":\"SECRETSECRET123\" oops",
       "not valid JSON"},
      {"\x01\x02garbage", "not valid JSON"},
      {"[1,2]", "not a JSON object"},
      {"{\"access_token\":\"abcdefgh\"}", "no \"version\""},
      {"{\"version\":\"1\",\"access_token\":\"abcdefgh\"}",
       "\"version\" is not an integer"},
      {"{\"version\":1}", "no \"access_token\""},
      {"{\"version\":1,\"access_token\":42}",
       "\"access_token\" is not a string"},
      {"{\"version\":1,\"access_token\":\"a b\"}",
       "\"access_token\" is malformed"},
      {"{\"version\":1,\"access_token\":\"abcdefgh\",\"refresh_token\":"
       "\"x\\u0000y\"}",
       "not valid JSON"}, /* jansson refuses \u0000 unless asked */
      {"{\"version\":1,\"access_token\":\"abcdefgh\",\"refresh_token\":"
       "\"x\\u0001y\"}",
       "\"refresh_token\" is malformed"},
      {"{\"version\":1,\"access_token\":\"abcdefgh\",\"expires_at_ms\":-5}",
       "\"expires_at_ms\" is malformed"},
      {"{\"version\":1,\"access_token\":\"abcdefgh\",\"expires_at_ms\":1.5}",
       "\"expires_at_ms\" is malformed"},
      {"{\"version\":1,\"access_token\":\"abcdefgh\",\"scopes\":\"chat:read\"}",
       "\"scopes\" is malformed"},
      {"{\"version\":1,\"access_token\":\"abcdefgh\",\"scopes\":[\"a b\"]}",
       "\"scopes\" is malformed"},
      {"{\"version\":1,\"access_token\":\"abcdefgh\",\"login\":7}",
       "\"login\" is not a string"},
      {"{\"version\":1,\"version\":1,\"access_token\":\"abcdefgh\"}",
       "not valid JSON"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    write_file(f->path, cases[i].content, 0600);
    char detail[TW_MAX_TOKEN_DETAIL];
    int rc = load_rc(f->path, detail, sizeof(detail));
    if (rc != TW_EPARSE || !strstr(detail, cases[i].says) ||
        !strstr(detail, f->path))
      fail_msg("case %zu: rc %d detail '%s'", i, rc, detail);
    /* The detail names the problem, never the content. */
    assert_null(strstr(detail, "SECRET"));
  }
  /* The NUL case above was cut by strlen; write real binary too. */
  int fd = open(f->path, O_WRONLY | O_TRUNC);
  assert_int_equal(write(fd, "{\"version\":1\0}", 14), 14);
  close(fd);
  char detail[TW_MAX_TOKEN_DETAIL];
  assert_int_equal(load_rc(f->path, detail, sizeof(detail)), TW_EPARSE);

  /* Too large to be a token file. */
  char *big = malloc(TW_MAX_TOKEN_FILE + 2);
  memset(big, ' ', TW_MAX_TOKEN_FILE + 1);
  big[TW_MAX_TOKEN_FILE + 1] = '\0';
  write_file(f->path, big, 0600);
  free(big);
  assert_int_equal(load_rc(f->path, detail, sizeof(detail)), TW_EPARSE);
  assert_non_null(strstr(detail, "larger than"));

  /* A directory where the file should be. */
  unlink(f->path);
  assert_int_equal(mkdir(f->path, 0700), 0);
  assert_int_equal(load_rc(f->path, detail, sizeof(detail)), TW_EPARSE);
  assert_non_null(strstr(detail, "not a regular file"));
  rmdir(f->path);
}

static void test_unknown_version(void **state) {
  fixture_t *f = *state;
  write_file(f->path,
             "{\"version\":2,\"access_token\":\"abcdefgh\",\"new\":true}",
             0600);
  char detail[TW_MAX_TOKEN_DETAIL];
  assert_int_equal(load_rc(f->path, detail, sizeof(detail)), TW_EPARSE);
  assert_non_null(strstr(detail, f->path));
  assert_non_null(strstr(detail, "unknown format version 2"));
  /* Version 1 with members a later version might add still loads. */
  write_file(f->path,
             "{\"version\":1,\"access_token\":\"abcdefgh\",\"extra\":[1]}",
             0600);
  assert_int_equal(load_rc(f->path, detail, sizeof(detail)), 0);
}

/* ---- modes
 * -------------------------------------------------------------------- */

static void test_permissions(void **state) {
  fixture_t *f = *state;
  tw_token_store_t *s;
  assert_int_equal(tw_token_store_new(f->path, &s), 0);
  tw_token_set_t t = make_set(ACCESS_A, REFRESH_A, "a");

  mode_t old = umask(0);
  assert_int_equal(tw_token_store_save(s, &t), 0);
  assert_int_equal(mode_of(f->path), 0600);
  /* The previous file was 0644: the new one is 0600 anyway. */
  chmod(f->path, 0644);
  assert_int_equal(tw_token_store_save(s, &t), 0);
  assert_int_equal(mode_of(f->path), 0600);
  /* A umask that would leave the owner without write: still 0600. */
  umask(0277);
  assert_int_equal(tw_token_store_save(s, &t), 0);
  assert_int_equal(mode_of(f->path), 0600);
  umask(old);

  /* Loading a file others can read narrows it at once. */
  chmod(f->path, 0644);
  tw_token_set_t out;
  assert_int_equal(tw_token_store_load(s, &out), 0);
  assert_int_equal(mode_of(f->path), 0600);
  tw_token_set_clear(&out);
  tw_token_set_clear(&t);
  tw_token_store_free(s);
}

/* ---- atomicity
 * ------------------------------------------------------------------ */

static void save_or_die(const char *path, const char *access,
                        const char *refresh) {
  tw_token_store_t *s;
  assert_int_equal(tw_token_store_new(path, &s), 0);
  tw_token_set_t t = make_set(access, refresh, "a");
  int rc = tw_token_store_save(s, &t);
  if (rc != 0)
    fail_msg("save: %d %s", rc, tw_token_store_error(s));
  tw_token_set_clear(&t);
  tw_token_store_free(s);
}

/* A write that fails part way (the file size limit stands in for a full
 * disk: both give the writer an error after some bytes) leaves the old file
 * as it was and no temporary file behind. */
static void test_failed_write_keeps_old(void **state) {
  fixture_t *f = *state;
  save_or_die(f->path, ACCESS_A, REFRESH_A);

  tw_token_store_t *s;
  assert_int_equal(tw_token_store_new(f->path, &s), 0);
  /* Some padding so the new file is larger than the limit. */
  tw_token_set_t t = make_set(ACCESS_B, REFRESH_B, "a");
  struct rlimit saved, small = {.rlim_cur = 40, .rlim_max = RLIM_INFINITY};
  assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved), 0);
  small.rlim_max = saved.rlim_max;
  void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
  assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
  int rc = tw_token_store_save(s, &t);
  assert_int_equal(setrlimit(RLIMIT_FSIZE, &saved), 0);
  signal(SIGXFSZ, prev);
  assert_int_equal(rc, TW_EIO);
  assert_non_null(strstr(tw_token_store_error(s), "unchanged"));
  assert_non_null(strstr(tw_token_store_error(s), f->dir));
  tw_token_set_clear(&t);
  tw_token_store_free(s);

  expect_access(f->path, ACCESS_A);
  assert_int_equal(count_temps(f->dir), 0);
}

/* A read-only directory: the temporary file cannot be created. Root ignores
 * directory modes, so the check runs in a child that gives up root. */
static void test_readonly_dir(void **state) {
  fixture_t *f = *state;
  save_or_die(f->path, ACCESS_A, REFRESH_A);
  uid_t uid = 0;
  gid_t gid = 0;
  if (geteuid() == 0) {
    struct passwd *pw = getpwnam("nobody");
    if (!pw)
      skip();
    uid = pw->pw_uid;
    gid = pw->pw_gid;
    /* The path up to the directory must be searchable by that user. */
    assert_int_equal(chown(f->dir, uid, gid), 0);
    assert_int_equal(chown(f->path, uid, gid), 0);
    chmod(f->dir, 0755);
  }
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    if (uid != 0 && (setgid(gid) != 0 || setuid(uid) != 0))
      _exit(10);
    if (chmod(f->dir, 0500) != 0)
      _exit(11);
    tw_token_store_t *s;
    if (tw_token_store_new(f->path, &s) != 0)
      _exit(12);
    tw_token_set_t t = make_set(ACCESS_B, REFRESH_B, "a");
    int rc = tw_token_store_save(s, &t);
    if (rc != TW_EIO || !strstr(tw_token_store_error(s), "temporary"))
      _exit(13);
    tw_token_set_t out;
    if (tw_token_store_load(s, &out) != 0 ||
        strcmp(out.access_token, ACCESS_A) != 0)
      _exit(14);
    _exit(0);
  }
  int st;
  assert_int_equal(waitpid(pid, &st, 0), pid);
  chmod(f->dir, 0700);
  assert_true(WIFEXITED(st));
  assert_int_equal(WEXITSTATUS(st), 0);
  expect_access(f->path, ACCESS_A);
}

/* A process killed in the middle of writing its temporary file (here by
 * SIGXFSZ, deterministically, at the file size limit): the target keeps
 * the old content, the dead writer's temporary file is ignored by the next
 * load and then removed. */
static void test_killed_mid_write(void **state) {
  fixture_t *f = *state;
  save_or_die(f->path, ACCESS_A, REFRESH_A);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    struct rlimit core = {0, 0}, fs = {.rlim_cur = 20};
    struct rlimit cur;
    getrlimit(RLIMIT_FSIZE, &cur);
    fs.rlim_max = cur.rlim_max;
    setrlimit(RLIMIT_CORE, &core);
    signal(SIGXFSZ, SIG_DFL);
    setrlimit(RLIMIT_FSIZE, &fs);
    tw_token_store_t *s;
    tw_token_store_new(f->path, &s);
    tw_token_set_t t = make_set(ACCESS_B, REFRESH_B, "a");
    tw_token_store_save(s, &t);
    _exit(0); /* not reached: SIGXFSZ kills it */
  }
  int st;
  assert_int_equal(waitpid(pid, &st, 0), pid);
  assert_true(WIFSIGNALED(st));
  assert_int_equal(WTERMSIG(st), SIGXFSZ);
  /* The half-written temporary file is there... */
  assert_int_equal(count_temps(f->dir), 1);
  char tmp[700];
  snprintf(tmp, sizeof(tmp), "%s/.tokens.json.tmp.%ld.0", f->dir, (long)pid);
  struct stat sb;
  assert_int_equal(stat(tmp, &sb), 0);
  assert_int_equal(sb.st_size, 20);
  /* ...the target is the old file, and loading cleans up. */
  expect_access(f->path, ACCESS_A);
  assert_int_equal(count_temps(f->dir), 0);
}

/* Temporary files of live processes are left alone; those of dead ones go
 * with the next save. */
static void test_stale_temps(void **state) {
  fixture_t *f = *state;
  pid_t dead = fork();
  assert_true(dead >= 0);
  if (dead == 0)
    _exit(0);
  assert_int_equal(waitpid(dead, NULL, 0), dead);
  char p[700];
  snprintf(p, sizeof(p), "%s/.tokens.json.tmp.%ld.3", f->dir, (long)dead);
  write_file(p, "{\"partial", 0600);
  snprintf(p, sizeof(p), "%s/.tokens.json.tmp.%ld.0", f->dir, (long)getppid());
  write_file(p, "{\"other writer", 0600);
  snprintf(p, sizeof(p), "%s/.tokens.json.tmp.junk", f->dir);
  write_file(p, "?", 0600);
  assert_int_equal(count_temps(f->dir), 3);
  save_or_die(f->path, ACCESS_B, REFRESH_B);
  /* The dead writer's file is gone; the live one and the unknown name
   * stay. */
  assert_int_equal(count_temps(f->dir), 2);
  snprintf(p, sizeof(p), "%s/.tokens.json.tmp.%ld.0", f->dir, (long)getppid());
  assert_int_equal(access(p, F_OK), 0);
  expect_access(f->path, ACCESS_B);
}

/* A writer alternating between two token sets is killed with SIGKILL at an
 * arbitrary moment while the reader checks the file after every one of its
 * saves: every read sees one complete version, before and after the kill. */
static void test_kill9_race(void **state) {
  fixture_t *f = *state;
  save_or_die(f->path, ACCESS_A, REFRESH_A);
  int pfd[2];
  assert_int_equal(pipe(pfd), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    close(pfd[0]);
    tw_token_store_t *s;
    if (tw_token_store_new(f->path, &s) != 0)
      _exit(1);
    tw_token_set_t a = make_set(ACCESS_A, REFRESH_A, LOGIN_UNICODE);
    tw_token_set_t b = make_set(ACCESS_B, REFRESH_B, "b");
    for (unsigned i = 0;; i++) {
      if (tw_token_store_save(s, i % 2 ? &a : &b) != 0)
        _exit(2);
      if (write(pfd[1], "x", 1) != 1)
        _exit(3);
    }
  }
  close(pfd[1]);
  tw_token_store_t *s;
  assert_int_equal(tw_token_store_new(f->path, &s), 0);
  unsigned seen_a = 0, seen_b = 0;
  for (int i = 0; i < 200; i++) {
    char c;
    /* Wait for one more save (an event, not a sleep)... */
    assert_int_equal(read(pfd[0], &c, 1), 1);
    /* ...then read while the writer is already busy with the next one. */
    tw_token_set_t t;
    int rc = tw_token_store_load(s, &t);
    if (rc != 0)
      fail_msg("read %d: %d %s", i, rc, tw_token_store_error(s));
    if (strcmp(t.access_token, ACCESS_A) == 0) {
      assert_string_equal(t.refresh_token, REFRESH_A);
      seen_a++;
    } else {
      assert_string_equal(t.access_token, ACCESS_B);
      assert_string_equal(t.refresh_token, REFRESH_B);
      seen_b++;
    }
    tw_token_set_clear(&t);
  }
  assert_int_equal(kill(pid, SIGKILL), 0);
  int st;
  assert_int_equal(waitpid(pid, &st, 0), pid);
  assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
  close(pfd[0]);
  assert_true(seen_a > 0 && seen_b > 0);
  tw_token_set_t t;
  assert_int_equal(tw_token_store_load(s, &t), 0);
  assert_true(strcmp(t.access_token, ACCESS_A) == 0 ||
              strcmp(t.access_token, ACCESS_B) == 0);
  tw_token_set_clear(&t);
  /* Whatever the writer left behind is cleaned by that load. */
  assert_int_equal(count_temps(f->dir), 0);
  tw_token_store_free(s);
}

/* ---- default path
 * ----------------------------------------------------------------- */

static void test_default_path(void **state) {
  fixture_t *f = *state;
  char *old_xdg =
      getenv("XDG_DATA_HOME") ? strdup(getenv("XDG_DATA_HOME")) : NULL;
  char *old_home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
  char out[TW_MAX_TOKEN_PATH];

  setenv("XDG_DATA_HOME", "/data/x", 1);
  setenv("HOME", "/home/u", 1);
  assert_int_equal(tw_token_store_default_path(out, sizeof(out)), 0);
  assert_string_equal(out, "/data/x/twitchd/tokens.json");
  /* A relative XDG_DATA_HOME is ignored, as the XDG spec says. */
  setenv("XDG_DATA_HOME", "relative/dir", 1);
  assert_int_equal(tw_token_store_default_path(out, sizeof(out)), 0);
  assert_string_equal(out, "/home/u/.local/share/twitchd/tokens.json");
  unsetenv("XDG_DATA_HOME");
  assert_int_equal(tw_token_store_default_path(out, sizeof(out)), 0);
  assert_string_equal(out, "/home/u/.local/share/twitchd/tokens.json");
  assert_int_equal(tw_token_store_default_path(out, 10), TW_ETOOBIG);
  unsetenv("HOME");
  assert_int_equal(tw_token_store_default_path(out, sizeof(out)), TW_ENOTFOUND);
  tw_token_store_t *s;
  assert_int_equal(tw_token_store_new(NULL, &s), TW_ENOTFOUND);

  /* The store at the default path creates twitchd/ with mode 0700. */
  setenv("XDG_DATA_HOME", f->dir, 1);
  assert_int_equal(tw_token_store_new(NULL, &s), 0);
  char want[700];
  snprintf(want, sizeof(want), "%s/twitchd/tokens.json", f->dir);
  assert_string_equal(tw_token_store_path(s), want);
  tw_token_set_t t = make_set(ACCESS_A, NULL, NULL);
  assert_int_equal(tw_token_store_save(s, &t), 0);
  snprintf(want, sizeof(want), "%s/twitchd", f->dir);
  assert_int_equal(mode_of(want), 0700);
  tw_token_set_clear(&t);
  tw_token_store_free(s);

  if (old_xdg)
    setenv("XDG_DATA_HOME", old_xdg, 1);
  else
    unsetenv("XDG_DATA_HOME");
  if (old_home)
    setenv("HOME", old_home, 1);
  free(old_xdg);
  free(old_home);
}

/* ---- secrets
 * ------------------------------------------------------------------------ */

static bool redacted(const char *secret) {
  char out[256];
  tw_log_redact(secret, out, sizeof(out));
  return strcmp(out, "[REDACTED]") == 0;
}

static void test_secrets(void **state) {
  fixture_t *f = *state;
  char *logbuf = NULL;
  size_t loglen = 0;
  FILE *mem = open_memstream(&logbuf, &loglen);
  assert_non_null(mem);
  tw_log_set_output(mem);
  tw_log_level_t lvl = tw_log_get_level();
  tw_log_set_level(TW_LOG_TRACE);

  /* A corrupt file with a token inside: the error path logs nothing of
   * it. */
  write_file(f->path, "{\"version\":1,\"access_token\":\"" ACCESS_A "\",",
             0644);
  char detail[TW_MAX_TOKEN_DETAIL];
  assert_int_equal(load_rc(f->path, detail, sizeof(detail)), TW_EPARSE);
  assert_null(strstr(detail, ACCESS_A));

  /* Loading registers both tokens for redaction. */
  save_or_die(f->path, ACCESS_A, REFRESH_A);
  tw_log_clear_secrets();
  assert_false(redacted(ACCESS_A));
  chmod(f->path, 0644); /* makes load log a warning line */
  tw_token_store_t *s;
  assert_int_equal(tw_token_store_new(f->path, &s), 0);
  tw_token_set_t t;
  assert_int_equal(tw_token_store_load(s, &t), 0);
  tw_token_set_clear(&t);
  assert_true(redacted(ACCESS_A));
  assert_true(redacted(REFRESH_A));
  tw_info("test", "leak attempt %s / %s", ACCESS_A, REFRESH_A);

  /* A rotation saved through the same store: the new tokens are
   * registered, the retired ones unregistered (the logger's table would
   * fill up after a few dozen rotations otherwise). */
  tw_token_set_t nt = make_set(ACCESS_B, REFRESH_B, "a");
  assert_int_equal(tw_token_store_save(s, &nt), 0);
  tw_token_set_clear(&nt);
  assert_true(redacted(ACCESS_B));
  assert_true(redacted(REFRESH_B));
  assert_false(redacted(ACCESS_A));
  assert_false(redacted(REFRESH_A));
  /* A rotation that keeps the refresh token keeps it registered. */
  nt = make_set(ACCESS_A, REFRESH_B, "a");
  assert_int_equal(tw_token_store_save(s, &nt), 0);
  tw_token_set_clear(&nt);
  assert_true(redacted(REFRESH_B));
  assert_true(redacted(ACCESS_A));
  assert_false(redacted(ACCESS_B));
  /* Many rotations never exhaust the logger's table. */
  for (int i = 0; i < TW_LOG_MAX_SECRETS + 10; i++) {
    char a[32], r[32];
    snprintf(a, sizeof(a), "access%08d", i);
    snprintf(r, sizeof(r), "refresh%08d", i);
    nt = make_set(a, r, "a");
    assert_int_equal(tw_token_store_save(s, &nt), 0);
    tw_token_set_clear(&nt);
    assert_true(redacted(a));
    assert_true(redacted(r));
  }
  tw_token_store_free(s);

  fflush(mem);
  tw_log_set_output(NULL);
  tw_log_set_level(lvl);
  fclose(mem);
  assert_non_null(logbuf);
  assert_non_null(strstr(logbuf, "leak attempt [REDACTED] / [REDACTED]"));
  assert_non_null(strstr(logbuf, "changed to 0600"));
  assert_null(strstr(logbuf, ACCESS_A));
  assert_null(strstr(logbuf, REFRESH_A));
  assert_null(strstr(logbuf, ACCESS_B));
  free(logbuf);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
      cmocka_unit_test_setup_teardown(test_save_rejects, setup, teardown),
      cmocka_unit_test_setup_teardown(test_missing, setup, teardown),
      cmocka_unit_test_setup_teardown(test_corrupt, setup, teardown),
      cmocka_unit_test_setup_teardown(test_unknown_version, setup, teardown),
      cmocka_unit_test_setup_teardown(test_permissions, setup, teardown),
      cmocka_unit_test_setup_teardown(test_failed_write_keeps_old, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_readonly_dir, setup, teardown),
      cmocka_unit_test_setup_teardown(test_killed_mid_write, setup, teardown),
      cmocka_unit_test_setup_teardown(test_stale_temps, setup, teardown),
      cmocka_unit_test_setup_teardown(test_kill9_race, setup, teardown),
      cmocka_unit_test_setup_teardown(test_default_path, setup, teardown),
      cmocka_unit_test_setup_teardown(test_secrets, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
