/* twitchd: scope lists and the table of scopes twitchd asks for.
 *
 * The table below is the one source for tw_oauth_scopes_for(),
 * tw_oauth_scope_reason() and docs/scopes.md (kept in the same order; a
 * unit test checks that every scope here is described there). Requesting
 * more scopes than an app uses is against Twitch's rules ("Twitch may
 * suspend your application's access"), so features map to scopes one by
 * one and nothing is requested "just in case".
 */
#include <stdlib.h>
#include <string.h>

#include "proto/http_util.h"
#include "twitchd/error.h"
#include "twitchd/oauth.h"

static bool scope_name_ok(const char *s) {
  return tw__is_visible_ascii(s, TW_MAX_SCOPE_LEN);
}

int tw_scopes_add(tw_scopes_t *s, const char *scope) {
  if (!s || !scope_name_ok(scope))
    return TW_EINVAL;
  if (tw_scopes_has(s, scope))
    return 0;
  if (s->n >= TW_MAX_SCOPES)
    return TW_EFULL;
  char **v = realloc(s->v, (s->n + 1) * sizeof(*v));
  if (!v)
    return TW_ENOMEM;
  s->v = v;
  if (!(v[s->n] = strdup(scope)))
    return TW_ENOMEM;
  s->n++;
  return 0;
}

int tw_scopes_add_spaced(tw_scopes_t *s, const char *text, size_t len) {
  if (!s || (!text && len))
    return TW_EINVAL;
  size_t before = s->n;
  char name[TW_MAX_SCOPE_LEN + 1];
  size_t i = 0;
  int rc = 0;
  while (i < len) {
    while (i < len && text[i] == ' ')
      i++;
    size_t start = i;
    while (i < len && text[i] != ' ')
      i++;
    size_t n = i - start;
    if (n == 0)
      break;
    if (n > TW_MAX_SCOPE_LEN) {
      rc = TW_EINVAL;
      break;
    }
    memcpy(name, text + start, n);
    name[n] = '\0';
    /* A NUL inside the counted text would hide the rest of the name. */
    if (strlen(name) != n) {
      rc = TW_EINVAL;
      break;
    }
    if ((rc = tw_scopes_add(s, name)) != 0)
      break;
  }
  if (rc != 0) {
    /* Roll back to the list as it was. */
    while (s->n > before)
      free(s->v[--s->n]);
  }
  return rc;
}

bool tw_scopes_has(const tw_scopes_t *s, const char *scope) {
  if (!s || !scope)
    return false;
  for (size_t i = 0; i < s->n; i++)
    if (strcmp(s->v[i], scope) == 0)
      return true;
  return false;
}

int tw_scopes_copy(tw_scopes_t *dst, const tw_scopes_t *src) {
  if (!dst || !src)
    return TW_EINVAL;
  tw_scopes_t tmp = {0};
  for (size_t i = 0; i < src->n; i++) {
    int rc = tw_scopes_add(&tmp, src->v[i]);
    if (rc != 0) {
      tw_scopes_free(&tmp);
      tw_scopes_free(dst);
      return rc;
    }
  }
  tw_scopes_free(dst);
  *dst = tmp;
  return 0;
}

int tw_scopes_missing(const tw_scopes_t *have, const tw_scopes_t *need,
                      tw_scopes_t *missing) {
  if (!have || !need || !missing)
    return TW_EINVAL;
  size_t before = missing->n;
  for (size_t i = 0; i < need->n; i++) {
    if (tw_scopes_has(have, need->v[i]))
      continue;
    int rc = tw_scopes_add(missing, need->v[i]);
    if (rc != 0) {
      while (missing->n > before)
        free(missing->v[--missing->n]);
      return rc;
    }
  }
  return (int)(missing->n - before);
}

int tw_scopes_join(const tw_scopes_t *s, tw_buf_t *out) {
  if (!s || !out)
    return TW_EINVAL;
  size_t start = out->len;
  for (size_t i = 0; i < s->n; i++) {
    int rc;
    if ((i > 0 && (rc = tw_buf_append(out, " ", 1)) != 0) ||
        (rc = tw_buf_append_str(out, s->v[i])) != 0) {
      tw__buf_truncate(out, start);
      return rc;
    }
  }
  return 0;
}

void tw_scopes_free(tw_scopes_t *s) {
  if (!s)
    return;
  for (size_t i = 0; i < s->n; i++)
    free(s->v[i]);
  free(s->v);
  s->v = NULL;
  s->n = 0;
}

/* ---- what twitchd asks for ------------------------------------------------
 */

typedef struct {
  unsigned feature;
  const char *scope;
  const char *reason;
} scope_row_t;

static const scope_row_t k_scopes[] = {
    {TW_FEAT_IRC_READ, "chat:read",
     "Log in to chat over IRC and receive its messages."},
    {TW_FEAT_IRC_SEND, "chat:edit", "Send chat messages over IRC."},
    {TW_FEAT_EVENTSUB_CHAT, "user:read:chat",
     "Receive chat through EventSub (channel.chat.message, "
     "channel.chat.notification, message deletes and clears)."},
    {TW_FEAT_HELIX_SEND, "user:write:chat",
     "Send chat through Helix Send Chat Message, which reports whether "
     "each message was delivered (is_sent, drop_reason)."},
    {TW_FEAT_BOT_BADGE, "user:bot",
     "Granted by the bot account: lets the app chat as it with an app "
     "access token (the Chat Bot badge)."},
    {TW_FEAT_BOT_BADGE, "channel:bot",
     "Granted by the broadcaster: lets the app's bot chat in the channel "
     "with an app access token without being a moderator."},
    {TW_FEAT_BAN, "moderator:manage:banned_users",
     "Ban, time out and unban users (Helix Ban User, Unban User); IRC "
     "/ban no longer works."},
    {TW_FEAT_DELETE_MESSAGE, "moderator:manage:chat_messages",
     "Delete one chat message or clear the chat (Helix Delete Chat "
     "Messages); IRC /delete no longer works."},
    {TW_FEAT_SET_TITLE, "channel:manage:broadcast",
     "Change the stream title (Helix Modify Channel Information)."},
    {TW_FEAT_CLIPS, "clips:edit", "Create clips (Helix Create Clip)."},
    {TW_FEAT_ANNOUNCE, "moderator:manage:announcements",
     "Send chat announcements (Helix Send Chat Announcement)."},
    {TW_FEAT_SHOUTOUT, "moderator:manage:shoutouts",
     "Send shoutouts (Helix Send a Shoutout)."},
    {TW_FEAT_WHISPER, "user:manage:whispers",
     "Send whispers (Helix Send Whisper); IRC /w no longer works."},
    {TW_FEAT_FOLLOWS, "moderator:read:followers",
     "Receive follows (EventSub channel.follow version 2) and list "
     "followers (Helix Get Channel Followers)."},
    {TW_FEAT_SUBSCRIPTIONS, "channel:read:subscriptions",
     "Receive subscriptions, resubscription messages and gift "
     "subscriptions (EventSub channel.subscribe, "
     "channel.subscription.message, channel.subscription.gift)."},
    {TW_FEAT_CHEERS, "bits:read", "Receive cheers (EventSub channel.cheer)."},
    {TW_FEAT_BAN_EVENTS, "channel:moderate",
     "Receive bans and unbans done by anyone (EventSub channel.ban, "
     "channel.unban)."},
};

/* Scopes that appear in the seed's example URL (or were common in old
 * bots) and that Twitch no longer has or no longer uses. */
typedef struct {
  const char *scope;
  const char *what;
} removed_row_t;

static const removed_row_t k_removed[] = {
    {"channel_subscriptions",
     "Kraken (API v5) scope; Kraken was shut down on 2022-02-28. Use "
     "channel:read:subscriptions."},
    {"viewing_activity_read",
     "Kraken (API v5) scope; Kraken was shut down on 2022-02-28."},
    {"channel_feed_read",
     "Kraken (API v5) scope; channel feeds and Kraken are gone."},
    {"channel_editor",
     "Kraken (API v5) scope; Kraken was shut down on 2022-02-28. Use "
     "channel:manage:broadcast."},
    {"channel_read",
     "Kraken (API v5) scope; Kraken was shut down on 2022-02-28."},
    {"user:edit:follows",
     "Deprecated: it was for Create/Delete User Follows, which Twitch "
     "removed; no endpoint uses it."},
    {"chat_login", "Kraken-era chat scope; use chat:read and chat:edit."},
    {"user_read", "Kraken (API v5) scope; Kraken was shut down."},
    {"user_follows_edit", "Kraken (API v5) scope; Kraken was shut down."},
    {"channel_commercial", "Kraken (API v5) scope; Kraken was shut down."},
    {"channel_check_subscription",
     "Kraken (API v5) scope; Kraken was shut down."},
    {"channel_stream", "Kraken (API v5) scope; Kraken was shut down."},
    {"user_subscriptions", "Kraken (API v5) scope; Kraken was shut down."},
    {"user_blocks_edit", "Kraken (API v5) scope; Kraken was shut down."},
    {"user_blocks_read", "Kraken (API v5) scope; Kraken was shut down."},
    {"channel_feed_edit", "Kraken (API v5) scope; Kraken was shut down."},
    {"collections_edit", "Kraken (API v5) scope; Kraken was shut down."},
    {"communities_edit", "Kraken (API v5) scope; communities are gone."},
    {"communities_moderate", "Kraken (API v5) scope; communities are gone."},
};

int tw_oauth_scopes_for(unsigned features, tw_scopes_t *out) {
  if (!out || (features & ~TW_FEAT_ALL) != 0)
    return TW_EINVAL;
  size_t before = out->n;
  for (size_t i = 0; i < sizeof(k_scopes) / sizeof(k_scopes[0]); i++) {
    if (!(features & k_scopes[i].feature))
      continue;
    int rc = tw_scopes_add(out, k_scopes[i].scope);
    if (rc != 0) {
      while (out->n > before)
        free(out->v[--out->n]);
      return rc;
    }
  }
  return 0;
}

const char *tw_oauth_scope_reason(const char *scope) {
  if (!scope)
    return NULL;
  for (size_t i = 0; i < sizeof(k_scopes) / sizeof(k_scopes[0]); i++)
    if (strcmp(k_scopes[i].scope, scope) == 0)
      return k_scopes[i].reason;
  return NULL;
}

const char *tw_oauth_scope_removed(const char *scope) {
  if (!scope)
    return NULL;
  for (size_t i = 0; i < sizeof(k_removed) / sizeof(k_removed[0]); i++)
    if (strcmp(k_removed[i].scope, scope) == 0)
      return k_removed[i].what;
  return NULL;
}
