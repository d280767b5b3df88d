/* Helpers for tests of the skills runtime (see bot_test.h). */
#include "bot_test.h"

#include <stdlib.h>
#include <string.h>

#include "twitchd/error.h"
#include "twitchd/log.h"

int tw_test_sink_route(const char *connector, tw_event_t *action, void *arg) {
  tw_test_sink_t *s = arg;
  if (s->fail_rc != 0 || s->n >= TW_TEST_SINK_MAX) {
    tw_event_free(action);
    s->refused++;
    return s->fail_rc != 0 ? s->fail_rc : TW_EFULL;
  }
  snprintf(s->v[s->n].connector, sizeof(s->v[s->n].connector), "%s", connector);
  s->v[s->n].ev = action;
  s->n++;
  return 0;
}

void tw_test_sink_clear(tw_test_sink_t *s) {
  for (size_t i = 0; i < s->n; i++)
    tw_event_free(s->v[i].ev);
  s->n = 0;
  s->refused = 0;
}

const char *tw_test_sink_str(const tw_test_sink_t *s, size_t i,
                             const char *field) {
  if (i >= s->n)
    return NULL;
  const char *v = NULL;
  if (tw_event_get_str(s->v[i].ev, field, &v) != 0 || v == NULL)
    return "";
  return v;
}

tw_event_t *tw_test_message(const char *user, const char *user_id,
                            const char *text) {
  tw_event_t *ev = tw_event_new(TW_EVENT_MESSAGE);
  if (ev == NULL)
    return NULL;
  tw_event_set_str(ev, "connector", "twitch");
  tw_event_set_str(ev, "target", "#chan");
  tw_event_set_str(ev, "room_id", "1000");
  tw_event_set_str(ev, "user", user);
  tw_event_set_str(ev, "user_id", user_id);
  tw_event_set_str(ev, "display_name", user);
  tw_event_set_str(ev, "event_id", "msg-1");
  tw_event_set_str(ev, "text", text);
  return ev;
}

const char *tw_test_fixture(const char *rel) {
  static char buf[4096];
  const char *dir = getenv("TW_FIXTURES");
  snprintf(buf, sizeof(buf), "%s/%s", dir ? dir : "tests/fixtures", rel);
  return buf;
}

static FILE *log_file;

void tw_test_log_begin(void) {
  log_file = tmpfile();
  tw_log_set_output(log_file);
}

char *tw_test_log_end(void) {
  tw_log_set_output(NULL);
  if (log_file == NULL)
    return strdup("");
  long n = ftell(log_file);
  char *buf = malloc(n > 0 ? (size_t)n + 1 : 1);
  if (buf != NULL) {
    rewind(log_file);
    size_t got = n > 0 ? fread(buf, 1, (size_t)n, log_file) : 0;
    buf[got] = '\0';
  }
  fclose(log_file);
  log_file = NULL;
  return buf;
}
