/* The Helix client's convenience calls and clip confirmation (see
 * include/twitchd/helix_client.h). Each convenience call is a builder from
 * helix.h plus tw_helix_client_send(); the only composite one is Create
 * Clip, which Twitch performs asynchronously: the 202 names a clip id that
 * Get Clips lists once the clip exists, and "If after 15 seconds Get Clips
 * hasn't returned the clip, assume it failed" (twitch-protocol.md 2.9).
 * The job polls Get Clips every clip_poll_ms within clip_window_ms after
 * the 202, each poll going through the same queue, bucket and retries as
 * any request. */
#include <stdlib.h>
#include <string.h>

#include "twitch/helix_client_int.h"
#include "twitchd/clock.h"
#include "twitchd/error.h"
#include "twitchd/log.h"

#define LOG_MOD "helix"

/* Sends a built request and frees it; `rc` is the builder's result. */
static int send_built(tw_helix_client_t *c, tw_helix_req_t *req, int rc,
                      tw_helix_done_cb cb, void *arg, uint64_t *id) {
  if (rc == 0)
    rc = tw_helix_client_send(c, req, cb, arg, id);
  tw_helix_req_free(req);
  return rc;
}

/* The moderator or sender id: the caller's, or the token's user. */
static const char *acting_id(tw_helix_client_t *c, const char *given) {
  if (given)
    return given;
  const char *u = tw_helix_client_user_id(c);
  return u && u[0] ? u : NULL;
}

#define BEGIN                                                                  \
  if (!c)                                                                      \
    return TW_EINVAL;                                                          \
  tw_helix_req_t req;                                                          \
  tw_helix_req_init(&req);                                                     \
  int rc

int tw_helix_get_users(tw_helix_client_t *c, const char *const *ids,
                       size_t nids, const char *const *logins, size_t nlogins,
                       tw_helix_done_cb cb, void *arg, uint64_t *id) {
  BEGIN = tw_helix_req_get_users(&req, ids, nids, logins, nlogins);
  return send_built(c, &req, rc, cb, arg, id);
}

int tw_helix_get_streams(tw_helix_client_t *c, const char *const *user_ids,
                         size_t nids, const char *const *user_logins,
                         size_t nlogins, bool live_only, unsigned first,
                         const char *after, tw_helix_done_cb cb, void *arg,
                         uint64_t *id) {
  BEGIN = tw_helix_req_get_streams(&req, user_ids, nids, user_logins, nlogins,
                                   live_only, first, after);
  return send_built(c, &req, rc, cb, arg, id);
}

int tw_helix_set_title(tw_helix_client_t *c, const char *broadcaster_id,
                       const char *title, tw_helix_done_cb cb, void *arg,
                       uint64_t *id) {
  BEGIN = tw_helix_req_set_title(&req, broadcaster_id, title);
  return send_built(c, &req, rc, cb, arg, id);
}

int tw_helix_ban(tw_helix_client_t *c, const char *broadcaster_id,
                 const char *moderator_id, const char *user_id,
                 uint32_t duration_s, const char *reason, tw_helix_done_cb cb,
                 void *arg, uint64_t *id) {
  const char *mod = c ? acting_id(c, moderator_id) : NULL;
  if (c && !mod)
    return TW_EAUTH;
  BEGIN =
      tw_helix_req_ban(&req, broadcaster_id, mod, user_id, duration_s, reason);
  return send_built(c, &req, rc, cb, arg, id);
}

int tw_helix_unban(tw_helix_client_t *c, const char *broadcaster_id,
                   const char *moderator_id, const char *user_id,
                   tw_helix_done_cb cb, void *arg, uint64_t *id) {
  const char *mod = c ? acting_id(c, moderator_id) : NULL;
  if (c && !mod)
    return TW_EAUTH;
  BEGIN = tw_helix_req_unban(&req, broadcaster_id, mod, user_id);
  return send_built(c, &req, rc, cb, arg, id);
}

int tw_helix_delete_messages(tw_helix_client_t *c, const char *broadcaster_id,
                             const char *moderator_id, const char *message_id,
                             tw_helix_done_cb cb, void *arg, uint64_t *id) {
  const char *mod = c ? acting_id(c, moderator_id) : NULL;
  if (c && !mod)
    return TW_EAUTH;
  BEGIN =
      tw_helix_req_delete_chat_messages(&req, broadcaster_id, mod, message_id);
  return send_built(c, &req, rc, cb, arg, id);
}

int tw_helix_get_clips(tw_helix_client_t *c, const char *const *ids,
                       size_t nids, tw_helix_done_cb cb, void *arg,
                       uint64_t *id) {
  BEGIN = tw_helix_req_get_clips(&req, ids, nids);
  return send_built(c, &req, rc, cb, arg, id);
}

int tw_helix_send_chat(tw_helix_client_t *c, const char *broadcaster_id,
                       const char *sender_id, const char *message,
                       const char *reply_parent_id, tw_helix_done_cb cb,
                       void *arg, uint64_t *id) {
  const char *snd = c ? acting_id(c, sender_id) : NULL;
  if (c && !snd)
    return TW_EAUTH;
  BEGIN = tw_helix_req_send_chat(&req, broadcaster_id, snd, message,
                                 reply_parent_id, -1);
  return send_built(c, &req, rc, cb, arg, id);
}

int tw_helix_announce(tw_helix_client_t *c, const char *broadcaster_id,
                      const char *moderator_id, const char *message,
                      const char *color, tw_helix_done_cb cb, void *arg,
                      uint64_t *id) {
  const char *mod = c ? acting_id(c, moderator_id) : NULL;
  if (c && !mod)
    return TW_EAUTH;
  BEGIN = tw_helix_req_announce(&req, broadcaster_id, mod, message, color);
  return send_built(c, &req, rc, cb, arg, id);
}

int tw_helix_shoutout(tw_helix_client_t *c, const char *from_broadcaster_id,
                      const char *to_broadcaster_id, const char *moderator_id,
                      tw_helix_done_cb cb, void *arg, uint64_t *id) {
  const char *mod = c ? acting_id(c, moderator_id) : NULL;
  if (c && !mod)
    return TW_EAUTH;
  BEGIN =
      tw_helix_req_shoutout(&req, from_broadcaster_id, to_broadcaster_id, mod);
  return send_built(c, &req, rc, cb, arg, id);
}

int tw_helix_eventsub_create(tw_helix_client_t *c,
                             const tw_helix_sub_spec_t *spec,
                             tw_helix_done_cb cb, void *arg, uint64_t *id) {
  BEGIN = tw_helix_req_eventsub_create(&req, spec);
  return send_built(c, &req, rc, cb, arg, id);
}

int tw_helix_eventsub_list(tw_helix_client_t *c, tw_helix_subs_filter_t f,
                           const char *value, const char *after,
                           tw_helix_done_cb cb, void *arg, uint64_t *id) {
  BEGIN = tw_helix_req_eventsub_list(&req, f, value, after);
  return send_built(c, &req, rc, cb, arg, id);
}

int tw_helix_eventsub_delete(tw_helix_client_t *c, const char *sub_id,
                             tw_helix_done_cb cb, void *arg, uint64_t *id) {
  BEGIN = tw_helix_req_eventsub_delete(&req, sub_id);
  return send_built(c, &req, rc, cb, arg, id);
}

/* ---- Create Clip, confirmed --------------------------------------------- */

struct tw__helix_clipjob {
  tw__helix_clipjob_t *next;
  uint64_t id;
  tw_helix_done_cb cb;
  void *arg;
  uint64_t sub_id; /* the request in progress */
  uint64_t deadline;
  unsigned polls;
  char *created_body; /* the 202's body, decoded again for the result */
  size_t created_len;
  char clip_id[TW_MAX_HELIX_STR + 1];
};

static void job_unlink(tw_helix_client_t *c, tw__helix_clipjob_t *j) {
  for (tw__helix_clipjob_t **p = &tw__helix_ext(c)->clips; *p;
       p = &(*p)->next) {
    if (*p == j) {
      *p = j->next;
      return;
    }
  }
}

static void job_free(tw__helix_clipjob_t *j) {
  free(j->created_body);
  free(j);
}

/* Reports the job's outcome from a sub-request's result `sub` (the 202 or
 * a Get Clips answer; NULL at close), with err and the clip if any. */
static void job_finish(tw_helix_client_t *c, tw__helix_clipjob_t *j,
                       const tw_helix_result_t *sub, int err,
                       const tw_helix_clip_t *clip, const char *detail) {
  job_unlink(c, j);
  tw_helix_error_t none;
  memset(&none, 0, sizeof(none));
  tw_helix_result_t r;
  memset(&r, 0, sizeof(r));
  if (sub)
    r = *sub;
  r.id = j->id;
  r.endpoint = TW_HELIX_CREATE_CLIP;
  r.err = err;
  r.error = sub && sub->error ? sub->error : &none;
  r.detail = detail ? detail : (sub && sub->detail ? sub->detail : "");
  r.users = NULL;
  r.clips = sub ? sub->clips : NULL;
  r.clip = clip;
  tw_helix_clip_created_t created;
  memset(&created, 0, sizeof(created));
  if (j->created_body && tw_helix_decode_clip_created(
                             j->created_body, j->created_len, &created) == 0)
    r.clip_created = &created;
  else
    r.clip_created = NULL;
  if (err == 0)
    tw_info(LOG_MOD, "Create Clip: clip %s confirmed after %u poll%s",
            j->clip_id, j->polls, j->polls == 1 ? "" : "s");
  else if (err != TW_ECANCELED)
    tw_warn(LOG_MOD, "Create Clip failed: %s%s%s", tw_strerror(err),
            r.detail[0] ? ": " : "", r.detail);
  if (j->cb)
    j->cb(c, &r, j->arg);
  tw_helix_clip_created_free(&created);
  job_free(j);
}

static void on_poll(tw_helix_client_t *c, const tw_helix_result_t *res,
                    void *arg);

static int job_poll(tw_helix_client_t *c, tw__helix_clipjob_t *j) {
  tw_helix_req_t req;
  tw_helix_req_init(&req);
  const char *ids[1] = {j->clip_id};
  int rc = tw_helix_req_get_clips(&req, ids, 1);
  if (rc == 0)
    rc = tw__helix_submit(c, &req, tw__helix_ext(c)->clip_poll_ms, on_poll, j,
                          &j->sub_id);
  tw_helix_req_free(&req);
  return rc;
}

static void on_poll(tw_helix_client_t *c, const tw_helix_result_t *res,
                    void *arg) {
  tw__helix_clipjob_t *j = arg;
  j->sub_id = 0;
  j->polls++;
  if (res->err != 0) {
    job_finish(c, j, res, res->err, NULL, NULL);
    return;
  }
  for (size_t i = 0; res->clips && i < res->clips->n; i++) {
    const tw_helix_clip_t *cl = &res->clips->v[i];
    if (cl->id && strcmp(cl->id, j->clip_id) == 0) {
      job_finish(c, j, res, 0, cl, NULL);
      return;
    }
  }
  if (tw_now_ms() + tw__helix_ext(c)->clip_poll_ms > j->deadline) {
    job_finish(c, j, res, TW_ETIMEDOUT, NULL,
               "Get Clips did not list the clip within the window");
    return;
  }
  int rc = job_poll(c, j);
  if (rc != 0)
    job_finish(c, j, res, rc, NULL, "cannot poll Get Clips");
}

static void on_created(tw_helix_client_t *c, const tw_helix_result_t *res,
                       void *arg) {
  tw__helix_clipjob_t *j = arg;
  j->sub_id = 0;
  if (res->err != 0 || !res->clip_created || !res->clip_created->id ||
      strlen(res->clip_created->id) > TW_MAX_HELIX_STR) {
    job_finish(c, j, res, res->err ? res->err : TW_EPARSE, NULL, NULL);
    return;
  }
  j->created_body = malloc(res->body_len + 1);
  if (!j->created_body) {
    job_finish(c, j, res, TW_ENOMEM, NULL, NULL);
    return;
  }
  memcpy(j->created_body, res->body, res->body_len);
  j->created_body[res->body_len] = '\0';
  j->created_len = res->body_len;
  snprintf(j->clip_id, sizeof(j->clip_id), "%s", res->clip_created->id);
  j->deadline = tw_now_ms() + tw__helix_ext(c)->clip_window_ms;
  tw_debug(LOG_MOD, "Create Clip: accepted as %s; polling Get Clips",
           j->clip_id);
  int rc = job_poll(c, j);
  if (rc != 0)
    job_finish(c, j, res, rc, NULL, "cannot poll Get Clips");
}

int tw_helix_create_clip(tw_helix_client_t *c, const char *broadcaster_id,
                         const char *title, unsigned duration_tenths,
                         tw_helix_done_cb cb, void *arg, uint64_t *id) {
  if (!c)
    return TW_EINVAL;
  if (tw__helix_closing(c))
    return TW_ESTATE;
  tw__helix_clipjob_t *j = calloc(1, sizeof(*j));
  if (!j)
    return TW_ENOMEM;
  j->cb = cb;
  j->arg = arg;
  tw_helix_req_t req;
  tw_helix_req_init(&req);
  int rc =
      tw_helix_req_create_clip(&req, broadcaster_id, title, duration_tenths);
  if (rc == 0)
    rc = tw_helix_client_send(c, &req, on_created, j, &j->sub_id);
  tw_helix_req_free(&req);
  if (rc != 0) {
    free(j);
    return rc;
  }
  j->id = tw__helix_next_id(c);
  tw__helix_ext_t *x = tw__helix_ext(c);
  j->next = x->clips;
  x->clips = j;
  if (id)
    *id = j->id;
  return 0;
}

int tw__helix_clips_cancel(tw_helix_client_t *c, uint64_t id) {
  for (tw__helix_clipjob_t *j = tw__helix_ext(c)->clips; j; j = j->next) {
    if (j->id != id)
      continue;
    job_unlink(c, j);
    if (j->sub_id)
      tw_helix_client_cancel(c, j->sub_id);
    job_free(j);
    return 0;
  }
  return TW_ENOTFOUND;
}

void tw__helix_clips_close(tw_helix_client_t *c) {
  tw__helix_ext_t *x = tw__helix_ext(c);
  while (x->clips) {
    tw__helix_clipjob_t *j = x->clips;
    if (j->sub_id) {
      uint64_t s = j->sub_id;
      j->sub_id = 0;
      tw_helix_client_cancel(c, s);
    }
    job_finish(c, j, NULL, TW_ECANCELED, NULL, "closed");
  }
}
