/* An example C skill, built as a shared object (hello_skill.so):
 *
 *   skills:
 *     - name: hello
 *       path: build/examples/hello_skill.so
 *       greeting: Hi
 *
 * It answers "!hello" (any case) with "<greeting>, <login>!" and thanks new
 * followers. It talks to the runtime only through the api table, keeps its
 * state in memory it allocates per load (two skills may load the same .so,
 * which dlopen shares) and frees it on unload. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "twitchd/skill.h"

typedef struct {
  const tw_skill_api_t *api;
  char greeting[64];
  unsigned long hellos;
} hello_t;

static int on_hello(tw_skill_t *sk, const tw_event_t *ev,
                    const tw_skill_match_t *m, void *arg) {
  (void)m;
  hello_t *h = arg;
  const char *user = NULL;
  if (h->api->event_get_str(ev, "user", &user) != 0 || user == NULL)
    return 1;
  char text[256];
  snprintf(text, sizeof(text), "%s, %s!", h->greeting, user);
  h->hellos++;
  return h->api->respond(sk, ev, text) == 0 ? 0 : 1;
}

static int on_follow(tw_skill_t *sk, const tw_event_t *ev,
                     const tw_skill_match_t *m, void *arg) {
  (void)m;
  hello_t *h = arg;
  const char *who = NULL;
  h->api->event_get_str(ev, "follower", &who);
  tw_event_t *msg = h->api->event_new("Message");
  if (msg == NULL)
    return 1;
  char text[256];
  snprintf(text, sizeof(text), "Welcome aboard, %s!", who ? who : "friend");
  h->api->event_set_str(msg, "text", text);
  /* The runtime fills the room from the follow event. */
  return h->api->send(sk, "twitch", msg) == 0 ? 0 : 1;
}

static void unload(void *arg) {
  free(arg);
}

TW_SKILL_EXPORT int tw_skill_init_v1(const tw_skill_api_t *api,
                                     tw_skill_t *sk) {
  if (api->abi_version != TW_SKILL_ABI_VERSION || !TW_SKILL_API_HAS(api, log))
    return -1;
  hello_t *h = calloc(1, sizeof(*h));
  if (h == NULL)
    return -1;
  h->api = api;
  const char *g = api->option(sk, "greeting");
  snprintf(h->greeting, sizeof(h->greeting), "%s", g ? g : "Hello");
  api->on_unload(sk, unload, h);
  tw_skill_rule_t rule = {.flags = TW_SKILL_CASELESS | TW_SKILL_ANCHOR_START};
  if (api->match_regex(sk, "!hello\\b", &rule, on_hello, h, __FILE__,
                       __LINE__) != 0)
    return -1;
  if (api->match_event(sk, "UserFollowed", NULL, on_follow, h, __FILE__,
                       __LINE__) != 0)
    return -1;
  api->log(sk, TW_LOG_INFO, "hello skill ready");
  return 0;
}
