/* Typed views of Twitch IRC messages.
 *
 * Every view starts by indexing the tags it may need in one pass over the
 * message's tag array (a switch on key length, then a memcmp), instead of
 * looking each key up separately: a PRIVMSG has about twenty tags and a
 * view reads about twenty keys, so per-key lookups would cost twenty times
 * more. Later duplicates overwrite earlier ones, which is IRCv3's "last one
 * wins".
 */
#include <string.h>

#include "twitchd/error.h"
#include "twitchd/irc_twitch.h"

typedef struct {
  tw_irc_str_t id, mod, vip, bits, color, flags, login, turbo, badges, emotes,
      msg_id, room_id, user_id, first_msg, thread_id, user_type, source_id,
      badge_info, emote_sets, message_id, subscriber, system_msg, tmi_sent_ts,
      source_only, ban_duration, client_nonce, display_name, target_msg_id,
      source_badges, source_msg_id, source_room_id, target_user_id,
      returning_chatter, source_badge_info;
  tw_irc_str_t r9k, slow, subs_only, emote_only, followers_only;
  tw_irc_str_t rp_msg_id, rp_user_id, rp_msg_body, rp_user_login,
      rp_display_name, rtp_msg_id, rtp_user_login;
  /* msg-param-* */
  tw_irc_str_t p_months, p_cumulative_months, p_streak_months,
      p_should_share_streak, p_sub_plan, p_sub_plan_name, p_recipient_login,
      p_recipient_display_name, p_recipient_id, p_gift_months,
      p_mass_gift_count, p_sender_count, p_display_name, p_login,
      p_viewer_count, p_color, p_sender_login, p_sender_name, p_promo_name,
      p_promo_gift_total, p_threshold, p_ritual_name;
} tag_index_t;

#define KEY(lit) (klen == sizeof(lit) - 1 && memcmp(k, lit, klen) == 0)

static tw_irc_str_t *param_slot(tag_index_t *x, const char *k, size_t klen) {
  switch (klen) {
  case 5:
    if (KEY("login"))
      return &x->p_login;
    if (KEY("color"))
      return &x->p_color;
    break;
  case 6:
    if (KEY("months"))
      return &x->p_months;
    break;
  case 8:
    if (KEY("sub-plan"))
      return &x->p_sub_plan;
    break;
  case 9:
    if (KEY("threshold"))
      return &x->p_threshold;
    break;
  case 10:
    if (KEY("promo-name"))
      return &x->p_promo_name;
    break;
  case 11:
    if (KEY("displayName"))
      return &x->p_display_name;
    if (KEY("viewerCount"))
      return &x->p_viewer_count;
    if (KEY("gift-months"))
      return &x->p_gift_months;
    if (KEY("sender-name"))
      return &x->p_sender_name;
    if (KEY("ritual-name"))
      return &x->p_ritual_name;
    break;
  case 12:
    if (KEY("recipient-id"))
      return &x->p_recipient_id;
    if (KEY("sender-count"))
      return &x->p_sender_count;
    if (KEY("sender-login"))
      return &x->p_sender_login;
    break;
  case 13:
    if (KEY("streak-months"))
      return &x->p_streak_months;
    if (KEY("sub-plan-name"))
      return &x->p_sub_plan_name;
    break;
  case 14:
    if (KEY("recipient-name"))
      return &x->p_recipient_login;
    break;
  case 15:
    if (KEY("mass-gift-count"))
      return &x->p_mass_gift_count;
    break;
  case 16:
    if (KEY("promo-gift-total"))
      return &x->p_promo_gift_total;
    break;
  case 17:
    if (KEY("cumulative-months"))
      return &x->p_cumulative_months;
    break;
  case 19:
    if (KEY("recipient-user-name"))
      return &x->p_recipient_login;
    if (KEY("should-share-streak"))
      return &x->p_should_share_streak;
    break;
  case 22:
    if (KEY("recipient-display-name"))
      return &x->p_recipient_display_name;
    break;
  default:
    break;
  }
  return NULL;
}

static tw_irc_str_t *slot(tag_index_t *x, const char *k, size_t klen) {
  switch (klen) {
  case 2:
    if (KEY("id"))
      return &x->id;
    break;
  case 3:
    if (KEY("mod"))
      return &x->mod;
    if (KEY("vip"))
      return &x->vip;
    if (KEY("r9k"))
      return &x->r9k;
    break;
  case 4:
    if (KEY("bits"))
      return &x->bits;
    if (KEY("slow"))
      return &x->slow;
    break;
  case 5:
    if (KEY("color"))
      return &x->color;
    if (KEY("flags"))
      return &x->flags;
    if (KEY("login"))
      return &x->login;
    if (KEY("turbo"))
      return &x->turbo;
    break;
  case 6:
    if (KEY("badges"))
      return &x->badges;
    if (KEY("emotes"))
      return &x->emotes;
    if (KEY("msg-id"))
      return &x->msg_id;
    break;
  case 7:
    if (KEY("room-id"))
      return &x->room_id;
    if (KEY("user-id"))
      return &x->user_id;
    break;
  case 9:
    if (KEY("user-type"))
      return &x->user_type;
    if (KEY("first-msg"))
      return &x->first_msg;
    if (KEY("subs-only"))
      return &x->subs_only;
    if (KEY("thread-id"))
      return &x->thread_id;
    if (KEY("source-id"))
      return &x->source_id;
    break;
  case 10:
    if (KEY("badge-info"))
      return &x->badge_info;
    if (KEY("subscriber"))
      return &x->subscriber;
    if (KEY("emote-only"))
      return &x->emote_only;
    if (KEY("emote-sets"))
      return &x->emote_sets;
    if (KEY("message-id"))
      return &x->message_id;
    if (KEY("system-msg"))
      return &x->system_msg;
    break;
  case 11:
    if (KEY("tmi-sent-ts"))
      return &x->tmi_sent_ts;
    if (KEY("source-only"))
      return &x->source_only;
    break;
  case 12:
    if (KEY("display-name"))
      return &x->display_name;
    if (KEY("client-nonce"))
      return &x->client_nonce;
    if (KEY("ban-duration"))
      return &x->ban_duration;
    break;
  case 13:
    if (KEY("target-msg-id"))
      return &x->target_msg_id;
    if (KEY("source-badges"))
      return &x->source_badges;
    if (KEY("source-msg-id"))
      return &x->source_msg_id;
    break;
  case 14:
    if (KEY("source-room-id"))
      return &x->source_room_id;
    if (KEY("target-user-id"))
      return &x->target_user_id;
    if (KEY("followers-only"))
      return &x->followers_only;
    break;
  case 17:
    if (KEY("returning-chatter"))
      return &x->returning_chatter;
    if (KEY("source-badge-info"))
      return &x->source_badge_info;
    break;
  case 19:
    if (KEY("reply-parent-msg-id"))
      return &x->rp_msg_id;
    break;
  case 20:
    if (KEY("reply-parent-user-id"))
      return &x->rp_user_id;
    break;
  case 21:
    if (KEY("reply-parent-msg-body"))
      return &x->rp_msg_body;
    break;
  case 23:
    if (KEY("reply-parent-user-login"))
      return &x->rp_user_login;
    break;
  case 25:
    if (KEY("reply-parent-display-name"))
      return &x->rp_display_name;
    break;
  case 26:
    if (KEY("reply-thread-parent-msg-id"))
      return &x->rtp_msg_id;
    break;
  case 30:
    if (KEY("reply-thread-parent-user-login"))
      return &x->rtp_user_login;
    break;
  default:
    break;
  }
  if (klen > 10 && memcmp(k, "msg-param-", 10) == 0)
    return param_slot(x, k + 10, klen - 10);
  return NULL;
}

#undef KEY

static void index_tags(const tw_irc_msg_t *m, tag_index_t *x) {
  memset(x, 0, sizeof(*x));
  for (size_t i = 0; i < m->ntags; i++) {
    const tw_irc_tag_t *t = &m->tags[i];
    tw_irc_str_t *s = slot(x, t->key.ptr, t->key.len);
    if (s)
      *s = t->value;
  }
}

/* Unescapes *f in place through the scratch, when there is one. */
#define UN(f)                                                                  \
  do {                                                                         \
    if (scratch && tw_irc_scratch_unescape(scratch, (f), &(f)))                \
      return TW_ETOOBIG;                                                       \
  } while (0)

static const tw_irc_str_t absent;

static int64_t num(tw_irc_str_t v) {
  int64_t n;
  return tw_irc_parse_i64(v, &n) ? TW_IRC_NONE : n;
}

static int flag(tw_irc_str_t v) {
  int b;
  return tw_irc_parse_bool(v, &b) ? 0 : b;
}

static int tribool(tw_irc_str_t v) {
  int b;
  return tw_irc_parse_bool(v, &b) ? -1 : b;
}

/* "#name" -> "name"; fails on anything else, including a bare "#". */
static int channel_of(tw_irc_str_t p, tw_irc_str_t *out) {
  if (!p.ptr || p.len < 2 || p.ptr[0] != '#')
    return TW_EPROTO;
  out->ptr = p.ptr + 1;
  out->len = p.len - 1;
  return 0;
}

static int first_channel(const tw_irc_msg_t *m, tw_irc_str_t *out) {
  if (m->nparams < 1)
    return TW_EPROTO;
  return channel_of(m->params[0], out);
}

static int fill_user(const tag_index_t *x, tw_irc_scratch_t *scratch,
                     tw_irc_user_t *u) {
  u->id = x->user_id;
  u->display_name = x->display_name;
  u->color = x->color;
  u->badges = x->badges;
  u->badge_info = x->badge_info;
  u->user_type = x->user_type;
  u->mod = flag(x->mod);
  u->subscriber = flag(x->subscriber);
  u->vip = flag(x->vip);
  u->turbo = flag(x->turbo);
  u->broadcaster = tw_irc_badges_find(x->badges, "broadcaster", NULL);
  UN(u->id);
  UN(u->display_name);
  UN(u->color);
  UN(u->badges);
  UN(u->badge_info);
  UN(u->user_type);
  return 0;
}

static int fill_shared(const tag_index_t *x, tw_irc_scratch_t *scratch,
                       tw_irc_shared_t *s) {
  s->room_id = x->source_room_id;
  s->id = x->source_id;
  s->msg_id = x->source_msg_id;
  s->badges = x->source_badges;
  s->badge_info = x->source_badge_info;
  s->only = flag(x->source_only);
  s->present = x->source_room_id.ptr && x->source_room_id.len > 0;
  /* Compared raw: ids are digits, and equal escaped forms mean equal
   * values. A source room without a room-id to compare with counts as
   * another room, the cautious reading. */
  s->other_room =
      s->present &&
      !(x->room_id.ptr && x->room_id.len == x->source_room_id.len &&
        memcmp(x->room_id.ptr, x->source_room_id.ptr, x->room_id.len) == 0);
  UN(s->room_id);
  UN(s->id);
  UN(s->msg_id);
  UN(s->badges);
  UN(s->badge_info);
  return 0;
}

int tw_irc_privmsg(const tw_irc_msg_t *m, tw_irc_scratch_t *scratch,
                   tw_irc_privmsg_t *out) {
  if (m->cmd != TW_IRC_CMD_PRIVMSG)
    return TW_EINVAL;
  memset(out, 0, sizeof(*out));
  if (scratch)
    tw_irc_scratch_reset(scratch);
  if (first_channel(m, &out->channel) || m->nparams < 2 || !m->nick.ptr)
    return TW_EPROTO;
  tag_index_t x;
  index_tags(m, &x);
  out->is_action = tw_irc_action(m->params[1], &out->text);
  out->sender.login = m->nick;
  if (fill_user(&x, scratch, &out->sender) ||
      fill_shared(&x, scratch, &out->shared))
    return TW_ETOOBIG;
  out->room_id = x.room_id;
  out->id = x.id;
  out->emotes = x.emotes;
  out->flags = x.flags;
  out->client_nonce = x.client_nonce;
  out->bits = num(x.bits);
  out->tmi_sent_ts = num(x.tmi_sent_ts);
  out->first_msg = flag(x.first_msg);
  out->returning_chatter = flag(x.returning_chatter);
  out->reply.msg_id = x.rp_msg_id;
  out->reply.user_id = x.rp_user_id;
  out->reply.user_login = x.rp_user_login;
  out->reply.display_name = x.rp_display_name;
  out->reply.msg_body = x.rp_msg_body;
  out->reply.thread_msg_id = x.rtp_msg_id;
  out->reply.thread_user_login = x.rtp_user_login;
  UN(out->room_id);
  UN(out->id);
  UN(out->emotes);
  UN(out->flags);
  UN(out->client_nonce);
  UN(out->reply.msg_id);
  UN(out->reply.user_id);
  UN(out->reply.user_login);
  UN(out->reply.display_name);
  UN(out->reply.msg_body);
  UN(out->reply.thread_msg_id);
  UN(out->reply.thread_user_login);
  return 0;
}

static const struct {
  const char *name;
  tw_irc_usernotice_kind_t kind;
} un_kinds[] = {
    {"sub", TW_IRC_UN_SUB},
    {"resub", TW_IRC_UN_RESUB},
    {"subgift", TW_IRC_UN_SUBGIFT},
    {"anonsubgift", TW_IRC_UN_ANONSUBGIFT},
    {"submysterygift", TW_IRC_UN_SUBMYSTERYGIFT},
    {"anonsubmysterygift", TW_IRC_UN_ANONSUBMYSTERYGIFT},
    {"giftpaidupgrade", TW_IRC_UN_GIFTPAIDUPGRADE},
    {"anongiftpaidupgrade", TW_IRC_UN_ANONGIFTPAIDUPGRADE},
    {"primepaidupgrade", TW_IRC_UN_PRIMEPAIDUPGRADE},
    {"rewardgift", TW_IRC_UN_REWARDGIFT},
    {"raid", TW_IRC_UN_RAID},
    {"unraid", TW_IRC_UN_UNRAID},
    {"announcement", TW_IRC_UN_ANNOUNCEMENT},
    {"ritual", TW_IRC_UN_RITUAL},
    {"bitsbadgetier", TW_IRC_UN_BITSBADGETIER},
    {"sharedchatnotice", TW_IRC_UN_SHAREDCHATNOTICE},
    {"viewermilestone", TW_IRC_UN_VIEWERMILESTONE},
    {"standardpayforward", TW_IRC_UN_STANDARDPAYFORWARD},
    {"communitypayforward", TW_IRC_UN_COMMUNITYPAYFORWARD},
};

tw_irc_usernotice_kind_t tw_irc_usernotice_kind(tw_irc_str_t msg_id) {
  for (size_t i = 0; i < sizeof(un_kinds) / sizeof(un_kinds[0]); i++)
    if (tw_irc_str_eq(msg_id, un_kinds[i].name))
      return un_kinds[i].kind;
  return TW_IRC_UN_UNKNOWN;
}

const char *tw_irc_usernotice_kind_name(tw_irc_usernotice_kind_t kind) {
  for (size_t i = 0; i < sizeof(un_kinds) / sizeof(un_kinds[0]); i++)
    if (un_kinds[i].kind == kind)
      return un_kinds[i].name;
  return "unknown";
}

int tw_irc_usernotice(const tw_irc_msg_t *m, tw_irc_scratch_t *scratch,
                      tw_irc_usernotice_t *out) {
  if (m->cmd != TW_IRC_CMD_USERNOTICE)
    return TW_EINVAL;
  memset(out, 0, sizeof(*out));
  if (scratch)
    tw_irc_scratch_reset(scratch);
  if (first_channel(m, &out->channel))
    return TW_EPROTO;
  tag_index_t x;
  index_tags(m, &x);
  out->msg_id = x.msg_id;
  out->kind = tw_irc_usernotice_kind(x.msg_id);
  out->source_kind = out->kind == TW_IRC_UN_SHAREDCHATNOTICE
                         ? tw_irc_usernotice_kind(x.source_msg_id)
                         : TW_IRC_UN_UNKNOWN;
  /* The user's message is the second parameter, with or without ':'
   * (Twitch has sent "USERNOTICE #c <3"). */
  out->text = m->nparams >= 2 ? m->params[1] : absent;
  out->sender.login = x.login;
  if (fill_user(&x, scratch, &out->sender) ||
      fill_shared(&x, scratch, &out->shared))
    return TW_ETOOBIG;
  out->anonymous = out->kind == TW_IRC_UN_ANONSUBGIFT ||
                   out->kind == TW_IRC_UN_ANONSUBMYSTERYGIFT ||
                   out->kind == TW_IRC_UN_ANONGIFTPAIDUPGRADE ||
                   tw_irc_str_eq(x.user_id, TW_IRC_ANON_GIFTER_ID);
  out->room_id = x.room_id;
  out->id = x.id;
  out->system_msg = x.system_msg;
  out->emotes = x.emotes;
  out->tmi_sent_ts = num(x.tmi_sent_ts);
  out->months = num(x.p_months);
  out->cumulative_months = num(x.p_cumulative_months);
  out->streak_months = num(x.p_streak_months);
  out->should_share_streak = tribool(x.p_should_share_streak);
  out->sub_plan = x.p_sub_plan;
  out->sub_plan_name = x.p_sub_plan_name;
  out->recipient_login = x.p_recipient_login;
  out->recipient_display_name = x.p_recipient_display_name;
  out->recipient_id = x.p_recipient_id;
  out->gift_months = num(x.p_gift_months);
  out->mass_gift_count = num(x.p_mass_gift_count);
  out->sender_count = num(x.p_sender_count);
  out->raider_login = x.p_login;
  out->raider_display_name = x.p_display_name;
  out->viewer_count = num(x.p_viewer_count);
  out->color = x.p_color;
  out->gifter_login = x.p_sender_login;
  out->gifter_display_name = x.p_sender_name;
  out->promo_name = x.p_promo_name;
  out->promo_gift_total = num(x.p_promo_gift_total);
  out->threshold = num(x.p_threshold);
  out->ritual_name = x.p_ritual_name;
  UN(out->msg_id);
  UN(out->sender.login);
  UN(out->room_id);
  UN(out->id);
  UN(out->system_msg);
  UN(out->emotes);
  UN(out->sub_plan);
  UN(out->sub_plan_name);
  UN(out->recipient_login);
  UN(out->recipient_display_name);
  UN(out->recipient_id);
  UN(out->raider_login);
  UN(out->raider_display_name);
  UN(out->color);
  UN(out->gifter_login);
  UN(out->gifter_display_name);
  UN(out->promo_name);
  UN(out->ritual_name);
  return 0;
}

tw_irc_str_t tw_irc_msg_param(const tw_irc_msg_t *m, const char *name) {
  size_t n = strlen(name);
  for (size_t i = m->ntags; i-- > 0;) {
    const tw_irc_tag_t *t = &m->tags[i];
    if (t->key.len == n + 10 && memcmp(t->key.ptr, "msg-param-", 10) == 0 &&
        memcmp(t->key.ptr + 10, name, n) == 0)
      return t->value;
  }
  return absent;
}

int tw_irc_clearchat(const tw_irc_msg_t *m, tw_irc_scratch_t *scratch,
                     tw_irc_clearchat_t *out) {
  if (m->cmd != TW_IRC_CMD_CLEARCHAT)
    return TW_EINVAL;
  memset(out, 0, sizeof(*out));
  if (scratch)
    tw_irc_scratch_reset(scratch);
  if (first_channel(m, &out->channel))
    return TW_EPROTO;
  tag_index_t x;
  index_tags(m, &x);
  out->room_id = x.room_id;
  out->target_user_id = x.target_user_id;
  out->tmi_sent_ts = num(x.tmi_sent_ts);
  out->duration_s = TW_IRC_NONE;
  if (m->nparams >= 2 && m->params[1].len > 0) {
    out->target_login = m->params[1];
    /* A ban-duration tag, even one that does not parse, means a timeout:
     * reading a malformed timeout as a permanent ban would be worse. */
    if (x.ban_duration.ptr && x.ban_duration.len) {
      out->kind = TW_IRC_CLEAR_TIMEOUT;
      out->duration_s = num(x.ban_duration);
    } else {
      out->kind = TW_IRC_CLEAR_BAN;
    }
  } else {
    out->kind = TW_IRC_CLEAR_CHAT;
  }
  UN(out->room_id);
  UN(out->target_user_id);
  return 0;
}

int tw_irc_clearmsg(const tw_irc_msg_t *m, tw_irc_scratch_t *scratch,
                    tw_irc_clearmsg_t *out) {
  if (m->cmd != TW_IRC_CMD_CLEARMSG)
    return TW_EINVAL;
  memset(out, 0, sizeof(*out));
  if (scratch)
    tw_irc_scratch_reset(scratch);
  if (first_channel(m, &out->channel))
    return TW_EPROTO;
  tag_index_t x;
  index_tags(m, &x);
  out->room_id = x.room_id;
  out->login = x.login;
  out->target_msg_id = x.target_msg_id;
  out->tmi_sent_ts = num(x.tmi_sent_ts);
  if (m->nparams >= 2)
    out->is_action = tw_irc_action(m->params[1], &out->text);
  UN(out->room_id);
  UN(out->login);
  UN(out->target_msg_id);
  return 0;
}

int tw_irc_notice(const tw_irc_msg_t *m, tw_irc_scratch_t *scratch,
                  tw_irc_notice_t *out) {
  if (m->cmd != TW_IRC_CMD_NOTICE)
    return TW_EINVAL;
  memset(out, 0, sizeof(*out));
  if (scratch)
    tw_irc_scratch_reset(scratch);
  if (m->nparams < 1)
    return TW_EPROTO;
  if (m->nparams >= 2)
    (void)channel_of(m->params[0], &out->channel); /* "*" stays absent */
  out->text = m->params[m->nparams - 1];
  tag_index_t x;
  index_tags(m, &x);
  out->msg_id = x.msg_id;
  out->target_user_id = x.target_user_id;
  UN(out->msg_id);
  UN(out->target_user_id);
  return 0;
}

int tw_irc_roomstate(const tw_irc_msg_t *m, tw_irc_scratch_t *scratch,
                     tw_irc_roomstate_t *out) {
  if (m->cmd != TW_IRC_CMD_ROOMSTATE)
    return TW_EINVAL;
  memset(out, 0, sizeof(*out));
  if (scratch)
    tw_irc_scratch_reset(scratch);
  if (first_channel(m, &out->channel))
    return TW_EPROTO;
  tag_index_t x;
  index_tags(m, &x);
  out->room_id = x.room_id;
  out->emote_only = num(x.emote_only);
  out->followers_only = num(x.followers_only);
  out->r9k = num(x.r9k);
  out->slow = num(x.slow);
  out->subs_only = num(x.subs_only);
  UN(out->room_id);
  return 0;
}

int tw_irc_userstate(const tw_irc_msg_t *m, tw_irc_scratch_t *scratch,
                     tw_irc_userstate_t *out) {
  if (m->cmd != TW_IRC_CMD_USERSTATE)
    return TW_EINVAL;
  memset(out, 0, sizeof(*out));
  if (scratch)
    tw_irc_scratch_reset(scratch);
  if (first_channel(m, &out->channel))
    return TW_EPROTO;
  tag_index_t x;
  index_tags(m, &x);
  if (fill_user(&x, scratch, &out->user))
    return TW_ETOOBIG;
  out->emote_sets = x.emote_sets;
  out->id = x.id;
  UN(out->emote_sets);
  UN(out->id);
  return 0;
}

int tw_irc_globaluserstate(const tw_irc_msg_t *m, tw_irc_scratch_t *scratch,
                           tw_irc_globaluserstate_t *out) {
  if (m->cmd != TW_IRC_CMD_GLOBALUSERSTATE)
    return TW_EINVAL;
  memset(out, 0, sizeof(*out));
  if (scratch)
    tw_irc_scratch_reset(scratch);
  tag_index_t x;
  index_tags(m, &x);
  if (fill_user(&x, scratch, &out->user))
    return TW_ETOOBIG;
  out->emote_sets = x.emote_sets;
  UN(out->emote_sets);
  return 0;
}

static int membership(const tw_irc_msg_t *m, tw_irc_cmd_t cmd,
                      tw_irc_membership_t *out) {
  if (m->cmd != cmd)
    return TW_EINVAL;
  memset(out, 0, sizeof(*out));
  if (first_channel(m, &out->channel) || !m->nick.ptr)
    return TW_EPROTO;
  out->login = m->nick;
  return 0;
}

int tw_irc_join(const tw_irc_msg_t *m, tw_irc_membership_t *out) {
  return membership(m, TW_IRC_CMD_JOIN, out);
}

int tw_irc_part(const tw_irc_msg_t *m, tw_irc_membership_t *out) {
  return membership(m, TW_IRC_CMD_PART, out);
}

static int ping_pong(const tw_irc_msg_t *m, tw_irc_cmd_t cmd,
                     tw_irc_ping_t *out) {
  if (m->cmd != cmd)
    return TW_EINVAL;
  memset(out, 0, sizeof(*out));
  out->text = tw_irc_last_param(m);
  if (m->nparams >= 2)
    out->server = m->params[0];
  return 0;
}

int tw_irc_ping(const tw_irc_msg_t *m, tw_irc_ping_t *out) {
  return ping_pong(m, TW_IRC_CMD_PING, out);
}

int tw_irc_pong(const tw_irc_msg_t *m, tw_irc_ping_t *out) {
  return ping_pong(m, TW_IRC_CMD_PONG, out);
}

static int is_cap_subcommand(tw_irc_str_t v) {
  static const char *const subs[] = {"LS",  "LIST", "REQ", "ACK",
                                     "NAK", "END",  "NEW", "DEL"};
  for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
    if (tw_irc_str_eq(v, subs[i]))
      return 1;
  return 0;
}

int tw_irc_cap(const tw_irc_msg_t *m, tw_irc_cap_t *out) {
  if (m->cmd != TW_IRC_CMD_CAP)
    return TW_EINVAL;
  memset(out, 0, sizeof(*out));
  if (m->nparams < 1)
    return TW_EPROTO;
  /* A client writes "CAP REQ :list" or "CAP END"; a server puts the target
   * first: "CAP * ACK :list". A target is never a subcommand word. */
  size_t sub = is_cap_subcommand(m->params[0]) ? 0 : 1;
  if (sub == 1) {
    if (m->nparams < 2)
      return TW_EPROTO;
    out->target = m->params[0];
  }
  out->subcommand = m->params[sub];
  out->list = m->nparams > sub + 1 ? m->params[m->nparams - 1] : absent;
  out->ack = tw_irc_str_eq(out->subcommand, "ACK");
  out->nak = tw_irc_str_eq(out->subcommand, "NAK");
  return 0;
}

int tw_irc_numeric(const tw_irc_msg_t *m, tw_irc_numeric_t *out) {
  if (m->cmd != TW_IRC_CMD_NUMERIC)
    return TW_EINVAL;
  memset(out, 0, sizeof(*out));
  out->code = m->numeric;
  if (m->nparams >= 1)
    out->target = m->params[0];
  if (m->nparams >= 2)
    out->text = m->params[m->nparams - 1];
  if (m->nparams >= 3)
    out->arg = m->params[1];
  /* The channel, when there is one, is a middle parameter after our nick
   * (353: "nick = #chan :names", 366: "nick #chan :End of /NAMES list"). */
  size_t limit = m->has_trailing ? m->nparams - 1 : m->nparams;
  for (size_t i = 1; i < limit; i++) {
    if (channel_of(m->params[i], &out->channel) == 0)
      break;
  }
  return 0;
}

int tw_irc_whisper(const tw_irc_msg_t *m, tw_irc_scratch_t *scratch,
                   tw_irc_whisper_t *out) {
  if (m->cmd != TW_IRC_CMD_WHISPER)
    return TW_EINVAL;
  memset(out, 0, sizeof(*out));
  if (scratch)
    tw_irc_scratch_reset(scratch);
  if (m->nparams < 2 || !m->nick.ptr)
    return TW_EPROTO;
  tag_index_t x;
  index_tags(m, &x);
  out->sender.login = m->nick;
  if (fill_user(&x, scratch, &out->sender))
    return TW_ETOOBIG;
  out->to_login = m->params[0];
  out->text = m->params[1];
  out->emotes = x.emotes;
  out->message_id = x.message_id;
  out->thread_id = x.thread_id;
  UN(out->emotes);
  UN(out->message_id);
  UN(out->thread_id);
  return 0;
}
