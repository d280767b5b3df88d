/* Fuzzes the simulator's chat core with what clients send: the input is cut
 * into chunks, each prefixed by a control byte that picks the connection
 * (three, logged in differently), the framing (byte stream or WebSocket
 * message), how much time passes and whether the client reads its output.
 * A connection the core closes is freed and replaced. Small output caps make
 * the slow-client path run too. Nothing may crash, leak or read outside its
 * buffers. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sim/sim_chat.h"

#define NCONN 3

typedef struct {
  tw_simchat_conn_t *c[NCONN];
  int closing[NCONN];
} st_t;

static void io_wake(void *ud, tw_simchat_conn_t *c) {
  (void)ud;
  (void)c;
}

static void io_close(void *ud, tw_simchat_conn_t *c, int abrupt) {
  (void)abrupt;
  st_t *st = ud;
  for (int i = 0; i < NCONN; i++)
    if (st->c[i] == c)
      st->closing[i] = 1;
}

/* One literal per line: clang warns about concatenation inside arrays. */
static const char HELLO_BOT[] = "CAP REQ :twitch.tv/tags twitch.tv/commands "
                                "twitch.tv/membership\r\nPASS oauth:tokbot\r\n"
                                "NICK bot\r\nJOIN #chan\r\n";
static const char HELLO_ALICE[] =
    "PASS oauth:tokalice\r\nNICK alice\r\nJOIN #chan,#other\r\n";
static const char HELLO_ANON[] =
    "CAP REQ :twitch.tv/tags\r\nNICK justinfan1\r\nJOIN #chan\r\n";
static const char *const hello[NCONN] = {HELLO_BOT, HELLO_ALICE, HELLO_ANON};

static void open_conn(tw_simchat_t *sc, st_t *st, int i, uint64_t now) {
  st->closing[i] = 0;
  if (tw__simchat_conn_new(sc, TW_SIM_TRANSPORT_NONE, NULL, now, &st->c[i]) !=
      0) {
    st->c[i] = NULL;
    return;
  }
  tw__simchat_feed(st->c[i], hello[i], strlen(hello[i]), now);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  tw_sim_chat_opts_t o = {
      .max_output = 8192, .ping_interval_ms = 5000, .pong_timeout_ms = 1000};
  tw_simchat_io_t io = {io_wake, io_close};
  st_t st;
  memset(&st, 0, sizeof(st));
  tw_simchat_t *sc;
  uint64_t now = 1000;
  if (tw__simchat_new(&o, &io, &st, 1, now, 0, &sc) != 0)
    return 0;
  tw__simchat_add_token(sc, "tokbot", "bot", 0);
  tw__simchat_add_token(sc, "tokalice", "alice", 0);
  tw__simchat_set_role(sc, "chan", "alice", TW_SIM_ROLE_MOD);
  for (int i = 0; i < NCONN; i++)
    open_conn(sc, &st, i, now);

  size_t pos = 0;
  while (pos < size) {
    uint8_t ctl = data[pos++];
    size_t len = (size_t)(ctl >> 4) * 8 + 1;
    if (len > size - pos)
      len = size - pos;
    int i = ctl % NCONN;
    if (st.closing[i] && st.c[i]) {
      tw__simchat_conn_free(st.c[i], now);
      st.c[i] = NULL;
    }
    if (!st.c[i])
      open_conn(sc, &st, i, now);
    if (st.c[i]) {
      if (ctl & 0x4)
        tw__simchat_feed_msg(st.c[i], (const char *)data + pos, len, now);
      else
        tw__simchat_feed(st.c[i], (const char *)data + pos, len, now);
    }
    pos += len;
    now += (ctl & 0x8) ? 700 : 3;
    tw__simchat_tick(sc, now);
    for (int k = 0; k < NCONN; k++) {
      const char *p;
      if (st.c[k] && !st.closing[k] && (ctl & (0x10 << (k & 1))))
        tw__simchat_out_consume(st.c[k], tw__simchat_out_peek(st.c[k], &p));
    }
  }
  for (int i = 0; i < NCONN; i++)
    if (st.c[i])
      tw__simchat_conn_free(st.c[i], now);
  tw__simchat_free(sc);
  return 0;
}
