/* libFuzzer target for the IRC code: the input is parsed as one line, and
 * also fed through two line splitters (default and tiny caps) in chunks whose
 * sizes come from the input itself; every line then goes through the
 * parser, every typed view (with and without a scratch), every tag decoder,
 * and every tag value is unescaped. Besides the sanitizers, it traps when a
 * view points outside its line or a result breaks a documented bound. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "twitchd/irc.h"
#include "twitchd/irc_tags.h"
#include "twitchd/irc_twitch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *g_line;
static size_t g_len;
static tw_irc_scratch_t g_scratch;
static char g_unesc[TW_MAX_IRC_LINE];

static void check_in(tw_irc_str_t v) {
  if (!v.ptr)
    return;
  int in_line = v.ptr >= g_line && v.ptr + v.len <= g_line + g_len;
  int in_scratch = v.ptr >= g_scratch.buf &&
                   v.ptr + v.len <= g_scratch.buf + sizeof(g_scratch.buf);
  if (!in_line && !in_scratch)
    __builtin_trap();
}

static void check_user(const tw_irc_user_t *u) {
  check_in(u->login);
  check_in(u->id);
  check_in(u->display_name);
  check_in(u->color);
  check_in(u->badges);
  check_in(u->badge_info);
  check_in(u->user_type);
  tw_irc_badge_t b[TW_MAX_IRC_BADGES];
  size_t n = tw_irc_badges_parse(u->badges, b, TW_MAX_IRC_BADGES);
  for (size_t i = 0; i < n && i < TW_MAX_IRC_BADGES; i++) {
    check_in(b[i].name);
    check_in(b[i].version);
  }
  (void)tw_irc_badge_info_months(u->badge_info);
  uint32_t rgb;
  (void)tw_irc_parse_color(u->color, &rgb);
}

static void check_emotes(tw_irc_str_t tag, tw_irc_str_t text) {
  tw_irc_emote_t em[TW_MAX_IRC_EMOTES];
  size_t n = tw_irc_emotes_parse(tag, text, em, TW_MAX_IRC_EMOTES);
  if (n > TW_MAX_IRC_EMOTES)
    __builtin_trap();
  for (size_t i = 0; i < n; i++) {
    if (em[i].byte_start > em[i].byte_end || em[i].byte_end > text.len ||
        em[i].cp_start >= em[i].cp_end ||
        (i && em[i - 1].cp_start > em[i].cp_start))
      __builtin_trap();
    check_in(em[i].id);
  }
}

static void views(const tw_irc_msg_t *m, tw_irc_scratch_t *s) {
  tw_irc_privmsg_t pm;
  if (tw_irc_privmsg(m, s, &pm) == 0) {
    check_in(pm.channel);
    check_in(pm.text);
    check_in(pm.reply.msg_body);
    check_in(pm.shared.room_id);
    check_user(&pm.sender);
    check_emotes(pm.emotes, pm.text);
    if (pm.sender.login.len == 0 || pm.channel.len == 0)
      __builtin_trap();
  }
  tw_irc_usernotice_t un;
  if (tw_irc_usernotice(m, s, &un) == 0) {
    check_in(un.msg_id);
    check_in(un.text);
    check_in(un.system_msg);
    check_in(un.recipient_display_name);
    check_user(&un.sender);
    check_emotes(un.emotes, un.text);
    (void)tw_irc_usernotice_kind_name(un.kind);
    check_in(tw_irc_msg_param(m, "origin-id"));
  }
  tw_irc_clearchat_t cc;
  if (tw_irc_clearchat(m, s, &cc) == 0) {
    check_in(cc.target_login);
    check_in(cc.target_user_id);
  }
  tw_irc_clearmsg_t cm;
  if (tw_irc_clearmsg(m, s, &cm) == 0)
    check_in(cm.text);
  tw_irc_notice_t no;
  if (tw_irc_notice(m, s, &no) == 0)
    check_in(no.msg_id);
  tw_irc_roomstate_t rs;
  (void)tw_irc_roomstate(m, s, &rs);
  tw_irc_userstate_t us;
  if (tw_irc_userstate(m, s, &us) == 0) {
    check_user(&us.user);
    tw_irc_str_t rest = us.emote_sets, item;
    while (tw_irc_list_next(&rest, ',', &item))
      check_in(item);
  }
  tw_irc_globaluserstate_t gu;
  if (tw_irc_globaluserstate(m, s, &gu) == 0)
    check_user(&gu.user);
  tw_irc_membership_t mb;
  if (tw_irc_join(m, &mb) == 0 || tw_irc_part(m, &mb) == 0)
    check_in(mb.login);
  tw_irc_ping_t pg;
  if (tw_irc_ping(m, &pg) == 0 || tw_irc_pong(m, &pg) == 0)
    check_in(pg.text);
  tw_irc_cap_t cp;
  if (tw_irc_cap(m, &cp) == 0) {
    tw_irc_str_t rest = cp.list, item;
    while (tw_irc_list_next(&rest, ' ', &item))
      check_in(item);
  }
  tw_irc_numeric_t nu;
  if (tw_irc_numeric(m, &nu) == 0)
    check_in(nu.channel);
  tw_irc_whisper_t wh;
  if (tw_irc_whisper(m, s, &wh) == 0) {
    check_user(&wh.sender);
    check_emotes(wh.emotes, wh.text);
  }
}

static void one_line(const char *line, size_t len) {
  tw_irc_msg_t m;
  g_line = line;
  g_len = len;
  if (tw_irc_parse(&m, line, len) != 0) {
    if (m.err == TW_IRC_OK || !tw_irc_err_str(m.err))
      __builtin_trap();
    return;
  }
  if (m.ntags > TW_MAX_IRC_TAGS || m.nparams > TW_MAX_IRC_PARAMS)
    __builtin_trap();
  check_in(m.prefix);
  check_in(m.nick);
  check_in(m.user);
  check_in(m.host);
  check_in(m.command);
  for (size_t i = 0; i < m.nparams; i++)
    check_in(m.params[i]);
  for (size_t i = 0; i < m.ntags; i++) {
    check_in(m.tags[i].key);
    check_in(m.tags[i].value);
    size_t n = 0;
    if (tw_irc_unescape(m.tags[i].value.ptr, m.tags[i].value.len, g_unesc,
                        sizeof(g_unesc), &n) != 0 ||
        n > m.tags[i].value.len)
      __builtin_trap();
    (void)tw_irc_tag_is_shadowed(&m, i);
    tw_irc_str_t v = tw_irc_tag_getn(&m, m.tags[i].key.ptr, m.tags[i].key.len);
    if (!v.ptr)
      __builtin_trap();
  }
  /* All values of one line always fit in one scratch together. */
  tw_irc_scratch_reset(&g_scratch);
  for (size_t i = 0; i < m.ntags; i++) {
    tw_irc_str_t out;
    if (tw_irc_scratch_unescape(&g_scratch, m.tags[i].value, &out) != 0)
      __builtin_trap();
  }
  (void)tw_irc_tag_i64(&m, "tmi-sent-ts");
  (void)tw_irc_tag_bool(&m, "mod");
  tw_irc_str_t inner;
  (void)tw_irc_action(tw_irc_last_param(&m), &inner);
  views(&m, NULL);
  views(&m, &g_scratch);
}

static void on_line(void *ud, const char *line, size_t len, int err) {
  size_t cap = *(const size_t *)ud;
  if (err) {
    if (line)
      __builtin_trap();
    return;
  }
  if (len > cap)
    __builtin_trap();
  one_line(line, len);
}

static void split(const uint8_t *data, size_t size, size_t cap) {
  tw_irc_splitter_t *s = tw_irc_splitter_new(cap, size & 1 ? 0 : 1);
  if (!s)
    return;
  size_t at = 0;
  while (at < size) {
    /* Chunk sizes from the data: 1..64 bytes. */
    size_t n = 1 + (data[at] & 63);
    if (n > size - at)
      n = size - at;
    tw_irc_splitter_feed(s, (const char *)data + at, n, on_line, &cap);
    if (tw_irc_splitter_pending(s) > cap + 1)
      __builtin_trap();
    at += n;
  }
  tw_irc_splitter_finish(s, on_line, &cap);
  tw_irc_splitter_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 4 * TW_MAX_IRC_LINE)
    return 0;
  /* The whole input as one line, in an exact-size copy for ASan. */
  char *line = malloc(size ? size : 1);
  if (!line)
    return 0;
  memcpy(line, data, size);
  one_line(line, size);
  free(line);
  split(data, size, TW_MAX_IRC_LINE);
  split(data, size, 48);
  return 0;
}
