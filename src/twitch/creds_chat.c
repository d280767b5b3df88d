/* Binding a chat client to the user credential (twitchd/creds.h). */
#include "twitchd/chat.h"
#include "twitchd/creds.h"
#include "twitchd/error.h"
#include "twitchd/log.h"

static void on_change(void *arg, tw_creds_t *c, tw_creds_change_t what,
                      const char *token, const char *reason) {
  (void)c;
  (void)reason;
  tw_chat_t *chat = arg;
  if (what == TW_CREDS_USER_TOKEN && token)
    tw_chat_set_token(chat, token);
  else if (what == TW_CREDS_USER_DEAD)
    tw_chat_token_failed(chat, TW_EAUTH);
}

int tw_creds_chat_attach(tw_creds_t *c, tw_chat_t *chat) {
  if (!c || !chat)
    return TW_EINVAL;
  return tw_creds_subscribe(c, on_change, chat);
}

static void on_answer(void *arg, int status, const char *token) {
  tw_chat_t *chat = arg;
  if (status == 0 && token)
    tw_chat_set_token(chat, token);
  else
    tw_chat_token_failed(chat, status ? status : TW_EAUTH);
}

void tw_creds_chat_detach(tw_creds_t *c, tw_chat_t *chat) {
  if (!c || !chat)
    return;
  tw_creds_unsubscribe(c, on_change, chat);
  tw_token_source_t src = tw_creds_user_source(c);
  src.cancel(src.ud, on_answer, chat);
}

void tw_creds_chat_refresh(tw_creds_t *c, tw_chat_t *chat) {
  if (!c || !chat)
    return;
  tw_token_source_t src = tw_creds_user_source(c);
  /* The chat logs in with the token it was last given, which is the
   * current one: every rotation is pushed to it. */
  int rc = src.refresh(src.ud, src.current(src.ud), on_answer, chat);
  if (rc != 0)
    tw_chat_token_failed(chat, rc);
}
