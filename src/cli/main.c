/* twitchd: the command line front end. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

typedef struct {
  const char *name;
  int (*fn)(int argc, char **argv);
  const char *summary;
} cli_cmd_t;

static const cli_cmd_t commands[] = {
    {"run", tw__cli_run,
     "run the bot (-c FILE); with no config, against the simulator"},
    {"check", tw__cli_check, "validate a configuration file (-c FILE)"},
    {"auth", tw__cli_auth,
     "log the bot's account in, store its tokens (-c FILE [--device])"},
    {"sim", tw__cli_sim, "run the Twitch simulator on 127.0.0.1"},
    {"parse-irc", tw__cli_parse_irc,
     "parse raw IRC lines from stdin, print one JSON object per line"},
};

static void usage(FILE *out) {
  fprintf(out, "usage: twitchd <command> [options]\n\n"
               "A Twitch bot runtime: chat, EventSub, Helix, skills.\n\n"
               "commands:\n");
  for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
    fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
  fprintf(out, "\noptions:\n"
               "  -h, --help     show this help (or `twitchd CMD --help`)\n"
               "  -V, --version  print the version\n");
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  const char *cmd = argv[1];
  if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 ||
      strcmp(cmd, "help") == 0) {
    usage(stdout);
    return 0;
  }
  if (strcmp(cmd, "-V") == 0 || strcmp(cmd, "--version") == 0 ||
      strcmp(cmd, "version") == 0) {
    printf("twitchd %s\n", TW_VERSION_STRING);
    return 0;
  }
  for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
    if (strcmp(cmd, commands[i].name) == 0)
      return commands[i].fn(argc - 1, argv + 1);
  }
  fprintf(stderr, "twitchd: unknown command '%s' (try twitchd --help)\n", cmd);
  return 2;
}
