/* twitchd: what the two EventSub transports share about their
 * subscriptions (see eventsub_plan.h). */
#include <stdlib.h>
#include <string.h>

#include "twitch/eventsub_plan.h"
#include "twitchd/error.h"

static const tw_eventsub_type_t default_types[] = {
    {"stream.online", "1"},
    {"stream.offline", "1"},
    {"channel.follow", "2"},
    {"channel.subscribe", "1"},
    {"channel.subscription.message", "1"},
    {"channel.subscription.gift", "1"},
    {"channel.raid", "1"},
    {"channel.cheer", "1"},
    {"channel.ban", "1"},
};

const tw_eventsub_type_t *
tw__eventsub_plan_types(const tw_eventsub_type_t *given, size_t n_given,
                        size_t *n) {
  if (n_given) {
    *n = n_given;
    return given;
  }
  *n = sizeof(default_types) / sizeof(default_types[0]);
  return default_types;
}

static int valid_type(const tw_eventsub_type_t *t) {
  return t->type && *t->type && strlen(t->type) <= TW_MAX_EVENTSUB_ID &&
         t->version && *t->version && strlen(t->version) <= 8;
}

int tw__eventsub_plan_check(const char *const *channels, size_t nchannels,
                            const tw_eventsub_type_t *types, size_t ntypes) {
  if (!channels || nchannels == 0 || nchannels > TW_MAX_EVENTSUB_CHANNELS ||
      !types || ntypes == 0 || ntypes > TW_MAX_EVENTSUB_TYPES ||
      ntypes * nchannels > TW_MAX_EVENTSUB_SUBS)
    return TW_EINVAL;
  for (size_t i = 0; i < ntypes; i++)
    if (!valid_type(&types[i]))
      return TW_EINVAL;
  for (size_t i = 0; i < nchannels; i++) {
    const char *c = channels[i];
    if (c && *c == '#')
      c++;
    if (!c || !*c || strlen(c) > 25)
      return TW_EINVAL;
  }
  return 0;
}

char *tw__eventsub_plan_login(const char *channel) {
  char *login = strdup(*channel == '#' ? channel + 1 : channel);
  for (char *p = login; p && *p; p++)
    if (*p >= 'A' && *p <= 'Z')
      *p = (char)(*p - 'A' + 'a');
  return login;
}

int tw__eventsub_plan_types_copy(const tw_eventsub_type_t *src, size_t n,
                                 tw_eventsub_type_t *dst, size_t *ncopied) {
  for (size_t i = 0; i < n; i++) {
    dst[i].type = strdup(src[i].type);
    dst[i].version = strdup(src[i].version);
    (*ncopied)++;
    if (!dst[i].type || !dst[i].version)
      return TW_ENOMEM;
  }
  return 0;
}

void tw__eventsub_plan_types_free(tw_eventsub_type_t *t, size_t n) {
  for (size_t i = 0; t && i < n; i++) {
    free((char *)t[i].type);
    free((char *)t[i].version);
  }
}

const char *tw__eventsub_plan_channel_key(const char *type) {
  return strcmp(type, "channel.raid") == 0 ? "to_broadcaster_user_id"
                                           : "broadcaster_user_id";
}

size_t tw__eventsub_plan_condition(const char *type, const char *broadcaster_id,
                                   const char *moderator_id,
                                   tw_helix_kv_t cond[2]) {
  cond[0].key = tw__eventsub_plan_channel_key(type);
  cond[0].value = broadcaster_id;
  if (strcmp(type, "channel.follow") != 0)
    return 1;
  cond[1].key = "moderator_user_id";
  cond[1].value = moderator_id && *moderator_id ? moderator_id : broadcaster_id;
  return 2;
}
