/*
 * Unit tests for services/gateway/gw_cache: the verified-token cache (hits,
 * expiry, replacement in a full set) and the revocation-answer cache (time
 * to live, both answers, clocks that go backwards), on a fake clock.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "gw_cache.h"

static void
key_of(uint8_t key[32], uint64_t set, uint32_t tag)
{
	memset(key, 0, 32);
	memcpy(key, &set, sizeof(set));
	memcpy(key + 8, &tag, sizeof(tag));
}

static struct gw_token_claims
claims_of(const char *sub, int64_t exp)
{
	struct gw_token_claims c;

	memset(&c, 0, sizeof(c));
	snprintf(c.sub, sizeof(c.sub), "%s", sub);
	snprintf(c.sid, sizeof(c.sid), "sid-%s", sub);
	snprintf(c.roles, sizeof(c.roles), "resident@1");
	c.exp = exp;
	return c;
}

static void
test_token_hit_and_expiry(void **state)
{
	struct gw_token_cache *c = gw_token_cache_new(64);
	struct gw_token_claims in = claims_of("42", 1000);
	const struct gw_token_claims *got;
	uint8_t k[32], other[32];

	(void)state;
	assert_non_null(c);
	key_of(k, 5, 1);
	key_of(other, 5, 2);
	assert_null(gw_token_cache_get(c, k, 900, 0));
	gw_token_cache_put(c, k, &in);
	got = gw_token_cache_get(c, k, 900, 0);
	assert_non_null(got);
	assert_string_equal(got->sub, "42");
	assert_string_equal(got->sid, "sid-42");
	assert_int_equal(got->exp, 1000);
	/* Another key of the same set misses. */
	assert_null(gw_token_cache_get(c, other, 900, 0));
	/* Valid while now < exp (+ leeway). */
	assert_non_null(gw_token_cache_get(c, k, 999, 0));
	assert_non_null(gw_token_cache_get(c, k, 1004, 5));
	assert_null(gw_token_cache_get(c, k, 1000, 0));
	/* An expired entry is dropped, not revived by leeway later. */
	assert_null(gw_token_cache_get(c, k, 900, 0));
	gw_token_cache_free(c);
}

static void
test_token_full_set_replaces_the_earliest_expiry(void **state)
{
	struct gw_token_cache *c = gw_token_cache_new(GW_CACHE_WAYS);
	struct gw_token_claims in;
	uint8_t k[GW_CACHE_WAYS + 1][32];
	char sub[16];
	size_t i;

	(void)state;
	assert_non_null(c);
	for (i = 0; i <= GW_CACHE_WAYS; i++)
		key_of(k[i], 7, (uint32_t)i);
	for (i = 0; i < GW_CACHE_WAYS; i++) {
		snprintf(sub, sizeof(sub), "%zu", i);
		/* Entry 2 expires first. */
		in = claims_of(sub, i == 2 ? 500 : 1000 + (int64_t)i);
		gw_token_cache_put(c, k[i], &in);
	}
	in = claims_of("new", 2000);
	gw_token_cache_put(c, k[GW_CACHE_WAYS], &in);
	assert_null(gw_token_cache_get(c, k[2], 100, 0));
	for (i = 0; i <= GW_CACHE_WAYS; i++) {
		if (i != 2)
			assert_non_null(gw_token_cache_get(c, k[i], 100, 0));
	}
	/* Putting a present key again updates it in place. */
	in = claims_of("again", 3000);
	gw_token_cache_put(c, k[0], &in);
	assert_string_equal(gw_token_cache_get(c, k[0], 100, 0)->sub, "again");
	assert_non_null(gw_token_cache_get(c, k[1], 100, 0));
	gw_token_cache_free(c);
}

static void
test_token_no_cache(void **state)
{
	struct gw_token_claims in = claims_of("1", 1000);
	uint8_t k[32];

	(void)state;
	assert_null(gw_token_cache_new(0));
	key_of(k, 1, 1);
	gw_token_cache_put(NULL, k, &in);
	assert_null(gw_token_cache_get(NULL, k, 0, 0));
	gw_token_cache_free(NULL);
}

static void
test_sid_answers_live_for_the_ttl(void **state)
{
	struct gw_sid_cache *c = gw_sid_cache_new(128, 500);

	(void)state;
	assert_non_null(c);
	assert_int_equal(gw_sid_cache_get(c, "s1", 1000), GW_REVOCATION_UNKNOWN);
	gw_sid_cache_put(c, "s1", false, 1000);
	gw_sid_cache_put(c, "s2", true, 1000);
	assert_int_equal(gw_sid_cache_get(c, "s1", 1000), GW_REVOCATION_LIVE);
	assert_int_equal(gw_sid_cache_get(c, "s1", 1499), GW_REVOCATION_LIVE);
	assert_int_equal(gw_sid_cache_get(c, "s2", 1499), GW_REVOCATION_REVOKED);
	assert_int_equal(gw_sid_cache_get(c, "s1", 1500), GW_REVOCATION_UNKNOWN);
	assert_int_equal(gw_sid_cache_get(c, "s2", 1500), GW_REVOCATION_UNKNOWN);
	/* A fresh answer replaces the old one. */
	gw_sid_cache_put(c, "s1", true, 2000);
	assert_int_equal(gw_sid_cache_get(c, "s1", 2100), GW_REVOCATION_REVOKED);
	/* A clock that went backwards does not stretch an answer. */
	assert_int_equal(gw_sid_cache_get(c, "s1", 1000), GW_REVOCATION_UNKNOWN);
	gw_sid_cache_free(c);
}

static void
test_sid_many_sessions_and_limits(void **state)
{
	struct gw_sid_cache *c = gw_sid_cache_new(16, 1000);
	char sid[32], longsid[80];
	size_t i, live = 0;

	(void)state;
	assert_non_null(c);
	for (i = 0; i < 200; i++) {
		snprintf(sid, sizeof(sid), "session-%zu", i);
		gw_sid_cache_put(c, sid, false, (int64_t)i);
	}
	/* The table is small: some answers were pushed out, the newest stay. */
	for (i = 0; i < 200; i++) {
		snprintf(sid, sizeof(sid), "session-%zu", i);
		if (gw_sid_cache_get(c, sid, 300) == GW_REVOCATION_LIVE)
			live++;
	}
	assert_true(live > 0 && live <= 16);
	snprintf(sid, sizeof(sid), "session-%d", 199);
	assert_int_equal(gw_sid_cache_get(c, sid, 300), GW_REVOCATION_LIVE);
	/* Ids too long to store are never cached. */
	memset(longsid, 'x', sizeof(longsid) - 1);
	longsid[sizeof(longsid) - 1] = '\0';
	gw_sid_cache_put(c, longsid, true, 0);
	assert_int_equal(gw_sid_cache_get(c, longsid, 0), GW_REVOCATION_UNKNOWN);
	gw_sid_cache_free(c);

	/* No cache: everything is unknown. */
	assert_null(gw_sid_cache_new(16, 0));
	assert_null(gw_sid_cache_new(0, 500));
	gw_sid_cache_put(NULL, "s", true, 0);
	assert_int_equal(gw_sid_cache_get(NULL, "s", 0), GW_REVOCATION_UNKNOWN);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_token_hit_and_expiry),
	    cmocka_unit_test(test_token_full_set_replaces_the_earliest_expiry),
	    cmocka_unit_test(test_token_no_cache),
	    cmocka_unit_test(test_sid_answers_live_for_the_ttl),
	    cmocka_unit_test(test_sid_many_sessions_and_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
