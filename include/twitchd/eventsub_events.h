/* twitchd: EventSub notifications as twitchd events (layer twitch).
 *
 * tw_eventsub_to_event() turns a decoded notification (twitchd/eventsub.h)
 * into the tw_event_t skills receive. The mapping (docs/eventsub.md):
 *
 *   stream.online                 StreamStarted: started_at; title NULL and
 *                                 viewers 0 (the notification has neither;
 *                                 Get Streams/Get Channel Information do)
 *   stream.offline                StreamEnded
 *   channel.follow (v2)           UserFollowed: follower = user_login,
 *                                 followed_at
 *   channel.subscribe             UserSubscribed: tier, is_gift, months 0
 *                                 (unknown), message NULL
 *   channel.subscription.message  UserSubscribed: message = message.text,
 *                                 months = cumulative_months, tier
 *   channel.subscription.gift     UserGiftedSubscription: gifter_name = the
 *                                 gifter's display name (user_name, else
 *                                 user_login), "anonymous" for an anonymous
 *                                 gift; gifted_name NULL: the notification
 *                                 announces a batch of `total` gifts, and
 *                                 each recipient arrives as its own
 *                                 channel.subscribe with is_gift true (the
 *                                 same as chat's submysterygift mapping)
 *   channel.raid                  Raid: raider = from_broadcaster_user_login,
 *                                 viewers; target is the raided channel
 *   channel.ban                   UserBanned: room_id = broadcaster id,
 *                                 duration = ends_at - banned_at in seconds
 *                                 (0 for a permanent ban)
 *   channel.cheer                 Cheer: bits, message
 *
 * Common fields: user / user_id = the acting user (follower, subscriber,
 * gifter, raider, banned user, cheerer; the broadcaster for stream.*; NULL
 * for anonymous gifts and cheers), target = "#" + broadcaster_user_login,
 * connector as given, event_id = the EventSub message_id, raw = the event
 * object as compact JSON (left NULL when over TW_MAX_EVENT_RAW).
 */
#ifndef TWITCHD_EVENTSUB_EVENTS_H
#define TWITCHD_EVENTSUB_EVENTS_H

#include <stddef.h>

#include "twitchd/event.h"
#include "twitchd/eventsub.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Builds the event for notification `m` (borrowed). `connector` (borrowed,
 * copied into the event; NULL: "twitch"). Returns 0 and sets *out (the
 * caller frees it with tw_event_free()); TW_EUNSUPPORTED for a subscription
 * type without a mapping; TW_EINVAL when `m` is not a notification;
 * TW_EPARSE when a member the mapping needs is missing or has the wrong
 * type (err, capacity err_cap, may be NULL/0, says which); TW_ENOMEM. */
int tw_eventsub_to_event(const tw_eventsub_msg_t *m, const char *connector,
                         tw_event_t **out, char *err, size_t err_cap);

/* The scope a subscription type needs in the user token, static; NULL when
 * it needs none or the type is unknown (docs/twitch-protocol.md 3.1). */
const char *tw_eventsub_type_scope(const char *type);

#ifdef __cplusplus
}
#endif
#endif
