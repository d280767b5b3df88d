/* libFuzzer target: the configuration loader on arbitrary bytes, from
 * memory. Everything it allocates must be freed (LeakSanitizer runs at exit)
 * and every accessor must be safe on the result, valid or not. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "twitchd/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void count_secret(const char *s, void *arg) {
  (void)s;
  (*(size_t *)arg)++;
}

/* Walks the generic tree the way the Lua runtime will, touching every
 * node. Depth is bounded by the loader's own cap. */
static size_t walk(const tw_config_node_t *n) {
  size_t count = 1;
  (void)tw_config_node_string(n);
  (void)tw_config_node_float(n);
  for (size_t i = 0; i < tw_config_node_size(n); i++) {
    (void)tw_config_node_key(n, i);
    count += walk(tw_config_node_item(n, i));
  }
  return count;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  tw_config_t *cfg = tw_config_new();
  if (cfg == NULL)
    return 0;
  (void)tw_config_load_buffer(cfg, "fuzz.yaml", data, size);
  char buf[TW_CONFIG_MAX_MSG + 64];
  for (size_t i = 0; i < tw_config_error_count(cfg); i++)
    tw_config_diag_format(tw_config_error(cfg, i), buf, sizeof(buf));
  for (size_t i = 0; i < tw_config_note_count(cfg); i++)
    tw_config_diag_format(tw_config_note(cfg, i), buf, sizeof(buf));
  walk(tw_config_root(cfg));
  for (size_t i = 0; i < tw_config_skill_count(cfg); i++)
    walk(tw_config_skill(cfg, i)->options);
  size_t secrets = 0;
  tw_config_foreach_secret(cfg, count_secret, &secrets);
  tw_config_free(cfg);
  return 0;
}
