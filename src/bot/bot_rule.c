/* twitchd: matcher constraints (users, rooms, connectors, Twitch roles).
 *
 * opsdroid's constrain_users tested `message.user in users`, which with a
 * plain string is a substring test: "bob" was allowed by "bobby_admin".
 * Here every comparison is a whole-string equality against a list that was
 * normalised once at registration: logins and channel names are compared
 * case-insensitively (Twitch logins are ASCII and case-insensitive), ids
 * exactly. Only the event's login (`user`) and id (`user_id`) are consulted,
 * never `display_name`, which a user chooses freely and which may equal
 * someone else's login. Roles come from the event's flags, which the chat
 * client sets from the message's tags; the message text cannot change
 * them. */
#include <stdlib.h>
#include <string.h>

#include "bot/bot_int.h"
#include "twitchd/error.h"

static char ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* Equality ignoring ASCII case; other bytes must be equal. */
static bool eq_nocase(const char *a, const char *b) {
  for (; *a && *b; a++, b++)
    if (ascii_lower(*a) != ascii_lower(*b))
      return false;
  return *a == *b;
}

static int list_add(tw__strlist_t *l, const char *s, size_t len, bool lower) {
  if (l->n >= TW_BOT_MAX_LIST)
    return TW_ETOOBIG;
  char **v = realloc(l->v, (l->n + 1) * sizeof(*v));
  if (v == NULL)
    return TW_ENOMEM;
  l->v = v;
  char *c = malloc(len + 1);
  if (c == NULL)
    return TW_ENOMEM;
  for (size_t i = 0; i < len; i++)
    c[i] = lower ? ascii_lower(s[i]) : s[i];
  c[len] = '\0';
  l->v[l->n++] = c;
  l->set = true;
  return 0;
}

static void list_free(tw__strlist_t *l) {
  for (size_t i = 0; i < l->n; i++)
    free(l->v[i]);
  free(l->v);
  memset(l, 0, sizeof(*l));
}

static bool all_digits(const char *s) {
  if (*s == '\0')
    return false;
  for (; *s; s++)
    if (*s < '0' || *s > '9')
      return false;
  return true;
}

/* "id:<digits>" adds to ids; anything else, after dropping one leading
 * `strip` character, to names. */
static int add_entry(tw__strlist_t *names, tw__strlist_t *ids,
                     const char *entry, char strip) {
  if (entry == NULL)
    return TW_EINVAL;
  size_t len = strnlen(entry, TW_MAX_EVENT_STR + 1);
  if (len == 0 || len > TW_MAX_EVENT_STR)
    return TW_EINVAL;
  if (strncmp(entry, "id:", 3) == 0) {
    if (!all_digits(entry + 3))
      return TW_EINVAL;
    return list_add(ids, entry + 3, len - 3, false);
  }
  if (entry[0] == strip) {
    entry++;
    len--;
  }
  if (len == 0)
    return TW_EINVAL;
  return list_add(names, entry, len, true);
}

int tw__rule_add_user(tw__rule_t *r, const char *entry) {
  r->users_set = true;
  return add_entry(&r->user_logins, &r->user_ids, entry, '@');
}

int tw__rule_add_room(tw__rule_t *r, const char *entry) {
  r->rooms_set = true;
  return add_entry(&r->room_names, &r->room_ids, entry, '#');
}

int tw__rule_add_connector(tw__rule_t *r, const char *entry) {
  if (entry == NULL || entry[0] == '\0')
    return TW_EINVAL;
  return list_add(&r->connectors, entry, strlen(entry), false);
}

void tw__rule_users_given(tw__rule_t *r) {
  r->users_set = true;
}
void tw__rule_rooms_given(tw__rule_t *r) {
  r->rooms_set = true;
}
void tw__rule_connectors_given(tw__rule_t *r) {
  r->connectors.set = true;
}

unsigned tw__rule_role_bit(const char *name) {
  if (name == NULL)
    return 0;
  if (strcmp(name, "broadcaster") == 0)
    return TW_SKILL_ROLE_BROADCASTER;
  if (strcmp(name, "moderator") == 0 || strcmp(name, "mod") == 0)
    return TW_SKILL_ROLE_MODERATOR;
  if (strcmp(name, "vip") == 0)
    return TW_SKILL_ROLE_VIP;
  if (strcmp(name, "subscriber") == 0 || strcmp(name, "sub") == 0)
    return TW_SKILL_ROLE_SUBSCRIBER;
  return 0;
}

int tw__rule_from_c(tw__rule_t *r, const tw_skill_rule_t *c) {
  if (c == NULL)
    return 0;
  int rc = 0;
  if (c->users != NULL) {
    tw__rule_users_given(r);
    for (size_t i = 0; c->users[i] != NULL && rc == 0; i++)
      rc = tw__rule_add_user(r, c->users[i]);
  }
  if (c->rooms != NULL) {
    tw__rule_rooms_given(r);
    for (size_t i = 0; c->rooms[i] != NULL && rc == 0; i++)
      rc = tw__rule_add_room(r, c->rooms[i]);
  }
  if (c->connectors != NULL) {
    tw__rule_connectors_given(r);
    for (size_t i = 0; c->connectors[i] != NULL && rc == 0; i++)
      rc = tw__rule_add_connector(r, c->connectors[i]);
  }
  if (c->roles &
      ~(unsigned)(TW_SKILL_ROLE_BROADCASTER | TW_SKILL_ROLE_MODERATOR |
                  TW_SKILL_ROLE_VIP | TW_SKILL_ROLE_SUBSCRIBER))
    return TW_EINVAL;
  r->roles = c->roles;
  return rc;
}

void tw__rule_free(tw__rule_t *r) {
  list_free(&r->user_logins);
  list_free(&r->user_ids);
  list_free(&r->room_names);
  list_free(&r->room_ids);
  list_free(&r->connectors);
  memset(r, 0, sizeof(*r));
}

static bool in_list_nocase(const tw__strlist_t *l, const char *s) {
  for (size_t i = 0; i < l->n; i++)
    if (eq_nocase(l->v[i], s))
      return true;
  return false;
}

static bool in_list(const tw__strlist_t *l, const char *s) {
  for (size_t i = 0; i < l->n; i++)
    if (strcmp(l->v[i], s) == 0)
      return true;
  return false;
}

static bool check_users(const tw__rule_t *r, const tw_event_t *ev) {
  if (ev->user != NULL && ev->user[0] != '\0' &&
      in_list_nocase(&r->user_logins, ev->user))
    return true;
  if (ev->user_id != NULL && ev->user_id[0] != '\0' &&
      in_list(&r->user_ids, ev->user_id))
    return true;
  return false;
}

static bool check_rooms(const tw__rule_t *r, const tw_event_t *ev) {
  if (ev->target != NULL) {
    const char *t = ev->target[0] == '#' ? ev->target + 1 : ev->target;
    if (t[0] != '\0' && in_list_nocase(&r->room_names, t))
      return true;
  }
  if (ev->kind == TW_EVENT_MESSAGE && ev->u.message.room_id != NULL &&
      ev->u.message.room_id[0] != '\0' &&
      in_list(&r->room_ids, ev->u.message.room_id))
    return true;
  return false;
}

static bool check_roles(const tw__rule_t *r, const tw_event_t *ev) {
  /* Only chat messages carry badges; no other event proves a role. */
  if (ev->kind != TW_EVENT_MESSAGE)
    return false;
  const struct tw_event_message *m = &ev->u.message;
  unsigned have = 0;
  if (m->is_broadcaster)
    have |= TW_SKILL_ROLE_BROADCASTER | TW_SKILL_ROLE_MODERATOR;
  if (m->is_moderator)
    have |= TW_SKILL_ROLE_MODERATOR;
  if (m->is_vip)
    have |= TW_SKILL_ROLE_VIP;
  if (m->is_subscriber)
    have |= TW_SKILL_ROLE_SUBSCRIBER;
  return (have & r->roles) != 0;
}

const char *tw__rule_check(const tw__rule_t *r, const tw_event_t *ev) {
  if (r->users_set && !check_users(r, ev))
    return "users";
  if (r->rooms_set && !check_rooms(r, ev))
    return "rooms";
  if (r->connectors.set &&
      (ev->connector == NULL || !in_list(&r->connectors, ev->connector)))
    return "connectors";
  if (r->roles != 0 && !check_roles(r, ev))
    return "roles";
  return NULL;
}
