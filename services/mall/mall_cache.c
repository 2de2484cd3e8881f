/*
 * mall_cache.c - yx-mall's copies in Redis, see mall_cache.h. Every call is
 * synchronous on the worker's yx_redis handle (bounded waits, breaker);
 * failures are logged at debug level once the breaker is open, so a Redis
 * outage does not flood the logs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "mall.h"
#include "mall_cache.h"
#include "yx_encode.h"
#include "yx_log.h"
#include "yx_redis.h"
#include "yx_service.h"

struct script {
	const char *name;
	const char *text;
	char sha[41];
};

/* KEYS: gen, pages. ARGV: generation read before the query, field, body, ttl. */
static struct script page_put = {
    "page_put",
    "if (redis.call('GET', KEYS[1]) or '0') ~= ARGV[1] then return 0 end "
    "redis.call('HSET', KEYS[2], ARGV[2], ARGV[3]) "
    "if redis.call('TTL', KEYS[2]) < 0 then redis.call('EXPIRE', KEYS[2], ARGV[4]) end "
    "return 1",
    "",
};

/* KEYS: gen, pages. */
static struct script pages_drop = {
    "pages_drop",
    "redis.call('INCR', KEYS[1]) redis.call('DEL', KEYS[2]) return 1",
    "",
};

/* KEYS: gate. ARGV: version, stock, ttl. Newer versions win. */
static struct script gate_set = {
    "gate_set",
    "local v = tonumber(redis.call('HGET', KEYS[1], 'v') or '-1') "
    "if tonumber(ARGV[1]) <= v then return 0 end "
    "redis.call('HSET', KEYS[1], 'v', ARGV[1], 's', ARGV[2]) "
    "redis.call('EXPIRE', KEYS[1], ARGV[3]) return 1",
    "",
};

static int
script_digest(struct script *s)
{
	unsigned char md[20];
	unsigned int n = 0;

	if (EVP_Digest(s->text, strlen(s->text), md, &n, EVP_sha1(), NULL) != 1 || n != 20)
		return -1;
	return yx_hex_encode(md, sizeof(md), s->sha, sizeof(s->sha));
}

int
mall_cache_configure(void)
{
	if (script_digest(&page_put) == -1 || script_digest(&pages_drop) == -1 ||
	    script_digest(&gate_set) == -1)
		return -1;
	return 0;
}

static void
redis_trouble(const char *rid, const char *what)
{
	const char *err = yx_redis_last_error(yx_app.redis);

	/* An open breaker is already known: say it once per failure, quietly. */
	yx_log(strstr(err, "breaker") ? YX_LOG_DEBUG : YX_LOG_WARN, rid, "redis", "%s: %s", what,
	       err);
}

/*
 * EVALSHA, falling back to EVAL when the server does not know the script
 * (first use, restart): SCRIPT LOAD is never needed. argv holds nkeys keys
 * then the arguments. The reply (caller frees) or NULL.
 */
static redisReply *
script_run(const char *rid, const struct script *s, int nkeys, int nargs, const char **argv,
           const size_t *lens)
{
	const char *cmd[12];
	size_t clen[12];
	char nk[8];
	redisReply *reply;
	int i;

	if (yx_app.redis == NULL || 3 + nargs > 12)
		return NULL;
	snprintf(nk, sizeof(nk), "%d", nkeys);
	cmd[0] = "EVALSHA";
	cmd[1] = s->sha;
	cmd[2] = nk;
	for (i = 0; i < 3; i++)
		clen[i] = strlen(cmd[i]);
	for (i = 0; i < nargs; i++) {
		cmd[3 + i] = argv[i];
		clen[3 + i] = lens ? lens[i] : strlen(argv[i]);
	}
	reply = yx_redis_commandargv(yx_app.redis, 3 + nargs, cmd, clen);
	if (reply == NULL && strncmp(yx_redis_last_error(yx_app.redis), "NOSCRIPT", 8) == 0) {
		cmd[0] = "EVAL";
		cmd[1] = s->text;
		clen[0] = 4;
		clen[1] = strlen(s->text);
		reply = yx_redis_commandargv(yx_app.redis, 3 + nargs, cmd, clen);
	}
	if (reply == NULL)
		redis_trouble(rid, s->name);
	return reply;
}

static int
items_keys(const char *community, char *gen, char *pages, size_t cap)
{
	if (yx_redis_key(yx_app.redis, gen, cap, "{items:%s}:gen", community) == -1 ||
	    yx_redis_key(yx_app.redis, pages, cap, "{items:%s}:pages", community) == -1)
		return -1;
	return 0;
}

char *
mall_items_cache_get(const char *rid, const char *community, const char *field, size_t *len,
                     struct mall_items_slot *slot)
{
	char gen[96], pages[96];
	redisReply *reply;
	char *body = NULL;

	memset(slot, 0, sizeof(*slot));
	if (yx_app.redis == NULL || items_keys(community, gen, pages, sizeof(gen)) == -1)
		return NULL;
	reply = yx_redis_command(yx_app.redis, "HGET %s %s", pages, field);
	if (reply == NULL) {
		redis_trouble(rid, "item list");
		return NULL;
	}
	if (reply->type == REDIS_REPLY_STRING) {
		if ((body = malloc(reply->len + 1)) == NULL)
			fatal("out of memory");
		memcpy(body, reply->str, reply->len);
		body[reply->len] = '\0';
		*len = reply->len;
		freeReplyObject(reply);
		return body;
	}
	freeReplyObject(reply);
	reply = yx_redis_command(yx_app.redis, "GET %s", gen);
	if (reply == NULL) {
		redis_trouble(rid, "item list generation");
		return NULL;
	}
	if (reply->type == REDIS_REPLY_STRING && reply->len < sizeof(slot->gen)) {
		memcpy(slot->gen, reply->str, reply->len);
		slot->gen[reply->len] = '\0';
		slot->usable = true;
	} else if (reply->type == REDIS_REPLY_NIL) {
		snprintf(slot->gen, sizeof(slot->gen), "0");
		slot->usable = true;
	}
	freeReplyObject(reply);
	return NULL;
}

void
mall_items_cache_put(const char *rid, const char *community, const char *field,
                     const struct mall_items_slot *slot, const char *body, size_t len)
{
	char gen[96], pages[96], ttl[24];
	const char *argv[6];
	size_t lens[6];
	redisReply *reply;
	int i;

	if (!slot->usable || yx_app.redis == NULL ||
	    items_keys(community, gen, pages, sizeof(gen)) == -1)
		return;
	snprintf(ttl, sizeof(ttl), "%lld", mall_config.items_cache_ttl);
	argv[0] = gen;
	argv[1] = pages;
	argv[2] = slot->gen;
	argv[3] = field;
	argv[4] = body;
	argv[5] = ttl;
	for (i = 0; i < 6; i++)
		lens[i] = i == 4 ? len : strlen(argv[i]);
	if ((reply = script_run(rid, &page_put, 2, 6, argv, lens)) != NULL)
		freeReplyObject(reply);
}

void
mall_items_cache_invalidate(const char *rid, const char *community)
{
	char gen[96], pages[96];
	const char *argv[2];
	redisReply *reply;

	if (yx_app.redis == NULL || items_keys(community, gen, pages, sizeof(gen)) == -1)
		return;
	argv[0] = gen;
	argv[1] = pages;
	if ((reply = script_run(rid, &pages_drop, 2, 2, argv, NULL)) != NULL)
		freeReplyObject(reply);
	else
		yx_log(YX_LOG_WARN, rid, "redis",
		       "item list of community %s not invalidated; stale for up to %lld s",
		       community, mall_config.items_cache_ttl);
}

static int
gate_key(const char *item, char *out, size_t cap)
{
	return yx_redis_key(yx_app.redis, out, cap, "{item:%s}:gate", item);
}

/*
 * The worker's own copy of the gate, in front of Redis: a direct-mapped
 * table by item id, each entry fresh for GATE_MEMO_MS. A busy item costs one
 * Redis read per worker per period instead of one per order, and a slow
 * Redis cannot stall every request of a flash sale.
 */
#define GATE_MEMO_SIZE 256
#define GATE_MEMO_MS   1000

struct gate_memo {
	int64_t item;
	int64_t version; /* -1: Redis had no copy */
	int64_t stock;
	int64_t until_ms;
};

static struct gate_memo gate_memo[GATE_MEMO_SIZE];

static struct gate_memo *
memo_slot(int64_t item)
{
	return &gate_memo[(uint64_t)item % GATE_MEMO_SIZE];
}

static int64_t
memo_now_ms(void)
{
	return yx_now_us() / 1000;
}

static void
memo_put(int64_t item, int64_t version, int64_t stock)
{
	struct gate_memo *m = memo_slot(item);

	m->item = item;
	m->version = version;
	m->stock = stock;
	m->until_ms = memo_now_ms() + GATE_MEMO_MS;
}

/* Reads the gate from Redis into the memo; false when Redis did not answer. */
static bool
gate_fetch(const char *rid, const char *item, int64_t id)
{
	redisReply *reply;
	char key[96];
	int64_t v = -1, st = 0;

	if (yx_app.redis == NULL || gate_key(item, key, sizeof(key)) == -1)
		return false;
	if ((reply = yx_redis_command(yx_app.redis, "HMGET %s v s", key)) == NULL) {
		redis_trouble(rid, "stock gate");
		return false;
	}
	if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
	    reply->element[0]->type == REDIS_REPLY_STRING &&
	    reply->element[1]->type == REDIS_REPLY_STRING) {
		v = strtoll(reply->element[0]->str, NULL, 10);
		st = strtoll(reply->element[1]->str, NULL, 10);
	}
	freeReplyObject(reply);
	memo_put(id, v, st);
	return true;
}

bool
mall_gate_refuses(const char *rid, const char *item, int64_t quantity)
{
	int64_t id = strtoll(item, NULL, 10);
	struct gate_memo *m = memo_slot(id);

	if (m->item != id || m->until_ms < memo_now_ms()) {
		if (!gate_fetch(rid, item, id))
			return false;
	}
	return m->version >= 0 && m->stock < quantity;
}

void
mall_gate_set(const char *rid, const char *item, int64_t version, int64_t stock)
{
	char key[96], v[24], s[24], ttl[24];
	int64_t id = strtoll(item, NULL, 10);
	struct gate_memo *m = memo_slot(id);
	const char *argv[4];
	redisReply *reply;

	/* Nothing new for this worker: spare Redis the write. */
	if (m->item == id && m->until_ms >= memo_now_ms() && m->version >= version)
		return;
	memo_put(id, version, stock);
	if (yx_app.redis == NULL || gate_key(item, key, sizeof(key)) == -1)
		return;
	snprintf(v, sizeof(v), "%lld", (long long)version);
	snprintf(s, sizeof(s), "%lld", (long long)stock);
	snprintf(ttl, sizeof(ttl), "%lld", mall_config.gate_ttl);
	argv[0] = key;
	argv[1] = v;
	argv[2] = s;
	argv[3] = ttl;
	if ((reply = script_run(rid, &gate_set, 1, 4, argv, NULL)) != NULL)
		freeReplyObject(reply);
}

int
mall_lb_key(const struct yx_redis *r, char *out, size_t cap, const char *community,
            const char *period, const char *label)
{
	return yx_redis_key(r, out, cap, "{lb:%s:%s:%s}", community, period, label);
}

long long
mall_lb_ttl(const char *period)
{
	/* Past the period's end by a margin, so last month's board stays readable. */
	return strcmp(period, "month") == 0 ? 100LL * 86400 : 400LL * 86400;
}

/* ZINCRBY and EXPIRE on one leaderboard. */
static void
lb_add(const char *rid, const char *community, const char *period, const char *label,
       const char *user, int64_t points)
{
	char key[128], ttl[24], by[24];
	redisReply *reply;

	if (label == NULL || label[0] == '\0' ||
	    mall_lb_key(yx_app.redis, key, sizeof(key), community, period, label) == -1)
		return;
	snprintf(by, sizeof(by), "%lld", (long long)points);
	snprintf(ttl, sizeof(ttl), "%lld", mall_lb_ttl(period));
	if ((reply = yx_redis_command(yx_app.redis, "ZINCRBY %s %s %s", key, by, user)) == NULL) {
		redis_trouble(rid, "leaderboard");
		yx_log(YX_LOG_WARN, rid, "leaderboard",
		       "%s not updated; run yx-mall rebuild-leaderboard", key);
		return;
	}
	freeReplyObject(reply);
	if ((reply = yx_redis_command(yx_app.redis, "EXPIRE %s %s", key, ttl)) != NULL)
		freeReplyObject(reply);
}

void
mall_lb_credit(const char *rid, const char *community, const char *user, int64_t points,
               const char *month, const char *year)
{
	if (yx_app.redis == NULL)
		return;
	lb_add(rid, community, "month", month, user, points);
	lb_add(rid, community, "year", year, user, points);
}

int
mall_lb_read(const char *rid, const char *community, const char *period, const char *label,
             size_t limit, struct mall_lb *out)
{
	char key[128], stop[24];
	redisReply *reply, *m, *s;
	size_t i;

	out->n = 0;
	if (yx_app.redis == NULL ||
	    mall_lb_key(yx_app.redis, key, sizeof(key), community, period, label) == -1)
		return -1;
	snprintf(stop, sizeof(stop), "%zu", limit - 1);
	reply = yx_redis_command(yx_app.redis, "ZREVRANGE %s 0 %s WITHSCORES", key, stop);
	if (reply == NULL) {
		redis_trouble(rid, "leaderboard");
		return -1;
	}
	if (reply->type != REDIS_REPLY_ARRAY) {
		freeReplyObject(reply);
		return -1;
	}
	for (i = 0; i + 1 < reply->elements && out->n < MALL_LB_MAX && out->n < limit; i += 2) {
		m = reply->element[i];
		s = reply->element[i + 1];
		if (m->type != REDIS_REPLY_STRING || m->len >= sizeof(out->e[0].user) ||
		    s->type != REDIS_REPLY_STRING)
			continue;
		memcpy(out->e[out->n].user, m->str, m->len);
		out->e[out->n].user[m->len] = '\0';
		out->e[out->n].points = (int64_t)strtod(s->str, NULL);
		out->n++;
	}
	freeReplyObject(reply);
	return 0;
}
