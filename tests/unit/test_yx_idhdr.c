/*
 * Unit tests for shared/yx_idhdr: signing and verifying the gateway's
 * identity headers (round trip, every signed field, skew window, malformed
 * signatures) and role lookups.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "yx_idhdr.h"

static const unsigned char key[32] = "0123456789abcdef0123456789abcdef";
static const unsigned char other_key[32] = "fedcba9876543210fedcba9876543210";

#define NOW    INT64_C(1700000000)
#define METHOD "POST"
#define PATH   "/api/v1/wishes/17/claim?x=1"
#define REQID  "req-5f0c2a"

static void
make_identity(struct yx_identity *id)
{
	memset(id, 0, sizeof(*id));
	snprintf(id->user, sizeof(id->user), "%s", "1001");
	snprintf(id->roles, sizeof(id->roles), "%s", "resident@12,community_staff@12");
	snprintf(id->org, sizeof(id->org), "%s", "12");
	snprintf(id->session, sizeof(id->session), "%s", "s-9a8b");
}

static void
sign_ok(const struct yx_identity *id, int64_t t, char sig[YX_IDHDR_SIG_MAX])
{
	assert_int_equal(yx_idhdr_sign(key, METHOD, PATH, REQID, id, t, sig, YX_IDHDR_SIG_MAX), 0);
}

static int
verify(const struct yx_identity *id, const char *sig)
{
	return yx_idhdr_verify(key, METHOD, PATH, REQID, id, sig, NOW, 30);
}

static void
test_round_trip(void **state)
{
	struct yx_identity id;
	char sig[YX_IDHDR_SIG_MAX];

	(void)state;
	make_identity(&id);
	sign_ok(&id, NOW, sig);
	assert_int_equal(strncmp(sig, "t=1700000000,v1=", 16), 0);
	assert_int_equal(strlen(sig), 16 + 64);
	assert_int_equal(verify(&id, sig), 0);
	/* deterministic for the same input */
	{
		char again[YX_IDHDR_SIG_MAX];

		sign_ok(&id, NOW, again);
		assert_string_equal(sig, again);
	}
}

static void
test_anonymous_round_trip(void **state)
{
	struct yx_identity id;
	char sig[YX_IDHDR_SIG_MAX];

	(void)state;
	memset(&id, 0, sizeof(id));
	assert_int_equal(
	    yx_idhdr_sign(key, "GET", "/api/v1/mall/items", "", &id, NOW, sig, sizeof(sig)), 0);
	assert_int_equal(yx_idhdr_verify(key, "GET", "/api/v1/mall/items", "", &id, sig, NOW, 0),
	                 0);
	/* an anonymous signature does not vouch for a user */
	snprintf(id.user, sizeof(id.user), "%s", "1001");
	assert_int_equal(yx_idhdr_verify(key, "GET", "/api/v1/mall/items", "", &id, sig, NOW, 0),
	                 -1);
}

static void
test_each_field_changed(void **state)
{
	struct yx_identity id, changed;
	char sig[YX_IDHDR_SIG_MAX];

	(void)state;
	make_identity(&id);
	sign_ok(&id, NOW, sig);

	assert_int_equal(yx_idhdr_verify(key, "GET", PATH, REQID, &id, sig, NOW, 30), -1);
	assert_int_equal(yx_idhdr_verify(key, "post", PATH, REQID, &id, sig, NOW, 30), -1);
	assert_int_equal(
	    yx_idhdr_verify(key, METHOD, "/api/v1/wishes/18/claim?x=1", REQID, &id, sig, NOW, 30),
	    -1);
	assert_int_equal(
	    yx_idhdr_verify(key, METHOD, "/api/v1/wishes/17/claim", REQID, &id, sig, NOW, 30), -1);
	assert_int_equal(yx_idhdr_verify(key, METHOD, PATH, "req-5f0c2b", &id, sig, NOW, 30), -1);
	assert_int_equal(yx_idhdr_verify(key, METHOD, PATH, "", &id, sig, NOW, 30), -1);

	changed = id;
	snprintf(changed.user, sizeof(changed.user), "%s", "1002");
	assert_int_equal(verify(&changed, sig), -1);
	changed = id;
	snprintf(changed.roles, sizeof(changed.roles), "%s", "resident@12,district_admin@1");
	assert_int_equal(verify(&changed, sig), -1);
	changed = id;
	changed.roles[0] = '\0';
	assert_int_equal(verify(&changed, sig), -1);
	changed = id;
	snprintf(changed.org, sizeof(changed.org), "%s", "13");
	assert_int_equal(verify(&changed, sig), -1);
	changed = id;
	snprintf(changed.session, sizeof(changed.session), "%s", "s-9a8c");
	assert_int_equal(verify(&changed, sig), -1);

	/* the wrong key */
	assert_int_equal(yx_idhdr_verify(other_key, METHOD, PATH, REQID, &id, sig, NOW, 30), -1);
	/* and the original still verifies */
	assert_int_equal(verify(&id, sig), 0);
}

/* Moving characters between adjacent fields changes the MAC. */
static void
test_field_boundaries(void **state)
{
	struct yx_identity a, b;
	char sig[YX_IDHDR_SIG_MAX];

	(void)state;
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	snprintf(a.user, sizeof(a.user), "%s", "10");
	snprintf(a.roles, sizeof(a.roles), "%s", "01");
	snprintf(b.user, sizeof(b.user), "%s", "100");
	snprintf(b.roles, sizeof(b.roles), "%s", "1");
	sign_ok(&a, NOW, sig);
	assert_int_equal(verify(&a, sig), 0);
	assert_int_equal(verify(&b, sig), -1);
	assert_int_equal(yx_idhdr_verify(key, "POS", "T" PATH, REQID, &a, sig, NOW, 30), -1);
}

static void
test_skew_window(void **state)
{
	struct yx_identity id;
	char sig[YX_IDHDR_SIG_MAX];

	(void)state;
	make_identity(&id);
	sign_ok(&id, NOW, sig);
	assert_int_equal(yx_idhdr_verify(key, METHOD, PATH, REQID, &id, sig, NOW + 30, 30), 0);
	assert_int_equal(yx_idhdr_verify(key, METHOD, PATH, REQID, &id, sig, NOW - 30, 30), 0);
	assert_int_equal(yx_idhdr_verify(key, METHOD, PATH, REQID, &id, sig, NOW + 31, 30), -1);
	assert_int_equal(yx_idhdr_verify(key, METHOD, PATH, REQID, &id, sig, NOW - 31, 30), -1);
	assert_int_equal(yx_idhdr_verify(key, METHOD, PATH, REQID, &id, sig, NOW, 0), 0);
	assert_int_equal(yx_idhdr_verify(key, METHOD, PATH, REQID, &id, sig, NOW + 1, 0), -1);
	assert_int_equal(yx_idhdr_verify(key, METHOD, PATH, REQID, &id, sig, NOW, -1), -1);

	/* the timestamp is signed: rewriting t to look fresh fails */
	{
		char moved[YX_IDHDR_SIG_MAX];

		snprintf(moved, sizeof(moved), "t=1700000100%s", sig + 12);
		assert_int_equal(
		    yx_idhdr_verify(key, METHOD, PATH, REQID, &id, moved, NOW + 100, 30), -1);
	}
}

static void
test_malformed_sig(void **state)
{
	static const char *bad[] = {
	    "",
	    "t=",
	    "t=1700000000",
	    "t=1700000000,v1=",
	    "t=1700000000,v1=00",
	    "v1=0000000000000000000000000000000000000000000000000000000000000000,t=1700000000",
	    "t=-1700000000,v1=0000000000000000000000000000000000000000000000000000000000000000",
	    "t=+1700000000,v1=0000000000000000000000000000000000000000000000000000000000000000",
	    "t=99999999999999999999,v1="
	    "0000000000000000000000000000000000000000000000000000000000000000",
	    "t=1700000000,v2=0000000000000000000000000000000000000000000000000000000000000000",
	    "t=1700000000;v1=0000000000000000000000000000000000000000000000000000000000000000",
	    "T=1700000000,v1=0000000000000000000000000000000000000000000000000000000000000000",
	    " t=1700000000,v1=0000000000000000000000000000000000000000000000000000000000000000",
	};
	struct yx_identity id;
	char sig[YX_IDHDR_SIG_MAX], buf[256];
	size_t i;

	(void)state;
	make_identity(&id);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(verify(&id, bad[i]), -1);
	assert_int_equal(verify(&id, NULL), -1);

	sign_ok(&id, NOW, sig);
	/* uppercase hex, trailing text, leading zero in t, a missing digit */
	snprintf(buf, sizeof(buf), "%s", sig);
	for (i = 16; buf[i] != '\0'; i++) {
		if (buf[i] >= 'a' && buf[i] <= 'f') {
			buf[i] = (char)(buf[i] - 'a' + 'A');
			break;
		}
	}
	assert_int_equal(verify(&id, buf), -1);
	snprintf(buf, sizeof(buf), "%s ", sig);
	assert_int_equal(verify(&id, buf), -1);
	snprintf(buf, sizeof(buf), "%s,v2=00", sig);
	assert_int_equal(verify(&id, buf), -1);
	snprintf(buf, sizeof(buf), "t=0%s", sig + 2);
	assert_int_equal(verify(&id, buf), -1);
	snprintf(buf, sizeof(buf), "%s", sig);
	buf[strlen(buf) - 1] = '\0';
	assert_int_equal(verify(&id, buf), -1);
	/* one flipped MAC digit */
	snprintf(buf, sizeof(buf), "%s", sig);
	buf[20] = buf[20] == '0' ? '1' : '0';
	assert_int_equal(verify(&id, buf), -1);
	assert_int_equal(verify(&id, sig), 0);
}

static void
test_sign_refuses(void **state)
{
	struct yx_identity id;
	char sig[YX_IDHDR_SIG_MAX];

	(void)state;
	make_identity(&id);
	/* header injection through any signed value */
	snprintf(id.user, sizeof(id.user), "%s", "1001\r\nX-Yx-Roles: admin@1");
	assert_int_equal(yx_idhdr_sign(key, METHOD, PATH, REQID, &id, NOW, sig, sizeof(sig)), -1);
	assert_string_equal(sig, "");
	make_identity(&id);
	assert_int_equal(yx_idhdr_sign(key, METHOD, PATH, "a\nb", &id, NOW, sig, sizeof(sig)), -1);
	/* unterminated field */
	memset(id.org, 'a', sizeof(id.org));
	assert_int_equal(yx_idhdr_sign(key, METHOD, PATH, REQID, &id, NOW, sig, sizeof(sig)), -1);
	make_identity(&id);
	/* missing method or path, NULLs, negative time, small buffer */
	assert_int_equal(yx_idhdr_sign(key, "", PATH, REQID, &id, NOW, sig, sizeof(sig)), -1);
	assert_int_equal(yx_idhdr_sign(key, METHOD, "", REQID, &id, NOW, sig, sizeof(sig)), -1);
	assert_int_equal(yx_idhdr_sign(key, METHOD, PATH, NULL, &id, NOW, sig, sizeof(sig)), -1);
	assert_int_equal(yx_idhdr_sign(key, METHOD, PATH, REQID, NULL, NOW, sig, sizeof(sig)), -1);
	assert_int_equal(yx_idhdr_sign(key, METHOD, PATH, REQID, &id, -1, sig, sizeof(sig)), -1);
	assert_int_equal(yx_idhdr_sign(key, METHOD, PATH, REQID, &id, NOW, sig, 80), -1);
	assert_string_equal(sig, "");
	assert_int_equal(yx_idhdr_sign(key, METHOD, PATH, REQID, &id, NOW, sig, 81), 0);
}

static void
test_roles_has(void **state)
{
	const char *roles = "resident@12,community_staff@12,party_member@7";

	(void)state;
	assert_true(yx_roles_has(roles, "resident", "12"));
	assert_true(yx_roles_has(roles, "community_staff", "12"));
	assert_true(yx_roles_has(roles, "party_member", "7"));
	assert_true(yx_roles_has(roles, "party_member", NULL));
	assert_true(yx_roles_has("resident@12", "resident", NULL));

	assert_false(yx_roles_has(roles, "resident", "1"));
	assert_false(yx_roles_has(roles, "resident", "123"));
	assert_false(yx_roles_has(roles, "party_member", "12"));
	assert_false(yx_roles_has(roles, "staff", NULL));
	assert_false(yx_roles_has(roles, "community", NULL));
	assert_false(yx_roles_has(roles, "resident@12", NULL));
	assert_false(yx_roles_has(roles, "district_admin", NULL));
	assert_false(yx_roles_has(roles, "", NULL));
	assert_false(yx_roles_has(roles, NULL, NULL));
	assert_false(yx_roles_has(NULL, "resident", NULL));
	assert_false(yx_roles_has("", "resident", NULL));
	assert_false(yx_roles_has("resident", "resident", NULL)); /* no org part */
	assert_false(yx_roles_has(",,resident@", "resident", "12"));
	assert_true(yx_roles_has(",,resident@12,", "resident", "12"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip),         cmocka_unit_test(test_anonymous_round_trip),
	    cmocka_unit_test(test_each_field_changed), cmocka_unit_test(test_field_boundaries),
	    cmocka_unit_test(test_skew_window),        cmocka_unit_test(test_malformed_sig),
	    cmocka_unit_test(test_sign_refuses),       cmocka_unit_test(test_roles_has),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
