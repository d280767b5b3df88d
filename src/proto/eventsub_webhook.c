/* EventSub webhook request verification (sans-IO); see
 * twitchd/eventsub_webhook.h and docs/twitch-protocol.md 3.4. */
#include "twitchd/eventsub_webhook.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "twitchd/clock.h"
#include "twitchd/error.h"

static void refuse(tw_eventsub_wh_verdict_t *v, int status, const char *fmt,
                   ...) __attribute__((format(printf, 3, 4)));

static void refuse(tw_eventsub_wh_verdict_t *v, int status, const char *fmt,
                   ...) {
  tw_eventsub_msg_free(&v->msg);
  free((char *)v->challenge);
  v->challenge = NULL;
  v->challenge_len = 0;
  v->kind = TW_EVENTSUB_WH_REFUSE;
  v->status = status;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(v->reason, sizeof(v->reason), fmt, ap);
  va_end(ap);
}

int tw_eventsub_webhook_sign(const char *secret, const char *message_id,
                             const char *timestamp, const char *body,
                             size_t len, char *out, size_t cap) {
  if (!secret || !message_id || !timestamp || (!body && len) || !out)
    return TW_EINVAL;
  if (cap < TW_EVENTSUB_WEBHOOK_SIG_BUF)
    return TW_ETOOBIG;
  unsigned char mac[32];
  size_t maclen = 0;
  int ok = 0;
  EVP_MAC *m = EVP_MAC_fetch(NULL, "HMAC", NULL);
  EVP_MAC_CTX *ctx = m ? EVP_MAC_CTX_new(m) : NULL;
  if (ctx) {
    OSSL_PARAM params[2];
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                 (char *)"SHA256", 0);
    params[1] = OSSL_PARAM_construct_end();
    /* The message is id || timestamp || body with no separators: three
     * updates instead of a concatenated copy of a body of up to 1 MiB. */
    ok = EVP_MAC_init(ctx, (const unsigned char *)secret, strlen(secret),
                      params) &&
         EVP_MAC_update(ctx, (const unsigned char *)message_id,
                        strlen(message_id)) &&
         EVP_MAC_update(ctx, (const unsigned char *)timestamp,
                        strlen(timestamp)) &&
         (len == 0 || EVP_MAC_update(ctx, (const unsigned char *)body, len)) &&
         EVP_MAC_final(ctx, mac, &maclen, sizeof(mac)) && maclen == 32;
  }
  EVP_MAC_CTX_free(ctx);
  EVP_MAC_free(m);
  if (!ok)
    return TW_ENOMEM;
  static const char hex[] = "0123456789abcdef";
  memcpy(out, "sha256=", 7);
  for (size_t i = 0; i < 32; i++) {
    out[7 + 2 * i] = hex[mac[i] >> 4];
    out[7 + 2 * i + 1] = hex[mac[i] & 15];
  }
  out[7 + 64] = '\0';
  return 0;
}

int tw_eventsub_webhook_parse_time(const char *s, int64_t *ms_out) {
  return tw_time_parse_rfc3339(s, ms_out);
}

static bool header_ok(const char *v) {
  return v && *v && strlen(v) <= TW_MAX_EVENTSUB_WEBHOOK_HEADER;
}

/* The challenge body: {"challenge": "...", "subscription": {...}}. */
static void decode_challenge(const char *body, size_t len,
                             tw_eventsub_wh_verdict_t *v) {
  json_error_t je;
  json_t *root = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &je);
  if (root == NULL || !json_is_object(root)) {
    json_decref(root);
    refuse(v, 400, "the verification body is not a JSON object");
    return;
  }
  v->msg.json_ = root;
  json_t *c = json_object_get(root, "challenge");
  if (!json_is_string(c) || json_string_length(c) == 0 ||
      json_string_length(c) > TW_MAX_EVENTSUB_WEBHOOK_CHALLENGE ||
      strlen(json_string_value(c)) != json_string_length(c)) {
    refuse(v, 400, "challenge is missing, empty, too long or not a string");
    return;
  }
  json_t *s = json_object_get(root, "subscription");
  const char *fields[] = {"id", "type", "version", "status"};
  const char **slots[] = {&v->msg.subscription.id, &v->msg.subscription.type,
                          &v->msg.subscription.version,
                          &v->msg.subscription.status};
  if (!json_is_object(s)) {
    refuse(v, 400, "subscription is missing or not an object");
    return;
  }
  for (size_t i = 0; i < 4; i++) {
    json_t *f = json_object_get(s, fields[i]);
    if (json_is_string(f) && json_string_length(f) <= TW_MAX_EVENTSUB_ID)
      *slots[i] = json_string_value(f);
  }
  if (!v->msg.subscription.id || !v->msg.subscription.type) {
    refuse(v, 400, "subscription.id or subscription.type is missing");
    return;
  }
  json_t *cond = json_object_get(s, "condition");
  v->msg.subscription.condition = json_is_object(cond) ? cond : NULL;
  char *copy = strdup(json_string_value(c));
  if (copy == NULL) {
    refuse(v, 500, "out of memory");
    return;
  }
  v->challenge = copy;
  v->challenge_len = json_string_length(c);
  v->kind = TW_EVENTSUB_WH_CHALLENGE;
  v->status = 200;
}

int tw_eventsub_webhook_verify(const tw_eventsub_webhook_headers_t *h,
                               const char *body, size_t len, const char *secret,
                               int64_t now_ms, tw_eventsub_wh_verdict_t *out) {
  if (out == NULL)
    return TW_EINVAL;
  memset(out, 0, sizeof(*out));
  if (h == NULL || secret == NULL || (body == NULL && len)) {
    refuse(out, 400, "bad arguments");
    return TW_EINVAL;
  }
  const char *missing = !header_ok(h->message_id)     ? "Message-Id"
                        : !header_ok(h->message_type) ? "Message-Type"
                        : !header_ok(h->signature)    ? "Message-Signature"
                        : !header_ok(h->timestamp)    ? "Message-Timestamp"
                                                      : NULL;
  if (missing) {
    refuse(out, 400, "header Twitch-Eventsub-%s is missing, empty or too long",
           missing);
    return 0;
  }
  if (len > TW_MAX_EVENTSUB_WEBHOOK_BODY) {
    refuse(out, 400, "body of %zu bytes is over the %u-byte limit", len,
           (unsigned)TW_MAX_EVENTSUB_WEBHOOK_BODY);
    return 0;
  }
  char want[TW_EVENTSUB_WEBHOOK_SIG_BUF];
  if (tw_eventsub_webhook_sign(secret, h->message_id, h->timestamp, body, len,
                               want, sizeof(want)) != 0) {
    refuse(out, 500, "cannot compute the signature");
    return 0;
  }
  /* Twitch sends lowercase hex; uppercase is folded so that only the value
   * matters. The comparison itself is constant-time over the fixed 71
   * bytes, so a forger learns nothing from timing. */
  char got[TW_EVENTSUB_WEBHOOK_SIG_BUF];
  size_t sl = strlen(h->signature);
  if (sl != TW_EVENTSUB_WEBHOOK_SIG_BUF - 1 ||
      strncmp(h->signature, "sha256=", 7) != 0) {
    refuse(out, 403, "signature is not sha256=<64 hex digits>");
    return 0;
  }
  for (size_t i = 0; i < sl; i++) {
    char c = h->signature[i];
    got[i] = (i >= 7 && c >= 'A' && c <= 'F') ? (char)(c - 'A' + 'a') : c;
  }
  got[sl] = '\0';
  if (CRYPTO_memcmp(got, want, sl) != 0) {
    refuse(out, 403, "signature does not match");
    return 0;
  }
  if (tw_eventsub_webhook_parse_time(h->timestamp, &out->timestamp_ms) != 0) {
    refuse(out, 403, "timestamp is not RFC 3339");
    return 0;
  }
  if (out->timestamp_ms <
      now_ms - (int64_t)TW_EVENTSUB_WEBHOOK_MAX_AGE_S * 1000) {
    refuse(out, 403, "timestamp is more than %d s old (replay?)",
           TW_EVENTSUB_WEBHOOK_MAX_AGE_S);
    return 0;
  }
  if (out->timestamp_ms >
      now_ms + (int64_t)TW_EVENTSUB_WEBHOOK_MAX_FUTURE_S * 1000) {
    refuse(out, 403, "timestamp is more than %d s in the future",
           TW_EVENTSUB_WEBHOOK_MAX_FUTURE_S);
    return 0;
  }
  if (h->message_retry) {
    char *end = NULL;
    unsigned long r = strtoul(h->message_retry, &end, 10);
    if (end != h->message_retry && *end == '\0' && r <= 1000000ul)
      out->retry = (unsigned)r;
  }
  if (strcmp(h->message_type, "webhook_callback_verification") == 0) {
    decode_challenge(body, len, out);
    return 0;
  }
  bool notif = strcmp(h->message_type, "notification") == 0;
  if (!notif && strcmp(h->message_type, "revocation") != 0) {
    refuse(out, 400, "unknown message type");
    return 0;
  }
  tw_eventsub_webhook_meta_t meta = {h->message_id, h->message_type,
                                     h->timestamp, h->subscription_type,
                                     h->subscription_version};
  char err[TW_MAX_EVENTSUB_ERR];
  int rc =
      tw_eventsub_decode_webhook(body, len, &meta, &out->msg, err, sizeof(err));
  if (rc) {
    refuse(out, rc == TW_ENOMEM ? 500 : 400, "%s",
           *err ? err : tw_strerror(rc));
    return 0;
  }
  out->kind = notif ? TW_EVENTSUB_WH_NOTIFICATION : TW_EVENTSUB_WH_REVOCATION;
  out->status = 204;
  return 0;
}

void tw_eventsub_webhook_verdict_free(tw_eventsub_wh_verdict_t *v) {
  if (v == NULL)
    return;
  tw_eventsub_msg_free(&v->msg);
  free((char *)v->challenge);
  memset(v, 0, sizeof(*v));
}
