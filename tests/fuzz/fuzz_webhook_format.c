/* libFuzzer target for the webhook body builder: arbitrary bytes as the
 * text (and, split at the first NUL, as the username) for every kind. What
 * must hold: no crash; text that is refused is refused with TW_EINVAL; an
 * accepted body is JSON whose text field is valid UTF-8 and, for Discord,
 * at most 2000 UTF-16 units. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "twitchd/buf.h"
#include "twitchd/error.h"
#include "twitchd/webhook.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t utf16_units(const char *s) {
  size_t u = 0;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++)
    if ((*p & 0xc0) != 0x80)
      u += *p >= 0xf0 ? 2 : 1;
  return u;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 3 * TW_MAX_WEBHOOK_TEXT)
    return 0;
  char *text = malloc(size + 1);
  if (text == NULL)
    return 0;
  memcpy(text, data, size);
  text[size] = '\0';
  /* text up to the first NUL; what follows it, if anything, is the name */
  size_t tl = strlen(text);
  const char *user = tl + 1 < size ? text + tl + 1 : NULL;
  for (int k = 0; k < 3; k++) {
    tw_buf_t b;
    tw_buf_init(&b, 1 << 20);
    int cut = -1;
    int rc = tw_webhook_format((tw_webhook_kind_t)k, text, user, &b, &cut);
    if (rc != 0) {
      if (rc != TW_EINVAL)
        abort();
      tw_buf_free(&b);
      continue;
    }
    json_t *j = json_loadb(b.data, b.len, 0, NULL);
    if (j == NULL)
      abort();
    const char *t = json_string_value(
        json_object_get(j, k == TW_WEBHOOK_DISCORD ? "content" : "text"));
    if (t == NULL)
      abort();
    if (k == TW_WEBHOOK_DISCORD &&
        utf16_units(t) > TW_WEBHOOK_DISCORD_MAX_CHARS)
      abort();
    if (!cut && strcmp(t, text) != 0)
      abort();
    json_decref(j);
    tw_buf_free(&b);
  }
  free(text);
  return 0;
}
