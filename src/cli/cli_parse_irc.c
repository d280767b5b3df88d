/* Placeholder until this sub-command is written: fails loudly. */
#include <stdio.h>

#include "cli/cli.h"

int tw__cli_parse_irc(int argc, char **argv) {
  (void)argc;
  fprintf(stderr, "twitchd %s: not implemented yet\n", argv[0]);
  return 1;
}
