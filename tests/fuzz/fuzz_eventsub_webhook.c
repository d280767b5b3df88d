/* libFuzzer target for EventSub webhook verification
 * (tw_eventsub_webhook_verify) and the mapping of what it accepts.
 *
 * Input: one control byte, then three lines (message id, timestamp, message
 * type) and the body. The low bits of the control byte choose whether the
 * request is signed correctly (so that the fuzzer reaches the body decoder
 * instead of stopping at the MAC), and whether "now" is the timestamp.
 * What must hold: no crash or leak; every refusal has status 400, 403 or
 * 500 and a reason; a correctly signed, fresh request is never refused
 * with 403; an unsigned one is never accepted; a challenge has 1..cap
 * bytes; a notification maps or is refused with a documented code. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "twitchd/error.h"
#include "twitchd/event.h"
#include "twitchd/eventsub_events.h"
#include "twitchd/eventsub_webhook.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Copies the next line (up to '\n') of *p into a new string. */
static char *line(const uint8_t **p, const uint8_t *end) {
  const uint8_t *s = *p;
  const uint8_t *nl = memchr(s, '\n', (size_t)(end - s));
  size_t n = nl ? (size_t)(nl - s) : (size_t)(end - s);
  char *out = malloc(n + 1);
  if (!out)
    abort();
  memcpy(out, s, n);
  out[n] = '\0';
  *p = nl ? nl + 1 : end;
  return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  static const char secret[] = "fuzz-secret-0123";
  uint8_t ctl = data[0];
  const uint8_t *p = data + 1, *end = data + size;
  char *id = line(&p, end);
  char *ts = line(&p, end);
  char *type = line(&p, end);
  const char *body = (const char *)p;
  size_t len = (size_t)(end - p);
  char sig[TW_EVENTSUB_WEBHOOK_SIG_BUF] = "sha256=00";
  bool signed_ok = (ctl & 1) != 0;
  if (signed_ok &&
      tw_eventsub_webhook_sign(secret, id, ts, body, len, sig, sizeof(sig)))
    abort();
  int64_t now = 1764126000000; /* 2025-11-26T03:00:00Z */
  int64_t t;
  bool fresh = false;
  if ((ctl & 2) && tw_eventsub_webhook_parse_time(ts, &t) == 0) {
    now = t;
    fresh = true;
  }
  tw_eventsub_webhook_headers_t h = {id, "0", type, sig, ts, NULL, NULL};
  tw_eventsub_wh_verdict_t v;
  if (tw_eventsub_webhook_verify(&h, len ? body : NULL, len, secret, now, &v))
    abort();
  switch (v.kind) {
  case TW_EVENTSUB_WH_REFUSE:
    if ((v.status != 400 && v.status != 403 && v.status != 500) ||
        v.reason[0] == '\0')
      abort();
    if (signed_ok && fresh && v.status == 403)
      abort();
    break;
  case TW_EVENTSUB_WH_CHALLENGE:
    if (!signed_ok || v.status != 200 || !v.challenge || v.challenge_len == 0 ||
        v.challenge_len > TW_MAX_EVENTSUB_WEBHOOK_CHALLENGE ||
        strlen(v.challenge) != v.challenge_len)
      abort();
    break;
  case TW_EVENTSUB_WH_NOTIFICATION: {
    if (!signed_ok || v.status != 204 || !v.msg.event ||
        !v.msg.subscription.type)
      abort();
    tw_event_t *ev = NULL;
    int rc = tw_eventsub_to_event(&v.msg, NULL, &ev, NULL, 0);
    if (rc == 0)
      tw_event_free(ev);
    else if (rc != TW_EUNSUPPORTED && rc != TW_EPARSE && rc != TW_ENOMEM)
      abort();
    break;
  }
  case TW_EVENTSUB_WH_REVOCATION:
    if (!signed_ok || v.status != 204 || !v.msg.subscription.id)
      abort();
    break;
  default:
    abort();
  }
  tw_eventsub_webhook_verdict_free(&v);
  free(id);
  free(ts);
  free(type);
  return 0;
}
