/* twitchd parse-irc: raw IRC lines on stdin, one JSON object per line on
 * stdout.
 *
 *   {"tags":{...},"prefix":{"nick":..,"user":..,"host":..}|null,
 *    "command":"...","params":[...]}
 *   {"error":"<reason>"}            for a malformed or over-long line
 *
 * Tag values are unescaped; keys keep their order in the line, and a key
 * given twice appears once, where it first appeared, with its last value
 * (IRCv3: the last duplicate wins). Lines end with LF or CRLF; the last line
 * may lack one. Strings are written as JSON with invalid UTF-8 bytes
 * replaced by U+FFFD, so that the output is always valid JSON.
 *
 * The JSON writer is hand-written rather than jansson because jansson
 * refuses strings that are not valid UTF-8, and chat lines are not always.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "twitchd/error.h"
#include "twitchd/irc.h"

/* Bytes read from stdin per call. */
#define CHUNK 65536

typedef struct {
  FILE *out;
  tw_irc_msg_t msg;
  char value[TW_MAX_IRC_LINE + 1];
} parse_irc_ctx_t;

/* Length of the valid UTF-8 sequence at p[0..n), or 0 if invalid. */
static size_t utf8_seq(const unsigned char *p, size_t n) {
  unsigned char c = p[0];
  if (c < 0x80)
    return 1;
  if (c >= 0xC2 && c <= 0xDF)
    return n >= 2 && (p[1] & 0xC0) == 0x80 ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (n < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80)
      return 0;
    if (c == 0xE0 && p[1] < 0xA0)
      return 0; /* overlong */
    if (c == 0xED && p[1] >= 0xA0)
      return 0; /* UTF-16 surrogate */
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (n < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 ||
        (p[3] & 0xC0) != 0x80)
      return 0;
    if (c == 0xF0 && p[1] < 0x90)
      return 0; /* overlong */
    if (c == 0xF4 && p[1] >= 0x90)
      return 0; /* above U+10FFFF */
    return 4;
  }
  return 0;
}

static void json_str(FILE *out, const char *s, size_t n) {
  const unsigned char *p = (const unsigned char *)s;
  const unsigned char *end = p + n;
  putc('"', out);
  while (p < end) {
    /* Copy the longest run that needs no escaping in one write. */
    const unsigned char *run = p;
    while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\')
      p++;
    if (p > run)
      fwrite(run, 1, (size_t)(p - run), out);
    if (p == end)
      break;
    unsigned char c = *p;
    if (c >= 0x80) {
      size_t k = utf8_seq(p, (size_t)(end - p));
      if (k) {
        fwrite(p, 1, k, out);
        p += k;
      } else {
        fputs("\\ufffd", out);
        p++;
      }
      continue;
    }
    switch (c) {
    case '"':
      fputs("\\\"", out);
      break;
    case '\\':
      fputs("\\\\", out);
      break;
    case '\n':
      fputs("\\n", out);
      break;
    case '\r':
      fputs("\\r", out);
      break;
    case '\t':
      fputs("\\t", out);
      break;
    default:
      fprintf(out, "\\u%04x", c);
      break;
    }
    p++;
  }
  putc('"', out);
}

static void json_view_or_null(FILE *out, tw_irc_str_t v) {
  if (v.ptr)
    json_str(out, v.ptr, v.len);
  else
    fputs("null", out);
}

static void print_msg(parse_irc_ctx_t *c) {
  const tw_irc_msg_t *m = &c->msg;
  FILE *out = c->out;
  fputs("{\"tags\":{", out);
  int first = 1;
  for (size_t i = 0; i < m->ntags; i++) {
    const tw_irc_str_t k = m->tags[i].key;
    /* Skip keys already written: each key once, at its first position. */
    int seen = 0;
    for (size_t j = 0; j < i && !seen; j++)
      seen = m->tags[j].key.len == k.len &&
             memcmp(m->tags[j].key.ptr, k.ptr, k.len) == 0;
    if (seen)
      continue;
    tw_irc_str_t raw = tw_irc_tag_getn(m, k.ptr, k.len); /* last wins */
    size_t n = 0;
    /* Cannot fail: the buffer is as large as a whole line. */
    (void)tw_irc_unescape(raw.ptr, raw.len, c->value, sizeof(c->value), &n);
    if (!first)
      putc(',', out);
    first = 0;
    json_str(out, k.ptr, k.len);
    putc(':', out);
    json_str(out, c->value, n);
  }
  fputs("},\"prefix\":", out);
  if (m->prefix.ptr) {
    fputs("{\"nick\":", out);
    json_view_or_null(out, m->nick);
    fputs(",\"user\":", out);
    json_view_or_null(out, m->user);
    fputs(",\"host\":", out);
    json_view_or_null(out, m->host);
    putc('}', out);
  } else {
    fputs("null", out);
  }
  fputs(",\"command\":", out);
  json_str(out, m->command.ptr, m->command.len);
  fputs(",\"params\":[", out);
  for (size_t i = 0; i < m->nparams; i++) {
    if (i)
      putc(',', out);
    json_str(out, m->params[i].ptr, m->params[i].len);
  }
  fputs("]}\n", out);
}

static void print_error(FILE *out, const char *reason) {
  fputs("{\"error\":", out);
  json_str(out, reason, strlen(reason));
  fputs("}\n", out);
}

static void on_line(void *ud, const char *line, size_t len, int err) {
  parse_irc_ctx_t *c = ud;
  if (err) {
    print_error(c->out, tw_irc_err_str(TW_IRC_E_TOO_LONG));
    return;
  }
  if (tw_irc_parse(&c->msg, line, len))
    print_error(c->out, tw_irc_err_str(c->msg.err));
  else
    print_msg(c);
}

static void usage(FILE *out) {
  fprintf(out,
          "usage: twitchd parse-irc < lines\n\n"
          "Reads raw IRC lines (LF or CRLF, up to %d bytes each) from stdin\n"
          "and prints one JSON object per line: tags (unescaped, in line\n"
          "order), prefix (nick, user, host, or null), command and params,\n"
          "or {\"error\": reason} for a malformed line.\n",
          TW_MAX_IRC_LINE);
}

int tw__cli_parse_irc(int argc, char **argv) {
  if (argc > 1) {
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
      usage(stdout);
      return 0;
    }
    fprintf(stderr, "twitchd parse-irc: unexpected argument '%s'\n", argv[1]);
    usage(stderr);
    return 2;
  }
  /* Heap, not stack: the context holds a line-sized buffer. */
  parse_irc_ctx_t *ctx = malloc(sizeof(*ctx));
  char *chunk = malloc(CHUNK);
  tw_irc_splitter_t *sp = tw_irc_splitter_new(0, TW_IRC_SPLIT_KEEP_EMPTY);
  if (!ctx || !chunk || !sp) {
    fprintf(stderr, "twitchd parse-irc: %s\n", tw_strerror(TW_ENOMEM));
    free(ctx);
    free(chunk);
    tw_irc_splitter_free(sp);
    return 1;
  }
  ctx->out = stdout;
  size_t n;
  while ((n = fread(chunk, 1, CHUNK, stdin)) > 0)
    tw_irc_splitter_feed(sp, chunk, n, on_line, ctx);
  int rc = 0;
  if (ferror(stdin)) {
    fprintf(stderr, "twitchd parse-irc: error reading stdin\n");
    rc = 1;
  }
  tw_irc_splitter_finish(sp, on_line, ctx);
  tw_irc_splitter_free(sp);
  free(chunk);
  free(ctx);
  if (fflush(stdout) != 0 || ferror(stdout)) {
    fprintf(stderr, "twitchd parse-irc: error writing stdout\n");
    rc = 1;
  }
  return rc;
}
