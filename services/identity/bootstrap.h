/*
 * bootstrap.h - `yx-identity bootstrap-admin`: the first district
 * administrator of a fresh installation, created from the command line.
 */
#ifndef IDENTITY_BOOTSTRAP_H
#define IDENTITY_BOOTSTRAP_H

/* Lines of `help` for the commands below. */
#define IDENTITY_COMMANDS_HELP                                                                     \
	"  bootstrap-admin --phone P (--password W | --password-file F) [--district NAME]\n"       \
	"             create or update a district administrator (district 莲湖区 by default)\n"

/*
 * yx_service_def.command: runs `bootstrap-admin` (returns 1, the exit code
 * in *exit_code) or returns 0 for any other command.
 */
int identity_command(int argc, char **argv, int *exit_code);

#endif
