/* twitchd: the token file. See twitchd/token_store.h for the contract.
 *
 * The one rule that shapes this file: the bytes at `path` are only ever
 * replaced by rename(2) of a complete, fsync'ed file. Nothing opens the
 * target for writing, so no failure can leave it half written.
 */
#include "twitchd/token_store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <jansson.h>

#include "twitchd/error.h"
#include "twitchd/log.h"

#define MOD "tokens"
/* Temporary files are "<dir>/.<base>.tmp.<pid>.<n>". */
#define TMP_INFIX ".tmp."

struct tw_token_store {
  char *path;
  char *dir;  /* directory part ("." when the path has none) */
  char *base; /* file name part */
  char detail[TW_MAX_TOKEN_DETAIL];
  /* The tokens this store registered with the logger, to unregister them
   * once a newer set replaces them. */
  char *reg_access;
  char *reg_refresh;
  unsigned tmp_counter;
};

/* ---- small helpers --------------------------------------------------------
 */

static void wipe_free(char *s) {
  if (s) {
    explicit_bzero(s, strlen(s));
    free(s);
  }
}

void tw_token_set_clear(tw_token_set_t *t) {
  if (!t)
    return;
  wipe_free(t->access_token);
  wipe_free(t->refresh_token);
  free(t->user_id);
  free(t->login);
  free(t->client_id);
  tw_scopes_free(&t->scopes);
  memset(t, 0, sizeof(*t));
}

static int fail(tw_token_store_t *s, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Records the detail ("<path>: <problem>") and returns rc. */
static int fail(tw_token_store_t *s, int rc, const char *fmt, ...) {
  va_list ap;
  int n = snprintf(s->detail, sizeof(s->detail), "%s: ", s->path);
  if (n < 0 || (size_t)n >= sizeof(s->detail))
    return rc;
  va_start(ap, fmt);
  vsnprintf(s->detail + n, sizeof(s->detail) - (size_t)n, fmt, ap);
  va_end(ap);
  return rc;
}

/* A token is visible ASCII: what Twitch issues, and what can go into an
 * HTTP header and be redacted from logs byte for byte. */
static bool token_ok(const char *s) {
  if (!s || !*s)
    return false;
  for (size_t i = 0; s[i]; i++) {
    unsigned char c = (unsigned char)s[i];
    if (i >= TW_MAX_OAUTH_TOKEN || c < 0x21 || c > 0x7e)
      return false;
  }
  return true;
}

/* Strict UTF-8 (no overlongs, surrogates or code points past U+10FFFF). */
static bool utf8_ok(const char *s) {
  const unsigned char *u = (const unsigned char *)s;
  while (*u) {
    unsigned char c = *u;
    size_t n;
    uint32_t cp;
    if (c < 0x80) {
      u++;
      continue;
    } else if (c >= 0xc2 && c <= 0xdf) {
      n = 2;
      cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      n = 3;
      cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    for (size_t k = 1; k < n; k++) {
      if ((u[k] & 0xc0) != 0x80)
        return false;
      cp = cp << 6 | (u[k] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff))
      return false;
    u += n;
  }
  return true;
}

static bool str_ok(const char *s) {
  return !s || (strlen(s) <= TW_MAX_TOKEN_STR && utf8_ok(s));
}

/* Registers the current tokens with the logger and unregisters the ones
 * this store registered before that are no longer current. */
static void track_secrets(tw_token_store_t *s, const tw_token_set_t *t) {
  const char *now[2] = {t->access_token, t->refresh_token};
  char **reg[2] = {&s->reg_access, &s->reg_refresh};
  for (int i = 0; i < 2; i++) {
    if (!now[i])
      continue;
    int rc = tw_log_add_secret(now[i]);
    if (rc != 0 && rc != TW_EINVAL)
      tw_warn(MOD, "could not register a token for log redaction: %s",
              tw_strerror(rc));
  }
  for (int i = 0; i < 2; i++) {
    char *old = *reg[i];
    if (!old)
      continue;
    bool current = (now[0] && strcmp(old, now[0]) == 0) ||
                   (now[1] && strcmp(old, now[1]) == 0);
    if (!current)
      tw_log_remove_secret(old);
    wipe_free(old);
    *reg[i] = NULL;
  }
  /* Best effort: a copy that cannot be made only means the old token
   * stays registered after the next rotation. */
  for (int i = 0; i < 2; i++)
    *reg[i] = now[i] ? strdup(now[i]) : NULL;
}

/* ---- paths ----------------------------------------------------------------
 */

int tw_token_store_default_path(char *out, size_t cap) {
  if (!out || cap == 0)
    return TW_EINVAL;
  const char *xdg = getenv("XDG_DATA_HOME");
  const char *home = getenv("HOME");
  int n;
  if (xdg && xdg[0] == '/')
    n = snprintf(out, cap, "%s/twitchd/tokens.json", xdg);
  else if (home && home[0])
    n = snprintf(out, cap, "%s/.local/share/twitchd/tokens.json", home);
  else
    return TW_ENOTFOUND;
  if (n < 0 || (size_t)n >= cap) {
    out[0] = '\0';
    return TW_ETOOBIG;
  }
  return 0;
}

int tw_token_store_new(const char *path, tw_token_store_t **out) {
  if (!out)
    return TW_EINVAL;
  *out = NULL;
  char def[TW_MAX_TOKEN_PATH];
  if (!path) {
    int rc = tw_token_store_default_path(def, sizeof(def));
    if (rc)
      return rc;
    path = def;
  }
  size_t len = strlen(path);
  if (len == 0 || path[len - 1] == '/')
    return TW_EINVAL;
  if (len >= TW_MAX_TOKEN_PATH - 64) /* room for the temp file suffix */
    return TW_ETOOBIG;
  tw_token_store_t *s = calloc(1, sizeof(*s));
  if (!s)
    return TW_ENOMEM;
  s->path = strdup(path);
  const char *slash = strrchr(path, '/');
  if (slash) {
    /* "/tokens.json" lives in "/". */
    size_t dlen = slash == path ? 1 : (size_t)(slash - path);
    s->dir = strndup(path, dlen);
    s->base = strdup(slash + 1);
  } else {
    s->dir = strdup(".");
    s->base = strdup(path);
  }
  if (!s->path || !s->dir || !s->base) {
    tw_token_store_free(s);
    return TW_ENOMEM;
  }
  *out = s;
  return 0;
}

void tw_token_store_free(tw_token_store_t *s) {
  if (!s)
    return;
  free(s->path);
  free(s->dir);
  free(s->base);
  wipe_free(s->reg_access);
  wipe_free(s->reg_refresh);
  free(s);
}

const char *tw_token_store_path(const tw_token_store_t *s) {
  return s ? s->path : NULL;
}

const char *tw_token_store_error(const tw_token_store_t *s) {
  return s ? s->detail : "";
}

/* Removes "<dir>/.<base>.tmp.<pid>.<n>" files whose writer is gone: a
 * process killed between creating and renaming its temporary file. Files of
 * live processes (another twitchd saving right now) are left alone. */
static void clean_stale_temps(tw_token_store_t *s) {
  DIR *d = opendir(s->dir);
  if (!d)
    return;
  char prefix[TW_MAX_TOKEN_PATH];
  int plen = snprintf(prefix, sizeof(prefix), ".%s" TMP_INFIX, s->base);
  if (plen < 0 || (size_t)plen >= sizeof(prefix)) {
    closedir(d);
    return;
  }
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strncmp(e->d_name, prefix, (size_t)plen) != 0)
      continue;
    char *end;
    errno = 0;
    long pid = strtol(e->d_name + plen, &end, 10);
    if (errno || end == e->d_name + plen || *end != '.' || pid <= 0)
      continue;
    if (pid == (long)getpid())
      continue;
    if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
      continue;
    if (unlinkat(dirfd(d), e->d_name, 0) == 0)
      tw_info(MOD, "removed %s/%s left by an interrupted save", s->dir,
              e->d_name);
  }
  closedir(d);
}

/* Creates the missing directories of `dir` with mode 0700 ("mkdir -p"). */
static int make_dirs(tw_token_store_t *s) {
  char p[TW_MAX_TOKEN_PATH];
  size_t len = strlen(s->dir);
  if (len >= sizeof(p))
    return fail(s, TW_EIO, "directory name too long");
  memcpy(p, s->dir, len + 1);
  for (size_t i = 1; i <= len; i++) {
    if (p[i] != '/' && p[i] != '\0')
      continue;
    char saved = p[i];
    p[i] = '\0';
    if (mkdir(p, 0700) != 0 && errno != EEXIST)
      return fail(s, TW_EIO, "cannot create directory %s: %s", p,
                  strerror(errno));
    p[i] = saved;
  }
  struct stat st;
  if (stat(s->dir, &st) != 0 || !S_ISDIR(st.st_mode))
    return fail(s, TW_EIO, "%s is not a directory", s->dir);
  return 0;
}

/* ---- load ------------------------------------------------------------------
 */

/* Reads a string member; absent or null is NULL. */
static int member_str(tw_token_store_t *s, json_t *root, const char *key,
                      bool token, char **out) {
  *out = NULL;
  json_t *v = json_object_get(root, key);
  if (!v || json_is_null(v))
    return 0;
  if (!json_is_string(v))
    return fail(s, TW_EPARSE, "\"%s\" is not a string", key);
  const char *str = json_string_value(v);
  size_t n = json_string_length(v);
  if (strlen(str) != n || (token ? !token_ok(str) : n > TW_MAX_TOKEN_STR))
    return fail(s, TW_EPARSE, "\"%s\" is malformed", key);
  if (!(*out = strdup(str)))
    return fail(s, TW_ENOMEM, "out of memory");
  return 0;
}

static int decode(tw_token_store_t *s, json_t *root, tw_token_set_t *t) {
  if (!json_is_object(root))
    return fail(s, TW_EPARSE, "not a JSON object");
  json_t *ver = json_object_get(root, "version");
  if (!ver)
    return fail(s, TW_EPARSE, "no \"version\": not a twitchd token file");
  if (!json_is_integer(ver))
    return fail(s, TW_EPARSE, "\"version\" is not an integer");
  if (json_integer_value(ver) != TW_TOKEN_STORE_VERSION)
    return fail(s, TW_EPARSE,
                "unknown format version %" JSON_INTEGER_FORMAT
                " (this twitchd reads version %d)",
                json_integer_value(ver), TW_TOKEN_STORE_VERSION);
  int rc;
  if ((rc = member_str(s, root, "access_token", true, &t->access_token)) ||
      (rc = member_str(s, root, "refresh_token", true, &t->refresh_token)) ||
      (rc = member_str(s, root, "user_id", false, &t->user_id)) ||
      (rc = member_str(s, root, "login", false, &t->login)) ||
      (rc = member_str(s, root, "client_id", false, &t->client_id)))
    return rc;
  if (!t->access_token)
    return fail(s, TW_EPARSE, "no \"access_token\"");
  json_t *exp = json_object_get(root, "expires_at_ms");
  if (exp && !json_is_null(exp)) {
    if (!json_is_integer(exp) || json_integer_value(exp) < 0)
      return fail(s, TW_EPARSE, "\"expires_at_ms\" is malformed");
    t->expires_at_ms = (uint64_t)json_integer_value(exp);
  }
  json_t *sc = json_object_get(root, "scopes");
  if (sc && !json_is_null(sc)) {
    if (!json_is_array(sc) || json_array_size(sc) > TW_MAX_SCOPES)
      return fail(s, TW_EPARSE, "\"scopes\" is malformed");
    size_t i;
    json_t *item;
    json_array_foreach(sc, i, item) {
      if (!json_is_string(item) ||
          strlen(json_string_value(item)) != json_string_length(item))
        return fail(s, TW_EPARSE, "\"scopes\" is malformed");
      rc = tw_scopes_add(&t->scopes, json_string_value(item));
      if (rc == TW_ENOMEM)
        return fail(s, rc, "out of memory");
      if (rc)
        return fail(s, TW_EPARSE, "\"scopes\" is malformed");
    }
  }
  return 0;
}

int tw_token_store_load(tw_token_store_t *s, tw_token_set_t *out) {
  if (!s || !out)
    return TW_EINVAL;
  memset(out, 0, sizeof(*out));
  s->detail[0] = '\0';
  int fd = open(s->path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    if (errno == ENOENT)
      return fail(s, TW_ENOTFOUND, "no such file");
    return fail(s, TW_EIO, "cannot open: %s", strerror(errno));
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    close(fd);
    return fail(s, TW_EIO, "cannot stat: %s", strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return fail(s, TW_EPARSE, "not a regular file");
  }
  if (st.st_size > TW_MAX_TOKEN_FILE) {
    close(fd);
    return fail(s, TW_EPARSE, "larger than %d bytes: not a token file",
                TW_MAX_TOKEN_FILE);
  }
  if ((st.st_mode & 077) != 0 && st.st_uid == geteuid()) {
    /* Someone (an older tool, a copy) left the tokens readable by others:
     * close that now rather than wait for the next save. */
    if (fchmod(fd, 0600) == 0)
      tw_warn(MOD,
              "%s was readable by other users (mode %04o); changed to "
              "0600",
              s->path, (unsigned)(st.st_mode & 07777));
  }
  /* Read one byte more than the cap to notice a file that grew. */
  char *buf = malloc(TW_MAX_TOKEN_FILE + 1);
  if (!buf) {
    close(fd);
    return fail(s, TW_ENOMEM, "out of memory");
  }
  size_t len = 0;
  for (;;) {
    ssize_t n = read(fd, buf + len, TW_MAX_TOKEN_FILE + 1 - len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      int e = errno;
      free(buf);
      close(fd);
      return fail(s, TW_EIO, "cannot read: %s", strerror(e));
    }
    if (n == 0 || (len += (size_t)n) > TW_MAX_TOKEN_FILE)
      break;
  }
  close(fd);
  if (len > TW_MAX_TOKEN_FILE) {
    explicit_bzero(buf, len);
    free(buf);
    return fail(s, TW_EPARSE, "larger than %d bytes: not a token file",
                TW_MAX_TOKEN_FILE);
  }
  json_error_t jerr;
  json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
  explicit_bzero(buf, len);
  free(buf);
  if (!root) {
    /* jansson's own text quotes the bytes near the error, which may be
     * part of a token: only the position goes into the detail. */
    if (len == 0)
      return fail(s, TW_EPARSE, "empty file");
    return fail(s, TW_EPARSE, "not valid JSON (line %d, column %d)", jerr.line,
                jerr.column);
  }
  int rc = decode(s, root, out);
  json_decref(root);
  if (rc) {
    tw_token_set_clear(out);
    return rc;
  }
  track_secrets(s, out);
  clean_stale_temps(s);
  return 0;
}

/* ---- save ------------------------------------------------------------------
 */

static json_t *encode(const tw_token_set_t *t) {
  json_t *o = json_object();
  json_t *sc = json_array();
  bool ok =
      o && sc &&
      json_object_set_new(o, "version", json_integer(TW_TOKEN_STORE_VERSION)) ==
          0 &&
      json_object_set_new(o, "access_token", json_string(t->access_token)) == 0;
  if (ok && t->refresh_token)
    ok = json_object_set_new(o, "refresh_token",
                             json_string(t->refresh_token)) == 0;
  if (ok)
    ok = json_object_set_new(o, "expires_at_ms",
                             json_integer((json_int_t)t->expires_at_ms)) == 0;
  for (size_t i = 0; ok && i < t->scopes.n; i++)
    ok = json_array_append_new(sc, json_string(t->scopes.v[i])) == 0;
  if (ok) {
    ok = json_object_set_new(o, "scopes", sc) == 0;
    sc = NULL;
  }
  const struct {
    const char *key;
    const char *val;
  } opt[] = {{"user_id", t->user_id},
             {"login", t->login},
             {"client_id", t->client_id}};
  for (size_t i = 0; ok && i < sizeof(opt) / sizeof(opt[0]); i++)
    if (opt[i].val)
      ok = json_object_set_new(o, opt[i].key, json_string(opt[i].val)) == 0;
  json_decref(sc);
  if (!ok) {
    json_decref(o);
    return NULL;
  }
  return o;
}

static int write_all(int fd, const char *p, size_t n) {
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0)
      return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

int tw_token_store_save(tw_token_store_t *s, const tw_token_set_t *t) {
  if (!s || !t)
    return TW_EINVAL;
  s->detail[0] = '\0';
  if (!token_ok(t->access_token))
    return fail(s, TW_EINVAL, "refusing to save: no valid access token");
  if (t->refresh_token && !token_ok(t->refresh_token))
    return fail(s, TW_EINVAL, "refusing to save: malformed refresh token");
  if (!str_ok(t->user_id) || !str_ok(t->login) || !str_ok(t->client_id) ||
      t->expires_at_ms > (uint64_t)INT64_MAX)
    return fail(s, TW_EINVAL, "refusing to save: malformed field");
  for (size_t i = 0; i < t->scopes.n; i++)
    if (!token_ok(t->scopes.v[i]))
      return fail(s, TW_EINVAL, "refusing to save: malformed scope");

  json_t *o = encode(t);
  if (!o)
    return fail(s, TW_ENOMEM, "out of memory");
  char *text = json_dumps(o, JSON_INDENT(2));
  json_decref(o);
  if (!text)
    return fail(s, TW_ENOMEM, "out of memory");
  size_t tlen = strlen(text);

  int rc = make_dirs(s);
  if (rc) {
    wipe_free(text);
    return rc;
  }

  /* The temporary file: same directory (rename is atomic only within one
   * file system), a name no other writer uses, O_EXCL so that an existing
   * file or symlink is never followed or reused. */
  char tmp[TW_MAX_TOKEN_PATH];
  int fd = -1;
  for (int attempt = 0; attempt < 16 && fd < 0; attempt++) {
    int n = snprintf(tmp, sizeof(tmp), "%s/.%s" TMP_INFIX "%ld.%u", s->dir,
                     s->base, (long)getpid(), s->tmp_counter++);
    if (n < 0 || (size_t)n >= sizeof(tmp)) {
      wipe_free(text);
      return fail(s, TW_EIO, "path too long");
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 && errno != EEXIST)
      break;
  }
  if (fd < 0) {
    int e = errno;
    wipe_free(text);
    return fail(s, TW_EIO, "cannot create a temporary file in %s: %s", s->dir,
                strerror(e));
  }
  const char *step = NULL;
  int e = 0;
  /* The umask can only have removed bits from 0600; fchmod makes the mode
   * exactly 0600 whatever it was (0400 under umask 0277, say). */
  if (fchmod(fd, 0600) != 0)
    step = "set the mode of";
  else if (write_all(fd, text, tlen) != 0 || write_all(fd, "\n", 1) != 0)
    step = "write";
  else if (fsync(fd) != 0)
    step = "flush";
  if (step)
    e = errno;
  if (close(fd) != 0 && !step) {
    step = "close";
    e = errno;
  }
  wipe_free(text);
  if (!step && rename(tmp, s->path) != 0) {
    step = "rename over the token file";
    e = errno;
  }
  if (step) {
    unlink(tmp);
    return fail(s, TW_EIO, "cannot %s %s: %s (the previous file is unchanged)",
                step, tmp, strerror(e));
  }
  /* Make the rename itself durable. Failing here is reported in the log
   * only: the new file is complete and in place either way. */
  int dfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0 || fsync(dfd) != 0)
    tw_warn(MOD, "could not flush directory %s: %s", s->dir, strerror(errno));
  if (dfd >= 0)
    close(dfd);
  track_secrets(s, t);
  clean_stale_temps(s);
  tw_debug(MOD, "saved tokens to %s", s->path);
  return 0;
}
