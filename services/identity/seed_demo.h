/*
 * seed_demo.h - `yx-identity seed-demo --out FILE`: a demo district shaped
 * like Lianhu (DOMAIN.md) at small scale, with demo people in every role,
 * for `make run`.
 */
#ifndef IDENTITY_SEED_DEMO_H
#define IDENTITY_SEED_DEMO_H

/* Lines of `help` for the command below. */
#define IDENTITY_SEED_HELP                                                                         \
	"  seed-demo --out FILE\n"                                                                 \
	"             create the demo district (莲湖区) once and write its logins to FILE\n"

/*
 * yx_service_def.command: runs `seed-demo` (returns 1, the exit code in
 * *exit_code: 0 when seeded or already there) or returns 0 for any other
 * command.
 */
int identity_seed_command(int argc, char **argv, int *exit_code);

#endif
