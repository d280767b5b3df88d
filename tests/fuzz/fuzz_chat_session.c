/* Fuzzes the chat session (the client's state machine) with what a server
 * may send. The input is split into lines; a line's first byte may be a
 * command instead of server data:
 *   0x01 N   let N*100 ms pass (timeouts, keepalive, reconnect backoff)
 *   0x02     the current connection drops
 *   0x03 T   the bot says T in #chan (the send queue runs)
 *   0x04     a refreshed token arrives / 0x05 the refresh fails
 * Every other line is fed to the newest connection as received bytes, after
 * a login sequence that gets the session logged in and joined. Nothing may
 * crash, leak, hang or read outside its buffers, whatever the server says. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "twitch/chat_session.h"
#include "twitchd/event.h"

typedef struct {
  uint64_t open_pending; /* a connection the session asked for */
  uint64_t current;      /* the newest connection brought up */
  int refresh_asked;
} st_t;

static void op_open(void *ud, uint64_t conn) {
  ((st_t *)ud)->open_pending = conn;
}
static void op_close(void *ud, uint64_t conn) {
  st_t *st = ud;
  if (st->current == conn)
    st->current = 0;
}
static void op_write(void *ud, uint64_t conn, const char *d, size_t n) {
  (void)ud;
  (void)conn;
  (void)d;
  (void)n;
}
static void op_event(void *ud, tw_event_t *ev) {
  (void)ud;
  tw_event_free(ev);
}
static void op_refresh(void *ud) {
  ((st_t *)ud)->refresh_asked = 1;
}

static const char *const login_lines[] = {
    ":tmi.twitch.tv CAP * ACK :twitch.tv/tags twitch.tv/commands "
    "twitch.tv/membership",
    ":tmi.twitch.tv 001 bot :Welcome, GLHF!",
    ":tmi.twitch.tv 376 bot :>",
    "@badge-info=;badges=;color=;display-name=bot;emote-sets=0;user-id=1;"
    "user-type= :tmi.twitch.tv GLOBALUSERSTATE",
    ":bot!bot@bot.tmi.twitch.tv JOIN #chan",
    "@badge-info=;badges=moderator/1;color=;display-name=bot;emote-sets=0;"
    "mod=1;subscriber=0;user-type=mod :tmi.twitch.tv USERSTATE #chan",
    "@emote-only=0;followers-only=-1;r9k=0;room-id=42;slow=0;subs-only=0 "
    ":tmi.twitch.tv ROOMSTATE #chan",
};

static void bring_up(tw_chat_session_t *s, st_t *st, uint64_t now) {
  if (st->open_pending == 0)
    return;
  st->current = st->open_pending;
  st->open_pending = 0;
  tw_chat_session_conn_up(s, st->current, now);
  for (size_t i = 0; i < sizeof(login_lines) / sizeof(*login_lines); i++)
    tw_chat_session_feed(s, st->current, login_lines[i], strlen(login_lines[i]),
                         now);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const char *const channels[] = {"chan", "other"};
  tw_chat_opts_t o;
  tw_chat_opts_default(&o);
  o.login = "bot";
  o.token = "fuzztoken123";
  o.channels = channels;
  o.nchannels = 2;
  o.deliver_own_membership = size & 1;
  o.deliver_shared_chat = (size >> 1) & 1;
  tw_chat_session_ops_t ops = {.open = op_open,
                               .close = op_close,
                               .write = op_write,
                               .event = op_event,
                               .refresh_token = op_refresh};
  st_t st = {0};
  tw_chat_session_t *s = NULL;
  if (tw_chat_session_new(&o, &ops, &st, &s, NULL, 0) != 0)
    return 0;
  uint64_t now = 1000;
  tw_chat_session_start(s, now);
  bring_up(s, &st, now);

  size_t pos = 0;
  while (pos < size) {
    const uint8_t *nl = memchr(data + pos, '\n', size - pos);
    size_t len = nl ? (size_t)(nl - (data + pos)) : size - pos;
    const char *line = (const char *)data + pos;
    pos += len + (nl ? 1 : 0);
    if (len > 0 && (uint8_t)line[0] <= 0x05) {
      switch (line[0]) {
      case 0x01:
        now += 100u * (len > 1 ? (uint8_t)line[1] : 1u);
        tw_chat_session_tick(s, now);
        break;
      case 0x02:
        if (st.current)
          tw_chat_session_conn_closed(s, st.current, -10, now);
        st.current = 0;
        break;
      case 0x03: {
        char text[600];
        size_t n = len - 1 < sizeof(text) - 1 ? len - 1 : sizeof(text) - 1;
        memcpy(text, line + 1, n);
        text[n] = '\0';
        tw_chat_session_say(s, "chan", text, NULL, n & 1, now);
        break;
      }
      case 0x04:
        if (st.refresh_asked)
          tw_chat_session_set_token(s, "fuzztoken456", now);
        st.refresh_asked = 0;
        break;
      default:
        if (st.refresh_asked)
          tw_chat_session_token_failed(s, -9, now);
        st.refresh_asked = 0;
        break;
      }
    } else if (st.current) {
      tw_chat_session_feed(s, st.current, line, len, now);
    }
    bring_up(s, &st, now);
  }
  /* Let the session run its timers to the end of its schedule a little. */
  for (int i = 0; i < 50; i++) {
    uint64_t d = tw_chat_session_deadline(s);
    if (d == UINT64_MAX)
      break;
    now = d > now ? d : now + 1;
    tw_chat_session_tick(s, now);
    bring_up(s, &st, now);
  }
  tw_chat_session_stop(s, 0, now);
  tw_chat_session_free(s);
  return 0;
}
