/*
 * commands.h - yx-mall's command-line tools (reconcile,
 * rebuild-leaderboard), see commands.c.
 */
#ifndef MALL_COMMANDS_H
#define MALL_COMMANDS_H

#define MALL_COMMANDS_HELP                                                                         \
	"  reconcile  check every balance against the journal and every invariant;\n"              \
	"             exit 1 on any mismatch\n"                                                    \
	"  rebuild-leaderboard\n"                                                                  \
	"             recompute this month's and year's leaderboards in Redis from the journal\n"

/*
 * The service's `command` hook: 1 when argv[1] is one of ours (its exit code
 * in *exit_code), 0 otherwise.
 */
int mall_command(int argc, char **argv, int *exit_code);

#endif
