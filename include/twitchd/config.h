/* twitchd: the configuration file.
 *
 * A YAML file (docs/configuration.md documents every key) is loaded into an
 * opaque tw_config_t. Loading never stops at the first problem: every error
 * is collected with its file, line and column (1-based; columns count
 * characters) so that `twitchd check` can show them all at once, e.g.
 *
 *   twitchd.yaml:7:5: unknown key 'clientid' in connectors.twitch (did you
 *   mean 'client-id'?)
 *
 * Besides errors, loading may record notes: things that are accepted but
 * deserve a line in the log (a deprecated key, say). The runtime logs each
 * note once at start-up.
 *
 * The opsdroid seed's configuration block is accepted verbatim.
 *
 * Ownership: everything a getter returns (strings, structs, nodes) is owned
 * by the tw_config_t and stays valid until tw_config_free().
 */
#ifndef TWITCHD_CONFIG_H
#define TWITCHD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "twitchd/log.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TW_CONFIG_MAX_BYTES (1024 * 1024) /* largest config file accepted */
#define TW_CONFIG_MAX_ERRORS 100   /* errors kept; one more says "too many" */
#define TW_CONFIG_MAX_NOTES 32     /* notes kept */
#define TW_CONFIG_MAX_MSG 512      /* longest error or note message */
#define TW_CONFIG_MAX_DEPTH 64     /* deepest nesting of lists and maps */
#define TW_CONFIG_MAX_NODES 100000 /* YAML nodes in one file */
#define TW_CONFIG_MAX_STR 16384    /* longest scalar, in bytes */
#define TW_CONFIG_MAX_CHANNELS 100 /* channels of one connector */
#define TW_CONFIG_MAX_SKILLS 256   /* skills */
#define TW_CONFIG_MAX_NAME 64      /* longest skill or webhook name */
#define TW_CONFIG_MAX_WEBHOOKS 16  /* outgoing webhook instances */

typedef struct tw_config tw_config_t;

/* One error or note: where and what. `file` is the name the config was
 * loaded under. line and col are 1-based; both are 0 when the problem has no
 * position (an unreadable file). */
typedef struct {
  const char *file;
  int line;
  int col;
  const char *message;
} tw_config_diag_t;

/* A URL from the configuration, parsed. Strings are lower case where URLs
 * are case-insensitive (scheme, host). `host` has no brackets for IPv6.
 * `port` is the explicit port or the scheme's default. `path` is "" when
 * the URL has none. */
typedef struct {
  const char *url; /* as written (or the default) */
  const char *scheme;
  const char *host;
  int port;
  const char *path;
  bool tls; /* wss, https, ircs */
} tw_config_url_t;

/* How the twitch connector sends chat messages (connectors.twitch
 * send-chat): over the IRC connection, or with Helix Send Chat Message,
 * which reports whether each message was sent or why it was dropped. */
typedef enum { TW_SEND_CHAT_IRC = 0, TW_SEND_CHAT_HELIX } tw_send_chat_t;

/* connectors.twitch. Strings are NULL when absent and have no default. */
typedef struct {
  const char *code;            /* secret; OAuth authorization code */
  const char *client_id;       /* required */
  const char *client_secret;   /* secret */
  const char *const *channels; /* lower-case logins without '#' */
  size_t channel_count;        /* at least 1 */
  tw_config_url_t redirect;    /* default http://localhost */
  tw_config_url_t forward_url; /* .url is NULL when absent */
  /* Accepted for the seed's sake; EventSub subscriptions do not lease, so
   * it has no effect (a note says so). */
  int64_t webhook_lease_seconds;
  bool has_webhook_lease_seconds;
  bool always_listening;    /* default false */
  const char *token_file;   /* absolute or relative to the working dir */
  const char *ca_file;      /* NULL, or an existing readable file */
  tw_config_url_t irc;      /* default wss://irc-ws.chat.twitch.tv:443 */
  tw_config_url_t eventsub; /* default wss://eventsub.wss.twitch.tv/ws */
  tw_config_url_t helix;    /* default https://api.twitch.tv/helix */
  tw_config_url_t oauth;    /* default https://id.twitch.tv/oauth2 */
  tw_send_chat_t send_chat; /* default TW_SEND_CHAT_IRC */
  /* Seconds between two Get Streams polls (stream up/down events, and
   * chat joins when always_listening is false); 0 turns polling off.
   * Default 60. */
  int stream_check_seconds;
  /* Receive events over EventSub's WebSocket transport (default true). */
  bool eventsub_enabled;
  /* Secret of the EventSub webhook subscriptions (with forward-url); NULL:
   * a random one per start. */
  const char *eventsub_secret;
} tw_config_twitch_t;

/* The chat services an outgoing webhook can post to (connectors.webhook
 * kind). twitchd/webhook.h, which delivers the messages, uses this type. */
typedef enum {
  TW_WEBHOOK_DISCORD = 0,
  TW_WEBHOOK_SLACK,
  TW_WEBHOOK_ROCKETCHAT
} tw_webhook_kind_t;

/* One outgoing webhook instance of connectors.webhook: skills address it by
 * `name` (the connector name of their Message). */
typedef struct {
  const char *name; /* "webhook" in the single form, else the map key */
  tw_webhook_kind_t kind;
  tw_config_url_t url;  /* secret: the URL carries the webhook's token */
  const char *username; /* NULL when absent */
  int line;             /* where the instance is configured */
  int col;
} tw_config_webhook_t;

typedef struct {
  tw_log_level_t level;   /* default TW_LOG_INFO */
  tw_log_format_t format; /* default TW_LOG_TEXT */
} tw_config_logging_t;

typedef struct {
  const char *host; /* default "127.0.0.1" */
  int port;         /* default 8080; 0 picks a free port */
} tw_config_web_t;

/* A generic YAML value: what skill options are made of. Plain scalars are
 * typed with the YAML 1.2 core schema (true/false, null/~, integers, floats);
 * quoted and block scalars are strings. */
typedef enum {
  TW_CONFIG_NULL = 0,
  TW_CONFIG_BOOL,
  TW_CONFIG_INT,
  TW_CONFIG_FLOAT,
  TW_CONFIG_STRING,
  TW_CONFIG_LIST,
  TW_CONFIG_MAP
} tw_config_type_t;

typedef struct tw_config_node tw_config_node_t;

/* One skill. `options` is a map (never NULL, possibly empty) of every key
 * of the skill's entry except name and path, in file order. */
typedef struct {
  const char *name;
  const char *path; /* NULL when not given; resolved like other paths */
  const tw_config_node_t *options;
  int line; /* where the skill's entry starts */
  int col;
} tw_config_skill_t;

/* Allocates an empty configuration (NULL when out of memory). Free it with
 * tw_config_free(). */
tw_config_t *tw_config_new(void);

/* Frees the configuration and everything its getters returned. NULL is
 * ignored. */
void tw_config_free(tw_config_t *cfg);

/* Loads and validates the file at `path` (borrowed). Relative paths inside
 * it (token-file, ca-file, skill paths) are resolved against the file's
 * directory. Returns 0 when the configuration is valid; TW_ECONFIG when it
 * is not (every problem is in the error list); TW_EIO when the file cannot
 * be read and TW_ETOOBIG when it exceeds TW_CONFIG_MAX_BYTES (both also
 * recorded as an error without a position); TW_ESTATE when cfg was already
 * loaded; TW_ENOMEM; TW_EINVAL for NULL arguments. */
int tw_config_load_file(tw_config_t *cfg, const char *path);

/* The same from memory: `len` bytes at `data` (borrowed; any bytes; need
 * not be NUL-terminated). `name` (borrowed, copied) is the file name used in
 * messages; relative paths are left relative to the working directory. */
int tw_config_load_buffer(tw_config_t *cfg, const char *name, const void *data,
                          size_t len);

/* Errors, sorted by position. At most TW_CONFIG_MAX_ERRORS + 1 (the last
 * then says that more were dropped). NULL when i is out of range. */
size_t tw_config_error_count(const tw_config_t *cfg);
const tw_config_diag_t *tw_config_error(const tw_config_t *cfg, size_t i);

/* Notes (warnings that do not make the configuration invalid), sorted by
 * position; see the file comment. */
size_t tw_config_note_count(const tw_config_t *cfg);
const tw_config_diag_t *tw_config_note(const tw_config_t *cfg, size_t i);

/* Writes "file:line:col: message" (or "file: message" without a position)
 * into buf (capacity cap, always NUL-terminated, truncated if needed).
 * Returns the length the full text needs, as snprintf does. */
int tw_config_diag_format(const tw_config_diag_t *d, char *buf, size_t cap);

/* The name the configuration was loaded under (NULL before loading). */
const char *tw_config_source(const tw_config_t *cfg);

/* The validated sections. All return NULL unless the last load returned 0
 * (a configuration with errors offers no values, so that nothing runs on a
 * half-valid one). */
const tw_config_twitch_t *tw_config_twitch(const tw_config_t *cfg);
const tw_config_logging_t *tw_config_logging(const tw_config_t *cfg);
const tw_config_web_t *tw_config_web(const tw_config_t *cfg);

/* Skills, in file order (0 and NULL unless loaded without errors). */
size_t tw_config_skill_count(const tw_config_t *cfg);
const tw_config_skill_t *tw_config_skill(const tw_config_t *cfg, size_t i);

/* Outgoing webhook instances (connectors.webhook), in file order (0 and
 * NULL unless loaded without errors). */
size_t tw_config_webhook_count(const tw_config_t *cfg);
const tw_config_webhook_t *tw_config_webhook(const tw_config_t *cfg, size_t i);

/* Calls fn once for every secret in the configuration (connectors.twitch
 * client-secret and code when set, every webhook URL), so that the runtime
 * can register them with tw_log_add_secret(). The string is borrowed for
 * the call. Does nothing unless loaded without errors. */
void tw_config_foreach_secret(const tw_config_t *cfg,
                              void (*fn)(const char *secret, void *arg),
                              void *arg);

/* The whole document as a generic tree (NULL unless loaded without errors;
 * an empty file gives NULL). */
const tw_config_node_t *tw_config_root(const tw_config_t *cfg);

/* Generic node access. All accept NULL and then return the zero value. */
tw_config_type_t tw_config_node_type(const tw_config_node_t *n);
/* A scalar's text: the string of a STRING, the source text of a plain
 * BOOL/INT/FLOAT/NULL ("yes", "0x1F", "~"). NULL for LIST and MAP. */
const char *tw_config_node_string(const tw_config_node_t *n);
bool tw_config_node_bool(const tw_config_node_t *n);    /* BOOL only */
int64_t tw_config_node_int(const tw_config_node_t *n);  /* INT only */
double tw_config_node_float(const tw_config_node_t *n); /* FLOAT or INT */
/* Number of items of a LIST or pairs of a MAP; 0 for scalars. */
size_t tw_config_node_size(const tw_config_node_t *n);
/* Item i of a LIST, or the value of pair i of a MAP. */
const tw_config_node_t *tw_config_node_item(const tw_config_node_t *n,
                                            size_t i);
/* The key of pair i of a MAP. */
const char *tw_config_node_key(const tw_config_node_t *n, size_t i);
/* The value for `key` in a MAP (the first one), or NULL. */
const tw_config_node_t *tw_config_node_get(const tw_config_node_t *n,
                                           const char *key);
/* Where the node starts (1-based; 0 for NULL). */
int tw_config_node_line(const tw_config_node_t *n);
int tw_config_node_col(const tw_config_node_t *n);
/* "null", "bool", "int", "float", "string", "list" or "map" (static). */
const char *tw_config_type_name(tw_config_type_t type);

#ifdef __cplusplus
}
#endif
#endif
