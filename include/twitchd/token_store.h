/* twitchd: the token file.
 *
 * twitchd keeps its Twitch credentials in one JSON file so that a restart
 * does not need a person to log in again, and so that a rotated refresh
 * token (Twitch may invalidate the old one as soon as it issues a new one)
 * is never lost:
 *
 *   {
 *     "version": 1,
 *     "access_token": "...",
 *     "refresh_token": "...",
 *     "expires_at_ms": 1764107400000,
 *     "scopes": ["chat:read", "chat:edit"],
 *     "user_id": "141981764",
 *     "login": "twitchdev",
 *     "client_id": "..."
 *   }
 *
 * expires_at_ms is absolute (milliseconds since the Unix epoch), so that the
 * expiry survives restarts; 0 means unknown. Only version 1 is read; a file
 * of another version is refused rather than guessed at.
 *
 * Writing is atomic and private: a temporary file in the same directory is
 * created with O_CREAT|O_EXCL and mode 0600 (whatever the umask, whatever
 * the old file's mode), written, fsync'ed and renamed over the target, and
 * the directory is fsync'ed. A crash or a failed write (disk full, file
 * size limit, read-only directory) leaves the previous file as it was:
 * readers see the old content or the new one, never a mix. Temporary files
 * whose writer is gone (killed mid-write) are ignored by loads and removed by
 * the next load or save. ("Gone" means kill(pid, 0) says no such process;
 * a writer in another PID namespace sharing the directory could look gone,
 * and would then see its own save fail with TW_EIO, never a damaged file.)
 * A symlink at `path` is replaced by the new file, not written through.
 *
 * Secrets: load and save register the access and refresh tokens with
 * tw_log_add_secret(), so they are redacted from every log line; when a
 * later load or save replaces them, the store unregisters the ones it had
 * registered and that are no longer current, so rotation does not fill the
 * logger's table. Error details name the file and the problem, never the
 * content.
 *
 * Not thread-safe: one store is used by one thread (the loop's).
 */
#ifndef TWITCHD_TOKEN_STORE_H
#define TWITCHD_TOKEN_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "twitchd/oauth.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TW_TOKEN_STORE_VERSION 1
#define TW_MAX_TOKEN_FILE 65536 /* largest token file read, in bytes */
#define TW_MAX_TOKEN_PATH 4096  /* longest path, in bytes */
#define TW_MAX_TOKEN_DETAIL 512 /* longest error detail */
#define TW_MAX_TOKEN_STR 1024   /* user id, login, client id; in bytes */

/* What the file holds. Every string is owned (malloc'ed) by the struct;
 * NULL means absent. Free with tw_token_set_clear(). */
typedef struct {
  char *access_token;     /* required to save */
  char *refresh_token;    /* NULL for app tokens */
  uint64_t expires_at_ms; /* epoch ms; 0 unknown */
  tw_scopes_t scopes;
  char *user_id;
  char *login; /* UTF-8 */
  char *client_id;
} tw_token_set_t;

/* Frees every string (overwriting the tokens first) and zeroes the set. */
void tw_token_set_clear(tw_token_set_t *t);

typedef struct tw_token_store tw_token_store_t;

/* Writes the default path into `out` (capacity `cap`):
 * $XDG_DATA_HOME/twitchd/tokens.json when XDG_DATA_HOME is set to an
 * absolute path (the XDG spec says to ignore a relative one), else
 * $HOME/.local/share/twitchd/tokens.json. Reads the environment; creates
 * nothing. Returns 0, TW_ENOTFOUND (neither variable usable) or TW_ETOOBIG.
 */
int tw_token_store_default_path(char *out, size_t cap);

/* Creates a store for the file at `path` (copied), or at the default path
 * when `path` is NULL. Touches no file. Returns 0 and *out (free with
 * tw_token_store_free()), TW_EINVAL (empty path, *out NULL),
 * TW_ENOTFOUND (no default path), TW_ETOOBIG or TW_ENOMEM. */
int tw_token_store_new(const char *path, tw_token_store_t **out);

/* Frees the store. It does not unregister the current secrets: the tokens
 * may still be in use elsewhere. NULL is ignored. */
void tw_token_store_free(tw_token_store_t *s);

/* The file's path (owned by the store). */
const char *tw_token_store_path(const tw_token_store_t *s);

/* A sentence about the last failure, naming the file (never its content);
 * "" after a success. Owned by the store, valid until the next call. */
const char *tw_token_store_error(const tw_token_store_t *s);

/* Reads the file into `out` (emptied first; on error left empty).
 * Returns 0;
 *   TW_ENOTFOUND  the file does not exist (first run: log in);
 *   TW_EPARSE     it exists but is not a usable token file: not JSON, not
 *                 an object, an unknown "version", a missing or malformed
 *                 member, larger than TW_MAX_TOKEN_FILE, not a regular
 *                 file;
 *   TW_EIO        it cannot be read (permissions, I/O error);
 *   TW_ENOMEM, TW_EINVAL.
 * A file readable by others (mode & 077) is loaded, narrowed to 0600 and
 * a warning is logged. */
int tw_token_store_load(tw_token_store_t *s, tw_token_set_t *out);

/* Writes `t` (borrowed) atomically, as described above, creating missing
 * directories with mode 0700. Returns 0; TW_EINVAL (no access token, a
 * string that is not UTF-8 or over TW_MAX_TOKEN_STR, a token that is not
 * visible ASCII); TW_EIO (any file system failure: the old file is
 * unchanged); TW_ENOMEM. */
int tw_token_store_save(tw_token_store_t *s, const tw_token_set_t *t);

#ifdef __cplusplus
}
#endif
#endif
