/* The credentials manager's timing decisions (creds_plan.h). */
#include "twitch/creds_plan.h"

uint64_t tw__creds_renew_at(uint64_t obtained, uint64_t expires,
                            uint64_t margin) {
  uint64_t lead = margin;
  if (obtained != 0 && obtained < expires) {
    uint64_t half = (expires - obtained) / 2;
    if (half < lead)
      lead = half;
  }
  return expires > lead ? expires - lead : 0;
}

/* Folds "due at `at` on the clock now reads `now`" into the earliest wait. */
static void fold(uint64_t *wait, bool *due, uint64_t now, uint64_t at) {
  if (at <= now) {
    *due = true;
    return;
  }
  if (at - now < *wait)
    *wait = at - now;
}

tw__creds_plan_t tw__creds_plan(const tw__creds_plan_in_t *in) {
  tw__creds_plan_t out = {TW__CREDS_WAIT, TW__CREDS_FOREVER};
  /* One request at a time per token: its answer changes everything the
   * decision depends on, and the caller asks again then. */
  if (in->busy)
    return out;
  uint64_t wait = TW__CREDS_FOREVER;
  bool save_due = false, renew_due = false, validate_due = false;
  if (in->dirty)
    fold(&wait, &save_due, in->now_mono_ms, in->save_at_ms);
  if (save_due) {
    out.action = TW__CREDS_SAVE;
    return out;
  }
  bool expired = in->have_token && in->expires_at_ms != 0 &&
                 in->now_wall_ms >= in->expires_at_ms;
  if (!in->can_renew) {
    /* Without a way to renew, a token that expired or that a client saw
     * refused is the end: waiting would only retry a dead token. */
    if (expired || in->renew_requested || !in->have_token) {
      out.action = TW__CREDS_GIVE_UP;
      return out;
    }
    if (in->expires_at_ms != 0)
      fold(&wait, &renew_due, in->now_wall_ms, in->expires_at_ms);
  } else if (in->retry_at_ms != 0) {
    /* A failed renewal owns the schedule until it succeeds: its backoff
     * is what keeps a broken network from being hammered. */
    fold(&wait, &renew_due, in->now_mono_ms, in->retry_at_ms);
  } else if (!in->have_token) {
    renew_due = true;
  } else if (in->renew_requested) {
    uint64_t at = in->last_renew_ms ? in->last_renew_ms + in->min_gap_ms : 0;
    fold(&wait, &renew_due, in->now_mono_ms, at);
  } else if (in->expires_at_ms != 0) {
    uint64_t at = tw__creds_renew_at(in->obtained_at_ms, in->expires_at_ms,
                                     in->margin_ms);
    fold(&wait, &renew_due, in->now_wall_ms, at);
  }
  if (renew_due) {
    out.action = TW__CREDS_RENEW;
    return out;
  }
  if (in->have_token && in->next_validate_ms != 0)
    fold(&wait, &validate_due, in->now_mono_ms, in->next_validate_ms);
  if (validate_due) {
    out.action = TW__CREDS_VALIDATE;
    return out;
  }
  out.wait_ms = wait;
  return out;
}
