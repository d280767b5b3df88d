/* The twitchd command line: one function per sub-command, each in its own
 * file (cli_<name>.c), each taking the arguments after the sub-command name
 * (argv[0] is the sub-command) and returning the process exit status. */
#ifndef TW_CLI_H
#define TW_CLI_H

int tw__cli_run(int argc, char **argv);
int tw__cli_check(int argc, char **argv);
int tw__cli_auth(int argc, char **argv);
int tw__cli_parse_irc(int argc, char **argv);
int tw__cli_sim(int argc, char **argv);

#endif
