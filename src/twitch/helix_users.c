/* The Helix client's users cache and user lookups (see
 * include/twitchd/helix_client.h).
 *
 * The cache is a fixed array of `cap` entries scanned linearly: a few
 * thousand entries cost microseconds per lookup, far below one request,
 * and a scan needs no hashing of attacker-chosen logins. An entry maps a
 * login (lower case) to an id and back; it is fresh for ttl_ms after the
 * answer that filled it, and the least recently used entry is the one
 * replaced when the array is full.
 *
 * A lookup that misses the cache becomes a pending lookup keyed by the
 * login or id it asks for; further lookups of the same key wait on it, so
 * two bans of the same user one after the other cost one Get Users. A
 * lookup answered from the cache is still reported from the loop (the
 * pump delivers it), never from inside tw_helix_lookup_user(). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "twitch/helix_client_int.h"
#include "twitchd/clock.h"
#include "twitchd/error.h"
#include "twitchd/log.h"

#define LOG_MOD "helix"

struct tw__helix_user {
  bool used;
  char login[TW__HELIX_MAX_LOGIN + 1];
  char id[TW_MAX_HELIX_ID + 1];
  uint64_t expires; /* monotonic ms */
  uint64_t last_use;
};

typedef struct waiter {
  struct waiter *next;
  uint64_t id;
  tw_helix_user_cb cb;
  void *arg;
} waiter_t;

struct tw__helix_lookup {
  tw__helix_lookup_t *next;
  bool by_id;
  char key[TW__HELIX_MAX_LOGIN + 1]; /* login (lower case) or id */
  uint64_t http_id; /* the Get Users call; 0 when answered already */
  bool ready;
  int err;
  char id[TW_MAX_HELIX_ID + 1];
  char login[TW__HELIX_MAX_LOGIN + 1];
  waiter_t *waiters;
};

int tw__helix_users_init(tw_helix_client_t *c, unsigned cap, uint64_t ttl);

int tw__helix_users_init(tw_helix_client_t *c, unsigned cap, uint64_t ttl) {
  tw__helix_ext_t *x = tw__helix_ext(c);
  x->users = calloc(cap, sizeof(*x->users));
  if (!x->users)
    return TW_ENOMEM;
  x->cap = cap;
  x->ttl_ms = ttl;
  return 0;
}

static bool valid_login(const char *s, size_t n) {
  if (n == 0 || n > TW__HELIX_MAX_LOGIN)
    return false;
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (!(isalnum(ch) || ch == '_'))
      return false;
  }
  return true;
}

static bool valid_id(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > TW_MAX_HELIX_ID)
    return false;
  for (size_t i = 0; i < n; i++)
    if (s[i] < '0' || s[i] > '9')
      return false;
  return true;
}

static void lower(const char *in, char *out, size_t cap) {
  size_t i = 0;
  for (; in[i] && i + 1 < cap; i++)
    out[i] = (char)tolower((unsigned char)in[i]);
  out[i] = '\0';
}

static tw__helix_user_t *find(tw__helix_ext_t *x, const char *login,
                              const char *id, uint64_t now, bool fresh_only) {
  for (size_t i = 0; i < x->cap; i++) {
    tw__helix_user_t *u = &x->users[i];
    if (!u->used)
      continue;
    if ((login && strcmp(u->login, login) == 0) ||
        (id && strcmp(u->id, id) == 0)) {
      if (fresh_only && now >= u->expires)
        return NULL;
      return u;
    }
  }
  return NULL;
}

static void put(tw__helix_ext_t *x, const char *login, const char *id,
                uint64_t now) {
  char lo[TW__HELIX_MAX_LOGIN + 1];
  if (!login || !id || !valid_login(login, strlen(login)) || !valid_id(id))
    return;
  lower(login, lo, sizeof(lo));
  /* A renamed user: drop the entry of the old login (same id) and of a
   * login now held by another id, then store one entry. */
  tw__helix_user_t *slot = NULL;
  for (size_t i = 0; i < x->cap; i++) {
    tw__helix_user_t *u = &x->users[i];
    if (!u->used)
      continue;
    if (strcmp(u->id, id) == 0 || strcmp(u->login, lo) == 0) {
      if (slot == NULL) {
        slot = u;
      } else {
        u->used = false;
        x->n--;
      }
    }
  }
  if (slot == NULL) {
    for (size_t i = 0; i < x->cap; i++) {
      tw__helix_user_t *u = &x->users[i];
      if (!u->used) {
        slot = u;
        x->n++;
        break;
      }
      if (slot == NULL || u->last_use < slot->last_use)
        slot = u;
    }
  }
  slot->used = true;
  snprintf(slot->login, sizeof(slot->login), "%s", lo);
  snprintf(slot->id, sizeof(slot->id), "%s", id);
  slot->expires = now + x->ttl_ms;
  slot->last_use = ++x->tick;
}

void tw__helix_cache_fill(tw_helix_client_t *c, const tw_helix_users_t *u) {
  if (!u)
    return;
  tw__helix_ext_t *x = tw__helix_ext(c);
  uint64_t now = tw_now_ms();
  for (size_t i = 0; i < u->n; i++)
    put(x, u->v[i].login, u->v[i].id, now);
}

size_t tw_helix_cache_size(const tw_helix_client_t *c) {
  return c ? ((tw__helix_ext_t *)tw__helix_ext((tw_helix_client_t *)c))->n : 0;
}

int tw_helix_cache_get(tw_helix_client_t *c, const char *login,
                       const char *user_id, char *out, size_t cap) {
  if (!c || (!login == !user_id) || !out || cap == 0)
    return TW_EINVAL;
  char lo[TW__HELIX_MAX_LOGIN + 1];
  if (login) {
    if (!valid_login(login, strlen(login)))
      return TW_EINVAL;
    lower(login, lo, sizeof(lo));
  }
  tw__helix_user_t *u =
      find(tw__helix_ext(c), login ? lo : NULL, user_id, tw_now_ms(), true);
  if (!u)
    return TW_ENOTFOUND;
  const char *v = login ? u->id : u->login;
  if (strlen(v) + 1 > cap)
    return TW_ETOOBIG;
  memcpy(out, v, strlen(v) + 1);
  return 0;
}

/* ---- lookups ------------------------------------------------------------ */

static void free_lookup(tw__helix_lookup_t *l) {
  while (l->waiters) {
    waiter_t *w = l->waiters;
    l->waiters = w->next;
    free(w);
  }
  free(l);
}

static void unlink_lookup(tw__helix_ext_t *x, tw__helix_lookup_t *l) {
  for (tw__helix_lookup_t **p = &x->lookups; *p; p = &(*p)->next) {
    if (*p == l) {
      *p = l->next;
      x->nlookups--;
      return;
    }
  }
}

/* Reports to every waiter, one at a time (a callback may cancel others or
 * close the client), then frees the lookup. */
static void deliver(tw_helix_client_t *c, tw__helix_lookup_t *l,
                    const tw_helix_result_t *res) {
  unlink_lookup(tw__helix_ext(c), l);
  while (l->waiters) {
    waiter_t *w = l->waiters;
    l->waiters = w->next;
    w->cb(c, l->err, l->err ? NULL : l->id, l->err ? NULL : l->login, res,
          w->arg);
    free(w);
  }
  free_lookup(l);
}

static void on_users(tw_helix_client_t *c, const tw_helix_result_t *res,
                     void *arg) {
  tw__helix_lookup_t *l = arg;
  l->http_id = 0;
  l->err = res->err;
  if (res->err == 0) {
    l->err = TW_ENOTFOUND;
    for (size_t i = 0; res->users && i < res->users->n; i++) {
      const tw_helix_user_t *u = &res->users->v[i];
      bool match = l->by_id ? (u->id && strcmp(u->id, l->key) == 0)
                            : (u->login && strcasecmp(u->login, l->key) == 0);
      if (match && u->id && u->login && strlen(u->id) < sizeof(l->id) &&
          strlen(u->login) < sizeof(l->login)) {
        snprintf(l->id, sizeof(l->id), "%s", u->id);
        snprintf(l->login, sizeof(l->login), "%s", u->login);
        l->err = 0;
        break;
      }
    }
    if (l->err == TW_ENOTFOUND)
      tw_info(LOG_MOD, "Get Users: no user %s %s", l->by_id ? "with id" : "",
              l->key);
  }
  deliver(c, l, res);
}

int tw_helix_lookup_user(tw_helix_client_t *c, const char *login,
                         const char *user_id, tw_helix_user_cb cb, void *arg,
                         uint64_t *id) {
  if (!c || !cb || (!login == !user_id))
    return TW_EINVAL;
  if (tw__helix_closing(c))
    return TW_ESTATE;
  char key[TW__HELIX_MAX_LOGIN + 1];
  if (login) {
    if (!valid_login(login, strlen(login)))
      return TW_EINVAL;
    lower(login, key, sizeof(key));
  } else {
    if (!valid_id(user_id))
      return TW_EINVAL;
    snprintf(key, sizeof(key), "%s", user_id);
  }
  tw__helix_ext_t *x = tw__helix_ext(c);
  waiter_t *w = calloc(1, sizeof(*w));
  if (!w)
    return TW_ENOMEM;
  w->cb = cb;
  w->arg = arg;
  w->id = tw__helix_next_id(c);
  /* Join a pending lookup of the same user. */
  for (tw__helix_lookup_t *l = x->lookups; l; l = l->next) {
    if (l->by_id == (user_id != NULL) && strcmp(l->key, key) == 0) {
      w->next = l->waiters;
      l->waiters = w;
      tw__helix_stats(c)->cache_hits++;
      if (id)
        *id = w->id;
      return 0;
    }
  }
  if (x->nlookups >= TW_MAX_HELIX_LOOKUPS) {
    free(w);
    return TW_EFULL;
  }
  tw__helix_lookup_t *l = calloc(1, sizeof(*l));
  if (!l) {
    free(w);
    return TW_ENOMEM;
  }
  l->by_id = user_id != NULL;
  snprintf(l->key, sizeof(l->key), "%s", key);
  l->waiters = w;
  tw__helix_user_t *u = find(x, login ? key : NULL, user_id, tw_now_ms(), true);
  if (u) {
    u->last_use = ++x->tick;
    tw__helix_stats(c)->cache_hits++;
    l->ready = true;
    snprintf(l->id, sizeof(l->id), "%s", u->id);
    snprintf(l->login, sizeof(l->login), "%s", u->login);
    tw__helix_kick(c);
  } else {
    tw__helix_stats(c)->cache_misses++;
    tw_helix_req_t req;
    tw_helix_req_init(&req);
    const char *k1 = key;
    int rc = login ? tw_helix_req_get_users(&req, NULL, 0, &k1, 1)
                   : tw_helix_req_get_users(&req, &k1, 1, NULL, 0);
    if (rc == 0)
      rc = tw__helix_submit(c, &req, 0, on_users, l, &l->http_id);
    tw_helix_req_free(&req);
    if (rc != 0) {
      free_lookup(l);
      return rc;
    }
  }
  l->next = x->lookups;
  x->lookups = l;
  x->nlookups++;
  if (id)
    *id = w->id;
  return 0;
}

void tw__helix_users_deliver(tw_helix_client_t *c) {
  tw__helix_ext_t *x = tw__helix_ext(c);
  for (;;) {
    tw__helix_lookup_t *l = x->lookups;
    while (l && !l->ready)
      l = l->next;
    if (!l)
      return;
    deliver(c, l, NULL);
  }
}

int tw__helix_users_cancel(tw_helix_client_t *c, uint64_t id) {
  tw__helix_ext_t *x = tw__helix_ext(c);
  for (tw__helix_lookup_t *l = x->lookups; l; l = l->next) {
    for (waiter_t **p = &l->waiters; *p; p = &(*p)->next) {
      if ((*p)->id != id)
        continue;
      waiter_t *w = *p;
      *p = w->next;
      free(w);
      if (l->waiters == NULL) {
        /* Nobody wants the answer any more. */
        unlink_lookup(x, l);
        if (l->http_id)
          tw_helix_client_cancel(c, l->http_id);
        free_lookup(l);
      }
      return 0;
    }
  }
  return TW_ENOTFOUND;
}

void tw__helix_users_close(tw_helix_client_t *c) {
  tw__helix_ext_t *x = tw__helix_ext(c);
  while (x->lookups) {
    tw__helix_lookup_t *l = x->lookups;
    if (l->http_id) {
      uint64_t h = l->http_id;
      l->http_id = 0;
      tw_helix_client_cancel(c, h);
    }
    l->err = TW_ECANCELED;
    deliver(c, l, NULL);
  }
}
