/*
 * seed_demo.c - `yx-identity seed-demo --out FILE`: the demo district of
 * `make run`, shaped like DOMAIN.md's Lianhu at small scale:
 *
 *   莲湖区 -> 3 streets -> 2 or 3 communities each (8) -> 2 grids each ->
 *   3 buildings each (48)
 *
 * with a district admin, a street admin per street and, per community, a
 * secretary and a staff member (these have passwords), a grid worker per
 * grid, a building head per grid, four verified residents (volunteers and
 * party members among them, with their approved records) and one resident
 * waiting for verification, plus pending requests for staff to review. The
 * first community asks for volunteer approval. Every demo account can log
 * in with an SMS code; phones are 188 0000 NNNN, encrypted like real ones.
 *
 * Idempotent: when the district already has the first demo street, nothing
 * is changed and FILE is left alone. Everything else runs in one
 * transaction on a synchronous libpq connection to YX_DB_DSN, so a failed
 * run leaves nothing behind. The logins (role, org, name, phone, password)
 * go to FILE, mode 0600, and a summary to stdout.
 */
#include <sys/stat.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "identity.h"
#include "identity_db_people.h"
#include "passwords.h"
#include "seed_demo.h"
#include "users.h"
#include "yx_config.h"
#include "yx_fieldcrypt.h"
#include "yx_pgutil.h"
#include "yx_service.h"

#define DISTRICT          "莲湖区"
#define DEMO_USERS_MAX    128
#define DEMO_PASSWORD_LEN 12
#define DEMO_TX_ATTEMPTS  3
#define ID_LEN            24

static const struct {
	const char *name;
	const char *communities[4];
} streets[] = {
    {"北院门街道", {"西羊市社区", "大皮院社区", "化觉巷社区", NULL}},
    {"青年路街道", {"莲湖巷社区", "青年路社区", NULL}},
    {"桃园路街道", {"桃园北路社区", "劳动路社区", "西斜七路社区", NULL}},
};

static const char *const surnames[] = {"王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周",
                                       "徐", "孙", "马", "朱", "胡", "郭", "何", "高", "林", "罗"};
static const char *const given[] = {"建国", "秀英", "志强", "丽华", "明",   "芳",
                                    "晓东", "海燕", "文博", "桂兰", "俊杰", "淑珍",
                                    "国庆", "玉梅", "子涵", "雨轩", "卫东", "红梅"};
static const char *const skills[] = {"理发", "家电维修", "陪伴老人", "辅导功课",
                                     "义诊", "法律咨询", "摄影",     "环境清洁"};
static const char *const party_orgs[] = {"莲湖区教育局机关党支部", "西安市供电公司党委",
                                         "莲湖区人民医院党总支", "西安某软件公司党支部"};

struct demo_user {
	char phone[12];
	char name[32];
	char role[80];                        /* what the out file calls the account */
	char org[64];                         /* where that role is held */
	char password[DEMO_PASSWORD_LEN + 1]; /* "" for SMS-only accounts */
	char idx[YX_BLIND_INDEX_HEX_LEN + 1];
	char masked[12];
	char *enc;
	char hash[IDENTITY_PASSWORD_HASH_MAX];
	bool prepared; /* phone protected and password hashed (kept across retries) */
	char id[ID_LEN];
};

struct seed {
	PGconn *conn;
	struct demo_user users[DEMO_USERS_MAX];
	size_t nusers;
	bool already; /* the demo district was there before */
	char district[ID_LEN];
	unsigned communities;
	unsigned buildings;
};

#define TRY(x)                                                                                     \
	do {                                                                                       \
		int rc_ = (x);                                                                     \
		if (rc_ != 0)                                                                      \
			return rc_;                                                                \
	} while (0)

static int
run(struct seed *s, enum identity_seed_stmt which, const char *const *params, char *out)
{
	return identity_db_seed(s->conn, which, params, out, out ? ID_LEN : 0);
}

/* A password of DEMO_PASSWORD_LEN unambiguous letters and digits. */
static int
random_password(char *out)
{
	static const char alphabet[] = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
	const size_t n = sizeof(alphabet) - 1, limit = 256 - 256 % (sizeof(alphabet) - 1);
	unsigned char b;
	size_t i = 0;

	while (i < DEMO_PASSWORD_LEN) {
		if (RAND_bytes(&b, 1) != 1)
			return -1;
		if (b >= limit)
			continue;
		out[i++] = alphabet[b % n];
	}
	out[i] = '\0';
	return 0;
}

/* Protects the phone and hashes the password, once per account. */
static int
user_prepare(struct demo_user *u, bool with_password)
{
	if (u->prepared)
		return 0;
	if (yx_blind_index(identity_app.index_key, "phone", u->phone, u->idx) == -1 ||
	    yx_phone_mask(u->phone, u->masked) == -1 ||
	    yx_field_encrypt(identity_app.field_key, 0, IDENTITY_PHONE_AAD,
	                     (const unsigned char *)u->phone, strlen(u->phone), &u->enc) == -1)
		return -1;
	u->password[0] = '\0';
	u->hash[0] = '\0';
	if (with_password && (random_password(u->password) == -1 ||
	                      identity_password_hash(u->password, strlen(u->password), u->hash,
	                                             sizeof(u->hash)) == -1))
		return -1;
	u->prepared = true;
	return 0;
}

/*
 * The next demo account (found or created) with `role` at `org_id` (named
 * org_name in the out file) and the resident role of the district, as
 * every account gets at its first login. *out points at it.
 */
static int
demo_user(struct seed *s, const char *role, const char *org_id, const char *org_name,
          bool with_password, struct demo_user **out)
{
	struct demo_user *u;
	size_t k = s->nusers;

	if (k >= DEMO_USERS_MAX)
		return -1;
	u = &s->users[k];
	snprintf(u->phone, sizeof(u->phone), "1880000%04u", (unsigned)k + 1);
	snprintf(u->name, sizeof(u->name), "%s%s", surnames[k % 20], given[(k * 7 + 3) % 18]);
	snprintf(u->role, sizeof(u->role), "%s", role);
	snprintf(u->org, sizeof(u->org), "%s", org_name);
	if (user_prepare(u, with_password) == -1) {
		fprintf(stderr, "seed-demo: cannot protect a phone or hash a password\n");
		return -1;
	}
	s->nusers++;
	{
		const char *p[5] = {u->enc, u->idx, u->masked, u->name,
		                    u->hash[0] ? u->hash : NULL};
		TRY(run(s, IDENTITY_SEED_USER, p, u->id));
	}
	if (u->id[0] == '\0')
		return -1;
	{
		const char *p[3] = {u->id, "resident", s->district};
		TRY(run(s, IDENTITY_SEED_ROLE, p, NULL));
	}
	if (strcmp(role, "resident") != 0) {
		const char *p[3] = {u->id, role, org_id};
		TRY(run(s, IDENTITY_SEED_ROLE, p, NULL));
	}
	*out = u;
	return 0;
}

static int
org(struct seed *s, const char *parent, const char *level, const char *name, char *id)
{
	const char *p[3] = {parent, level, name};

	TRY(run(s, IDENTITY_SEED_ORG, p, id));
	return id[0] == '\0' ? -1 : 0;
}

static int
role(struct seed *s, const char *user, const char *r, const char *org_id)
{
	const char *p[3] = {user, r, org_id};

	return run(s, IDENTITY_SEED_ROLE, p, NULL);
}

/* A verified household: the approved request and the role. */
static int
verified(struct seed *s, struct demo_user *u, const char *community, const char *building,
         const char *unit, const char *room, const char *staff)
{
	const char *p[6] = {u->id, building, unit, room, "approved", staff};

	TRY(run(s, IDENTITY_SEED_RESIDENCE, p, NULL));
	return role(s, u->id, "verified_resident", community);
}

static int
volunteer(struct seed *s, struct demo_user *u, const char *community, const char *status,
          const char *staff, unsigned k)
{
	char arr[128];
	const char *p[5] = {u->id, community, arr, status, staff};

	snprintf(arr, sizeof(arr), "{\"%s\",\"%s\"}", skills[k % 8], skills[(k + 3) % 8]);
	TRY(run(s, IDENTITY_SEED_VOLUNTEER, p, NULL));
	return strcmp(status, "approved") == 0 ? role(s, u->id, "volunteer", community) : 0;
}

static int
party(struct seed *s, struct demo_user *u, const char *community, const char *status,
      const char *staff, unsigned k)
{
	const char *p[6] = {u->id, party_orgs[k % 4], "在职党员", community, status, staff};

	TRY(run(s, IDENTITY_SEED_PARTY, p, NULL));
	return strcmp(status, "approved") == 0 ? role(s, u->id, "party_member", community) : 0;
}

/* One community with its grids, buildings and people. */
static int
seed_community(struct seed *s, const char *street, const char *name)
{
	static const char *const grid_names[2] = {"第一网格", "第二网格"};
	char community[ID_LEN], grid[ID_LEN], buildings[6][ID_LEN], label[64], room[8];
	struct demo_user *sec, *staff, *u;
	unsigned g, b, k = s->communities++;
	const char *p[2];

	TRY(org(s, street, "community", name, community));
	if (k == 0) {
		p[0] = community;
		p[1] = "true";
		TRY(run(s, IDENTITY_SEED_SETTING, p, NULL));
	}
	TRY(demo_user(s, "community_secretary", community, name, true, &sec));
	TRY(demo_user(s, "community_staff", community, name, true, &staff));
	for (g = 0; g < 2; g++) {
		TRY(org(s, community, "grid", grid_names[g], grid));
		for (b = 0; b < 3; b++) {
			snprintf(label, sizeof(label), "%u号楼", g * 3 + b + 1);
			TRY(org(s, grid, "building", label, buildings[g * 3 + b]));
			s->buildings++;
		}
		snprintf(label, sizeof(label), "%s%s", name, grid_names[g]);
		TRY(demo_user(s, "grid_worker", grid, label, false, &u));
		snprintf(label, sizeof(label), "%s%u号楼", name, g * 3 + 1);
		TRY(demo_user(s, "building_head", buildings[g * 3], label, false, &u));
		TRY(verified(s, u, community, buildings[g * 3], "1单元", "101", staff->id));
	}
	/* Four verified residents: a volunteer, a party member, both, neither. */
	TRY(demo_user(s, "volunteer", community, name, false, &u));
	TRY(verified(s, u, community, buildings[1], "1单元", "201", staff->id));
	TRY(volunteer(s, u, community, "approved", staff->id, k));
	TRY(demo_user(s, "party_member", community, name, false, &u));
	TRY(verified(s, u, community, buildings[2], "2单元", "302", staff->id));
	TRY(party(s, u, community, "approved", staff->id, k));
	TRY(demo_user(s, "party_member", community, name, false, &u));
	snprintf(u->role, sizeof(u->role), "volunteer, party_member");
	TRY(verified(s, u, community, buildings[4], "1单元", "501", staff->id));
	TRY(volunteer(s, u, community, "approved", staff->id, k + 1));
	TRY(party(s, u, community, "approved", staff->id, k + 1));
	TRY(demo_user(s, "verified_resident", community, name, false, &u));
	snprintf(u->role, sizeof(u->role), "verified_resident (party request pending)");
	TRY(verified(s, u, community, buildings[5], "3单元", "602", staff->id));
	TRY(party(s, u, community, "pending", NULL, k + 2));
	if (k == 0) {
		/* This community asks for approval: one application waits. */
		snprintf(u->role, sizeof(u->role),
		         "verified_resident (party and volunteer requests pending)");
		TRY(volunteer(s, u, community, "pending", NULL, k + 2));
	}
	/* A newcomer whose residence request waits for review. */
	TRY(demo_user(s, "resident", s->district, DISTRICT, false, &u));
	snprintf(u->role, sizeof(u->role), "resident (residence request pending)");
	snprintf(u->org, sizeof(u->org), "%s", name);
	snprintf(room, sizeof(room), "%u0%u", k % 6 + 1, k % 4 + 1);
	{
		const char *q[6] = {u->id, buildings[3], "2单元", room, "pending", NULL};
		TRY(run(s, IDENTITY_SEED_RESIDENCE, q, NULL));
	}
	return 0;
}

/* The transaction: everything or nothing. May run again on a retry. */
static int
seed_body(PGconn *conn, void *arg)
{
	struct seed *s = arg;
	const char *p[2] = {DISTRICT, streets[0].name};
	char found[ID_LEN], street[ID_LEN];
	struct demo_user *u;
	size_t i, j;

	s->conn = conn;
	s->nusers = 0;
	s->communities = 0;
	s->buildings = 0;
	s->already = false;
	TRY(run(s, IDENTITY_SEED_LOCK, NULL, NULL));
	TRY(run(s, IDENTITY_SEED_EXISTS, p, found));
	if (found[0] != '\0') {
		s->already = true;
		return 0;
	}
	TRY(org(s, NULL, "district", DISTRICT, s->district));
	TRY(demo_user(s, "district_admin", s->district, DISTRICT, true, &u));
	for (i = 0; i < sizeof(streets) / sizeof(streets[0]); i++) {
		TRY(org(s, s->district, "street", streets[i].name, street));
		TRY(demo_user(s, "street_admin", street, streets[i].name, true, &u));
		for (j = 0; streets[i].communities[j] != NULL; j++)
			TRY(seed_community(s, street, streets[i].communities[j]));
	}
	return 0;
}

static int
write_logins(const struct seed *s, const char *path)
{
	FILE *f;
	size_t i;
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd == -1 || (f = fdopen(fd, "w")) == NULL) {
		if (fd != -1)
			close(fd);
		fprintf(stderr, "seed-demo: cannot write %s\n", path);
		return -1;
	}
	fprintf(f,
	        "# Demo logins of %s. Every account can log in with an SMS code;\n"
	        "# staff (community_staff and above) also with the password shown.\n"
	        "# role\torg\tname\tphone\tpassword\n",
	        DISTRICT);
	for (i = 0; i < s->nusers; i++) {
		const struct demo_user *u = &s->users[i];

		fprintf(f, "%s\t%s\t%s\t%s\t%s\n", u->role, u->org, u->name, u->phone,
		        u->password[0] ? u->password : "-");
	}
	if (fclose(f) != 0) {
		fprintf(stderr, "seed-demo: cannot write %s\n", path);
		return -1;
	}
	return 0;
}

static void
seed_free(struct seed *s)
{
	size_t i;

	for (i = 0; i < DEMO_USERS_MAX; i++) {
		free(s->users[i].enc);
		OPENSSL_cleanse(s->users[i].password, sizeof(s->users[i].password));
	}
	OPENSSL_cleanse(identity_app.field_key, sizeof(identity_app.field_key));
	OPENSSL_cleanse(identity_app.index_key, sizeof(identity_app.index_key));
	free(s);
}

static int
seed_demo(const char *out)
{
	struct seed *s;
	PGconn *conn;
	int rc = 1;

	if (yx_config_key("YX_FIELD_KEY", identity_app.field_key, 32) == -1 ||
	    yx_config_key("YX_INDEX_KEY", identity_app.index_key, 32) == -1)
		return 2;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return 1;
	conn = PQconnectdb(yx_app.dsn);
	if (PQstatus(conn) != CONNECTION_OK) {
		fprintf(stderr, "seed-demo: cannot connect: %s", PQerrorMessage(conn));
	} else if (yx_pg_tx_retry(conn, DEMO_TX_ATTEMPTS, seed_body, s) == 0) {
		if (s->already) {
			printf("seed-demo: the demo district %s is already there; nothing to do\n",
			       DISTRICT);
			rc = 0;
		} else if (write_logins(s, out) == 0) {
			printf("seed-demo: created %s with %u communities, %u buildings and %zu "
			       "people; logins in %s\n",
			       DISTRICT, s->communities, s->buildings, s->nusers, out);
			rc = 0;
		}
	}
	PQfinish(conn);
	seed_free(s);
	return rc;
}

int
identity_seed_command(int argc, char **argv, int *exit_code)
{
	if (argc < 2 || strcmp(argv[1], "seed-demo") != 0)
		return 0;
	if (argc != 4 || strcmp(argv[2], "--out") != 0 || argv[3][0] == '\0') {
		fprintf(stderr, "usage: yx-identity seed-demo --out FILE\n");
		*exit_code = 2;
		return 1;
	}
	*exit_code = seed_demo(argv[3]);
	return 1;
}
