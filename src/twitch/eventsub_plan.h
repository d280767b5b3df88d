/* twitchd: what the two EventSub transports (WebSocket, webhooks) share
 * about their subscriptions: the default types, the checks on the
 * channel and type lists, copies of them, and each subscription's
 * condition. Private to src/twitch. */
#ifndef TW_TWITCH_EVENTSUB_PLAN_H
#define TW_TWITCH_EVENTSUB_PLAN_H

#include <stddef.h>

#include "twitchd/eventsub.h"
#include "twitchd/eventsub_client.h"
#include "twitchd/helix.h"

/* The types to subscribe to: `given` (n_given of them) or, when n_given is
 * 0, the default list (eventsub_client.h). Sets *n. Static or borrowed. */
const tw_eventsub_type_t *
tw__eventsub_plan_types(const tw_eventsub_type_t *given, size_t n_given,
                        size_t *n);

/* 0 when the channels (logins, '#' allowed, 1..25 characters) and the
 * types are acceptable and one subscription per pair stays within
 * TW_MAX_EVENTSUB_SUBS; TW_EINVAL otherwise. */
int tw__eventsub_plan_check(const char *const *channels, size_t nchannels,
                            const tw_eventsub_type_t *types, size_t ntypes);

/* A channel's login without '#', in lower case (malloc'ed), or NULL. */
char *tw__eventsub_plan_login(const char *channel);

/* Copies `n` types into dst (its strings malloc'ed), counting the copies
 * in *ncopied so that a failure part-way can be freed with
 * tw__eventsub_plan_types_free(). Returns 0 or TW_ENOMEM. */
int tw__eventsub_plan_types_copy(const tw_eventsub_type_t *src, size_t n,
                                 tw_eventsub_type_t *dst, size_t *ncopied);
void tw__eventsub_plan_types_free(tw_eventsub_type_t *t, size_t n);

/* The condition member naming the channel a `type` subscription is for:
 * "to_broadcaster_user_id" for a raid (raids into the channel), else
 * "broadcaster_user_id". Static. */
const char *tw__eventsub_plan_channel_key(const char *type);

/* The condition of a `type` subscription for `broadcaster_id`: the raid's
 * to_broadcaster_user_id, else broadcaster_user_id, plus the follow's
 * moderator_user_id (`moderator_id` when set, else the broadcaster, as the
 * doc advises when the broadcaster authorised). Fills cond (borrowing the
 * strings) and returns the number of members. */
size_t tw__eventsub_plan_condition(const char *type, const char *broadcaster_id,
                                   const char *moderator_id,
                                   tw_helix_kv_t cond[2]);

#endif
