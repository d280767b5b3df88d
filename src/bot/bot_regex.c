/* twitchd: regex matchers on PCRE2 (8-bit, UTF, JIT) and their prefilter.
 *
 * Patterns are compiled with PCRE2_UTF and PCRE2_UCP, so that \w, \b and
 * case-insensitive matching know Unicode as Python 3's `re` (opsdroid's
 * engine) did, and with PCRE2_MATCH_INVALID_UTF, so that a subject with
 * broken UTF-8 simply does not match there instead of being undefined
 * behaviour or costing a validation pass per pattern.
 *
 * Runaway patterns: every match runs under the bot's match context, with a
 * match limit, a depth limit, a heap limit and a bounded JIT stack. When a
 * limit is hit the match fails with TW_ETIMEDOUT, which the dispatcher logs
 * and counts; nothing waits.
 *
 * The prefilter. With a hundred patterns per message, the fixed cost of a
 * pcre2_match() call dominates: most patterns cannot match most lines, and
 * PCRE2 learns that only after being called. PCRE2 itself knows, from
 * compiling, facts every match must satisfy: a minimum length, a first
 * code unit or a set of possible first code units, and a "last" code unit
 * that must appear. We ask for those once (pcre2_pattern_info) and test
 * them against a 256-bit set of the bytes present in the message, built
 * once per message. Those facts are necessary conditions, so skipping a
 * pattern that fails them never loses a match.
 *
 * Case: PCRE2 records a caseless first/last unit without saying so, so the
 * byte set folds ASCII letters (holding 'a', it holds 'A' too). In UCP
 * caseless mode two non-ASCII characters match ASCII letters: U+017F (long
 * s, bytes C5 BF) matches 's' and U+212A (Kelvin sign, E2 84 AA) matches
 * 'k'; a message holding byte C5 or E2 therefore also counts as holding s,
 * S, k and K. Non-ASCII first or last units are not used (they may stand
 * for a caseless character whose other case has other bytes). */
#include <stdio.h>
#include <string.h>

#include "bot/bot_int.h"
#include "twitchd/error.h"

#define JIT_STACK_START (32u << 10)

int tw__regex_env_init(tw__regex_env_t *env, uint32_t match_limit,
                       uint32_t depth_limit, bool prefilter) {
  memset(env, 0, sizeof(*env));
  uint32_t unicode = 0;
  if (pcre2_config(PCRE2_CONFIG_UNICODE, &unicode) < 0 || !unicode)
    return TW_EUNSUPPORTED;
  env->mctx = pcre2_match_context_create(NULL);
  if (env->mctx == NULL)
    return TW_ENOMEM;
  pcre2_set_match_limit(env->mctx, match_limit);
  pcre2_set_depth_limit(env->mctx, depth_limit);
  pcre2_set_heap_limit(env->mctx, TW_BOT_HEAP_LIMIT_KIB);
  uint32_t jit = 0;
  if (pcre2_config(PCRE2_CONFIG_JIT, &jit) >= 0 && jit) {
    env->jit_stack =
        pcre2_jit_stack_create(JIT_STACK_START, TW_BOT_JIT_STACK_MAX, NULL);
    if (env->jit_stack == NULL) {
      pcre2_match_context_free(env->mctx);
      env->mctx = NULL;
      return TW_ENOMEM;
    }
    pcre2_jit_stack_assign(env->mctx, NULL, env->jit_stack);
  }
  env->prefilter = prefilter;
  return 0;
}

void tw__regex_env_free(tw__regex_env_t *env) {
  if (env->jit_stack != NULL)
    pcre2_jit_stack_free(env->jit_stack);
  if (env->mctx != NULL)
    pcre2_match_context_free(env->mctx);
  memset(env, 0, sizeof(*env));
}

static bool ascii_letter(int c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

int tw__regex_compile(tw__regex_t *re, const char *pattern, unsigned flags,
                      char *err, size_t errcap) {
  memset(re, 0, sizeof(*re));
  re->first_unit = re->last_unit = -1;
  size_t plen = strnlen(pattern, TW_BOT_MAX_PATTERN + 1);
  if (plen > TW_BOT_MAX_PATTERN) {
    snprintf(err, errcap, "pattern longer than %d bytes", TW_BOT_MAX_PATTERN);
    return TW_ETOOBIG;
  }
  uint32_t opts = PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF;
  if (flags & TW_SKILL_CASELESS)
    opts |= PCRE2_CASELESS;
  if (flags & (TW_SKILL_ANCHOR_START | TW_SKILL_FULLMATCH))
    opts |= PCRE2_ANCHORED;
  if (flags & TW_SKILL_FULLMATCH)
    opts |= PCRE2_ENDANCHORED;
  int ec = 0;
  PCRE2_SIZE eo = 0;
  re->code = pcre2_compile((PCRE2_SPTR)pattern, plen, opts, &ec, &eo, NULL);
  if (re->code == NULL) {
    PCRE2_UCHAR msg[256];
    if (pcre2_get_error_message(ec, msg, sizeof(msg)) < 0)
      snprintf((char *)msg, sizeof(msg), "error %d", ec);
    snprintf(err, errcap, "%s at offset %zu", (const char *)msg, (size_t)eo);
    return TW_EPARSE;
  }
  /* A pattern JIT cannot compile still works through the interpreter. */
  re->jit = pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE) == 0;
  re->md = pcre2_match_data_create_from_pattern(re->code, NULL);
  if (re->md == NULL) {
    tw__regex_free(re);
    snprintf(err, errcap, "out of memory");
    return TW_ENOMEM;
  }
  uint32_t v = 0;
  pcre2_pattern_info(re->code, PCRE2_INFO_CAPTURECOUNT, &re->ncap);
  pcre2_pattern_info(re->code, PCRE2_INFO_NAMECOUNT, &re->name_count);
  pcre2_pattern_info(re->code, PCRE2_INFO_NAMEENTRYSIZE, &re->name_entry_size);
  pcre2_pattern_info(re->code, PCRE2_INFO_NAMETABLE, &re->name_table);
  if (pcre2_pattern_info(re->code, PCRE2_INFO_MINLENGTH, &v) == 0)
    re->min_len = v;
  uint32_t type = 0;
  if (pcre2_pattern_info(re->code, PCRE2_INFO_FIRSTCODETYPE, &type) == 0 &&
      type == 1 &&
      pcre2_pattern_info(re->code, PCRE2_INFO_FIRSTCODEUNIT, &v) == 0 &&
      v < 0x80)
    re->first_unit = ascii_letter((int)v) ? (int)(v | 0x20) : (int)v;
  if (pcre2_pattern_info(re->code, PCRE2_INFO_LASTCODETYPE, &type) == 0 &&
      type == 1 &&
      pcre2_pattern_info(re->code, PCRE2_INFO_LASTCODEUNIT, &v) == 0 &&
      v < 0x80)
    re->last_unit = ascii_letter((int)v) ? (int)(v | 0x20) : (int)v;
  const uint8_t *bm = NULL;
  if (pcre2_pattern_info(re->code, PCRE2_INFO_FIRSTBITMAP, &bm) == 0 &&
      bm != NULL) {
    memcpy(re->bitmap, bm, sizeof(re->bitmap));
    re->has_bitmap = true;
  }
  return 0;
}

void tw__regex_free(tw__regex_t *re) {
  if (re->md != NULL)
    pcre2_match_data_free(re->md);
  if (re->code != NULL)
    pcre2_code_free(re->code);
  memset(re, 0, sizeof(*re));
}

static void set_add(uint64_t set[4], unsigned c) {
  set[c >> 6] |= 1ull << (c & 63);
}

static bool set_has(const uint64_t set[4], unsigned c) {
  return (set[c >> 6] >> (c & 63)) & 1u;
}

/* Builds the folded byte set of the subject (see the file comment). */
static void prepare(tw__subject_t *s) {
  memset(s->set, 0, sizeof(s->set));
  const unsigned char *p = (const unsigned char *)s->text;
  for (size_t i = 0; i < s->len; i++)
    set_add(s->set, p[i]);
  /* Fold: for each letter present, add the other case. Letters live in
   * words 1 ('A'-'Z' at 65..90, 'a'-'z' at 97..122), 26 bits 32 apart. */
  uint64_t w = s->set[1];
  uint64_t upper = (w >> 1) & (0x3FFFFFFull);  /* bits 65..90 -> 0..25 */
  uint64_t lower = (w >> 33) & (0x3FFFFFFull); /* bits 97..122 -> 0..25 */
  uint64_t both = upper | lower;
  s->set[1] |= (both << 1) | (both << 33);
  if (set_has(s->set, 0xC5) || set_has(s->set, 0xE2)) {
    set_add(s->set, 's');
    set_add(s->set, 'S');
    set_add(s->set, 'k');
    set_add(s->set, 'K');
  }
  s->prepared = true;
}

/* False when the message cannot match `re` (necessary conditions). */
static bool may_match(const tw__regex_t *re, tw__subject_t *s) {
  if (s->len < re->min_len) /* min_len counts characters, each >= 1 byte */
    return false;
  if (re->first_unit < 0 && re->last_unit < 0 && !re->has_bitmap)
    return true;
  if (!s->prepared)
    prepare(s);
  if (re->first_unit >= 0 && !set_has(s->set, (unsigned)re->first_unit))
    return false;
  if (re->last_unit >= 0 && !set_has(s->set, (unsigned)re->last_unit))
    return false;
  if (re->has_bitmap &&
      ((re->bitmap[0] & s->set[0]) | (re->bitmap[1] & s->set[1]) |
       (re->bitmap[2] & s->set[2]) | (re->bitmap[3] & s->set[3])) == 0)
    return false;
  return true;
}

int tw__regex_match(tw__regex_env_t *env, tw__regex_t *re, tw__subject_t *s) {
  if (env->prefilter && !may_match(re, s)) {
    env->prefilter_skips++;
    return 0;
  }
  env->pcre_calls++;
  int rc;
  if (re->jit)
    rc = pcre2_jit_match(re->code, (PCRE2_SPTR)s->text, s->len, 0, 0, re->md,
                         env->mctx);
  else
    rc = pcre2_match(re->code, (PCRE2_SPTR)s->text, s->len, 0, 0, re->md,
                     env->mctx);
  if (rc >= 0)
    return 1;
  switch (rc) {
  case PCRE2_ERROR_NOMATCH:
  case PCRE2_ERROR_PARTIAL:
    return 0;
  case PCRE2_ERROR_MATCHLIMIT:
  case PCRE2_ERROR_DEPTHLIMIT:
  case PCRE2_ERROR_HEAPLIMIT:
  case PCRE2_ERROR_JIT_STACKLIMIT:
  case PCRE2_ERROR_NOMEMORY:
    return TW_ETIMEDOUT;
  default:
    return TW_EPARSE;
  }
}
