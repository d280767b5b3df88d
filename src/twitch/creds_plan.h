/* The credentials manager's timing decisions, as a pure function.
 *
 * tw_creds_t (twitchd/creds.h) asks this after every change: given the
 * token's expiry, the validation schedule, a pending retry and what clients
 * asked for, what is due now, or how long to sleep before asking again.
 * No clock is read here: the caller passes both clocks in (the wall clock
 * for expiries, which are absolute and survive restarts; the monotonic one
 * for intervals), so the unit tests drive time by hand.
 */
#ifndef TW_CREDS_PLAN_H
#define TW_CREDS_PLAN_H

#include <stdbool.h>
#include <stdint.h>

/* "Nothing scheduled": wait until something changes. */
#define TW__CREDS_FOREVER UINT64_MAX

typedef enum {
  TW__CREDS_WAIT = 0, /* nothing due; sleep wait_ms */
  TW__CREDS_RENEW,    /* send a renewal (refresh, exchange, client creds) */
  TW__CREDS_VALIDATE, /* send GET /validate */
  TW__CREDS_SAVE,     /* write the token file again (last write failed) */
  TW__CREDS_GIVE_UP   /* the token is expired or refused and cannot be
                         renewed: a person must log in */
} tw__creds_act_t;

typedef struct {
  uint64_t now_wall_ms;      /* epoch ms */
  uint64_t now_mono_ms;      /* monotonic ms */
  bool have_token;           /* an access token is held */
  bool can_renew;            /* a renewal can be attempted */
  bool busy;                 /* a renewal or validation is in flight */
  uint64_t expires_at_ms;    /* wall; 0: unknown or never */
  uint64_t obtained_at_ms;   /* wall; when the token was got or loaded; 0 */
  uint64_t margin_ms;        /* renew this long before expiry at most */
  uint64_t next_validate_ms; /* mono; 0: no validation scheduled */
  uint64_t retry_at_ms;      /* mono; 0: no failed renewal to retry */
  bool renew_requested;      /* a client reported a 401 or needs a token */
  uint64_t last_renew_ms;    /* mono; when the last renewal was sent; 0 */
  uint64_t min_gap_ms;       /* between two requested renewals */
  bool dirty;                /* the token file lags behind memory */
  uint64_t save_at_ms;       /* mono; when to try writing it again */
} tw__creds_plan_in_t;

typedef struct {
  tw__creds_act_t action;
  uint64_t wait_ms; /* for TW__CREDS_WAIT: TW__CREDS_FOREVER or a delay */
} tw__creds_plan_t;

/* When a token obtained at `obtained` (wall ms, 0 unknown) and expiring at
 * `expires` (wall ms, nonzero) should be renewed: `margin` ahead of
 * expiry, but never earlier than half-way through its life, so that a
 * token living less than twice the margin is not renewed in a loop. */
uint64_t tw__creds_renew_at(uint64_t obtained, uint64_t expires,
                            uint64_t margin);

/* What is due now, or how long to wait (see the file comment). Priority:
 * nothing while busy; a pending save; giving up; a renewal; a
 * validation. */
tw__creds_plan_t tw__creds_plan(const tw__creds_plan_in_t *in);

#endif
