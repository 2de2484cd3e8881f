-- Login and tokens: one-time SMS codes, sessions with rotating refresh tokens,
-- and the failure counts behind the password back-off.
--
-- Nothing here holds a secret in a usable form: an SMS code is kept only as
-- HMAC-SHA256 under a key outside the database, a refresh token only as its
-- SHA-256, a phone number only as the blind index (users.phone_idx) the
-- service computes. Every state change is one function called in one round
-- trip. A function whose refusal must still change something (a wrong code
-- counts a try, a reused refresh token revokes its family) reports the
-- outcome in its result instead of raising, because a raise would roll the
-- change back.

-- The code most recently sent to each phone; sending a new one replaces it,
-- so only the latest code works.
CREATE TABLE sms_codes (
    phone_idx   text PRIMARY KEY,
    code_hmac   text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    attempts    integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    used_at     timestamptz
);
CREATE INDEX sms_codes_expiry ON sms_codes (expires_at);

-- A session is a family of refresh tokens: one row per token, the first
-- row's id naming the family. Rotation marks the presented row rotated and
-- adds the next one; presenting a rotated token again revokes the family.
-- Access tokens carry the family id as `sid`.
CREATE SEQUENCE session_family_seq;

CREATE TABLE sessions (
    id            text PRIMARY KEY,
    family_id     text NOT NULL,
    family_seq    bigint NOT NULL,   -- tie-break of the session list's cursor
    user_id       bigint NOT NULL REFERENCES users (id),
    refresh_hash  text NOT NULL UNIQUE CHECK (refresh_hash ~ '^[0-9a-f]{64}$'),
    login_method  text NOT NULL CHECK (login_method IN ('code', 'password')),
    login_at      timestamptz NOT NULL,           -- when the family started
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,                    -- when this token was presented
    expires_at    timestamptz NOT NULL,
    rotated_at    timestamptz,
    revoked_at    timestamptz,
    revoke_reason text CHECK (revoke_reason IN ('logout', 'deleted', 'reuse', 'disabled')),
    user_agent    text NOT NULL DEFAULT '' CHECK (char_length(user_agent) <= 256),
    client_ip     inet
);
CREATE INDEX sessions_family ON sessions (family_id);
CREATE INDEX sessions_user_live ON sessions (user_id, login_at DESC, family_seq DESC)
    WHERE rotated_at IS NULL AND revoked_at IS NULL;
CREATE INDEX sessions_user_expiry ON sessions (user_id, expires_at);

-- Failed password logins per phone (known or not, so the answer does not
-- tell which numbers have accounts).
CREATE TABLE login_failures (
    phone_idx      text PRIMARY KEY,
    failures       integer NOT NULL CHECK (failures > 0),
    last_failed_at timestamptz NOT NULL,
    locked_until   timestamptz
);
CREATE INDEX login_failures_age ON login_failures (last_failed_at);

-- The roles of a user as "role@org,..." and the primary community (the
-- lowest community id among them), as access tokens carry them.
CREATE FUNCTION user_grants(p_user bigint, OUT roles text, OUT org text)
LANGUAGE sql STABLE SET search_path FROM CURRENT AS $$
    SELECT coalesce((SELECT string_agg(ur.role || '@' || ur.org_id, ',' ORDER BY ur.org_id, ur.role)
                       FROM user_roles ur WHERE ur.user_id = p_user), ''),
           coalesce((SELECT min(o.id)::text FROM user_roles ur JOIN orgs o ON o.id = ur.org_id
                      WHERE ur.user_id = p_user AND o.level = 'community'), '')
$$;

-- The row every login and refresh function returns. outcome is 'ok' or the
-- error code to answer with; the rest describes the user and session when
-- there is one. retry_after (seconds) is set with 'login_locked'.
CREATE TYPE auth_result AS (
    outcome      text,
    session_id   text,
    user_id      text,
    display_name text,
    avatar_url   text,
    phone_enc    text,
    phone_masked text,
    status       text,
    created_at   text,
    roles        text,
    org          text,
    retry_after  integer
);

CREATE FUNCTION auth_reply(p_outcome text, p_user bigint, p_sid text, p_retry integer DEFAULT 0)
RETURNS auth_result
LANGUAGE sql STABLE SET search_path FROM CURRENT AS $$
    SELECT ROW(p_outcome, p_sid, u.id::text, u.display_name, coalesce(u.avatar_url, ''),
               u.phone_enc, u.phone_masked, u.status,
               to_char(u.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
               g.roles, g.org, p_retry)::auth_result
      FROM (SELECT 1) one
      LEFT JOIN users u ON u.id = p_user
      LEFT JOIN LATERAL user_grants(u.id) g ON true
$$;

-- Starts a session family for p_user with its first refresh token and
-- returns the family id. Expired and long-dead rows of the user go at the
-- same time, so the table does not grow with every login.
CREATE FUNCTION session_start(p_user bigint, p_method text, p_refresh_hash text,
                              p_ttl_seconds integer, p_user_agent text, p_client_ip inet)
RETURNS text
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    v_id text := gen_random_uuid()::text;
BEGIN
    DELETE FROM sessions WHERE user_id = p_user AND expires_at < now() - interval '1 day';
    INSERT INTO sessions (id, family_id, family_seq, user_id, refresh_hash, login_method,
                          login_at, expires_at, user_agent, client_ip)
    VALUES (v_id, v_id, nextval('session_family_seq'), p_user, p_refresh_hash, p_method, now(),
            now() + make_interval(secs => p_ttl_seconds), left(p_user_agent, 256), p_client_ip);
    RETURN v_id;
END
$$;

-- Stores the code just generated for a phone (as its HMAC), replacing any
-- earlier one: a fresh code has its full number of tries. A few codes that
-- expired a day ago go at the same time, so the table holds about a day's
-- worth of numbers.
CREATE FUNCTION sms_code_issue(p_phone_idx text, p_code_hmac text, p_ttl_seconds integer)
RETURNS void
LANGUAGE sql SET search_path FROM CURRENT AS $$
    DELETE FROM sms_codes
     WHERE phone_idx IN (SELECT phone_idx FROM sms_codes
                          WHERE expires_at < now() - interval '1 day'
                          LIMIT 10 FOR UPDATE SKIP LOCKED);
    INSERT INTO sms_codes AS c (phone_idx, code_hmac, expires_at)
    VALUES (p_phone_idx, p_code_hmac, now() + make_interval(secs => p_ttl_seconds))
    ON CONFLICT (phone_idx) DO UPDATE
       SET code_hmac = excluded.code_hmac, created_at = now(), expires_at = excluded.expires_at,
           attempts = 0, used_at = NULL;
$$;

-- Login with an SMS code. The code row is locked, so concurrent tries on one
-- phone are counted one by one and a code is used at most once. Outcomes:
-- invalid_code (no live code, or a wrong one: counts a try),
-- code_attempts_exceeded (p_max_attempts wrong tries already), code_expired,
-- account_disabled, ok. An unknown phone gets a new resident account: a
-- resident holds no role row (roles are granted within the org tree later,
-- on registration or by staff).
CREATE FUNCTION login_with_code(p_phone_idx text, p_code_hmac text, p_max_attempts integer,
                                p_phone_enc text, p_phone_masked text, p_refresh_hash text,
                                p_ttl_seconds integer, p_user_agent text, p_client_ip inet)
RETURNS auth_result
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    c sms_codes;
    v_user bigint;
    v_status text;
    v_sid text;
BEGIN
    SELECT * INTO c FROM sms_codes WHERE phone_idx = p_phone_idx FOR UPDATE;
    IF NOT FOUND OR c.used_at IS NOT NULL THEN
        RETURN auth_reply('invalid_code', NULL, NULL);
    END IF;
    IF c.attempts >= p_max_attempts THEN
        RETURN auth_reply('code_attempts_exceeded', NULL, NULL);
    END IF;
    IF c.expires_at <= now() THEN
        RETURN auth_reply('code_expired', NULL, NULL);
    END IF;
    IF c.code_hmac <> p_code_hmac THEN
        UPDATE sms_codes SET attempts = attempts + 1 WHERE phone_idx = p_phone_idx;
        RETURN auth_reply('invalid_code', NULL, NULL);
    END IF;
    UPDATE sms_codes SET used_at = now() WHERE phone_idx = p_phone_idx;

    SELECT id, status INTO v_user, v_status FROM users WHERE phone_idx = p_phone_idx;
    IF NOT FOUND THEN
        INSERT INTO users (phone_enc, phone_idx, phone_masked)
        VALUES (p_phone_enc, p_phone_idx, p_phone_masked)
        ON CONFLICT (phone_idx) DO NOTHING
        RETURNING id, status INTO v_user, v_status;
        IF v_user IS NULL THEN
            -- Created by a concurrent request between our look-up and insert.
            SELECT id, status INTO v_user, v_status FROM users WHERE phone_idx = p_phone_idx;
        END IF;
    END IF;
    IF v_status <> 'active' THEN
        RETURN auth_reply('account_disabled', NULL, NULL);
    END IF;
    v_sid := session_start(v_user, 'code', p_refresh_hash, p_ttl_seconds, p_user_agent,
                           p_client_ip);
    RETURN auth_reply('ok', v_user, v_sid);
END
$$;

-- First step of a password login: the back-off state of the phone and, when
-- the phone has an active account with a password, its id and hash.
-- retry_after > 0 means refuse without looking at the password.
CREATE FUNCTION password_login_check(p_phone_idx text, OUT retry_after integer,
                                     OUT user_id text, OUT password_hash text)
LANGUAGE sql STABLE SET search_path FROM CURRENT AS $$
    SELECT coalesce((SELECT greatest(0, ceil(extract(epoch FROM f.locked_until - now())))::integer
                       FROM login_failures f WHERE f.phone_idx = p_phone_idx), 0),
           u.id::text, u.password_hash
      FROM (SELECT 1) one
      LEFT JOIN users u ON u.phone_idx = p_phone_idx AND u.status = 'active'
                       AND u.password_hash IS NOT NULL
$$;

-- Second step, once the password was checked (p_ok). A failure is counted
-- against the phone; from the p_free_failures-th failure in a row each one
-- locks the phone for p_backoff_seconds * 2^(failures - p_free_failures),
-- at most p_backoff_max seconds. A failure more than p_window_seconds after
-- the previous one starts the count afresh, and so does a success.
-- Outcomes: invalid_credentials, login_locked (a concurrent failure locked
-- the phone while this password was being checked), account_disabled, ok.
CREATE FUNCTION password_login_finish(p_phone_idx text, p_user bigint, p_ok boolean,
                                      p_free_failures integer, p_backoff_seconds integer,
                                      p_backoff_max integer, p_window_seconds integer,
                                      p_refresh_hash text, p_ttl_seconds integer,
                                      p_user_agent text, p_client_ip inet)
RETURNS auth_result
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    f login_failures;
    v_n integer;
    v_lock double precision;
    v_status text;
    v_sid text;
BEGIN
    SELECT * INTO f FROM login_failures WHERE phone_idx = p_phone_idx FOR UPDATE;
    IF FOUND AND f.locked_until > now() THEN
        RETURN auth_reply('login_locked', NULL, NULL,
                          greatest(1, ceil(extract(epoch FROM f.locked_until - now())))::integer);
    END IF;
    IF NOT p_ok OR p_user IS NULL THEN
        -- Counts older than the window mean nothing any more: drop a few.
        DELETE FROM login_failures
         WHERE phone_idx IN (SELECT l.phone_idx FROM login_failures l
                              WHERE l.last_failed_at < now() - make_interval(secs => p_window_seconds)
                                AND l.phone_idx <> p_phone_idx
                              LIMIT 10 FOR UPDATE SKIP LOCKED);
        v_n := CASE WHEN f.phone_idx IS NOT NULL
                         AND f.last_failed_at > now() - make_interval(secs => p_window_seconds)
                    THEN f.failures + 1 ELSE 1 END;
        v_lock := CASE WHEN v_n >= p_free_failures
                       THEN least(p_backoff_max::double precision,
                                  p_backoff_seconds * power(2::double precision,
                                                            least(v_n - p_free_failures, 40)))
                       END;
        INSERT INTO login_failures AS l (phone_idx, failures, last_failed_at, locked_until)
        VALUES (p_phone_idx, v_n, now(), now() + make_interval(secs => v_lock))
        ON CONFLICT (phone_idx) DO UPDATE
           SET failures = excluded.failures, last_failed_at = excluded.last_failed_at,
               locked_until = excluded.locked_until;
        RETURN auth_reply('invalid_credentials', NULL, NULL);
    END IF;
    DELETE FROM login_failures WHERE phone_idx = p_phone_idx;
    SELECT status INTO v_status FROM users WHERE id = p_user;
    IF NOT FOUND OR v_status <> 'active' THEN
        RETURN auth_reply('account_disabled', NULL, NULL);
    END IF;
    v_sid := session_start(p_user, 'password', p_refresh_hash, p_ttl_seconds, p_user_agent,
                           p_client_ip);
    RETURN auth_reply('ok', p_user, v_sid);
END
$$;

-- Exchanges a refresh token (by its hash) for the next one of its family.
-- The row is locked, so of concurrent refreshes with one token exactly one
-- rotates it; the others then find it rotated. Presenting a rotated token
-- is taken as theft: the whole family is revoked (outcome refresh_reused,
-- session_id naming the family so the caller can publish the revocation).
-- Other outcomes: invalid_refresh_token (unknown), session_revoked,
-- refresh_expired, account_disabled (revokes the family too), ok.
CREATE FUNCTION refresh_rotate(p_old_hash text, p_new_hash text, p_ttl_seconds integer,
                               p_user_agent text, p_client_ip inet)
RETURNS auth_result
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    s sessions;
    v_status text;
BEGIN
    SELECT * INTO s FROM sessions WHERE refresh_hash = p_old_hash FOR UPDATE;
    IF NOT FOUND THEN
        RETURN auth_reply('invalid_refresh_token', NULL, NULL);
    END IF;
    IF s.revoked_at IS NOT NULL THEN
        RETURN auth_reply('session_revoked', NULL, s.family_id);
    END IF;
    IF s.rotated_at IS NOT NULL THEN
        UPDATE sessions SET revoked_at = now(), revoke_reason = 'reuse'
         WHERE family_id = s.family_id AND revoked_at IS NULL;
        RETURN auth_reply('refresh_reused', NULL, s.family_id);
    END IF;
    IF s.expires_at <= now() THEN
        RETURN auth_reply('refresh_expired', NULL, s.family_id);
    END IF;
    SELECT status INTO v_status FROM users WHERE id = s.user_id;
    IF v_status <> 'active' THEN
        UPDATE sessions SET revoked_at = now(), revoke_reason = 'disabled'
         WHERE family_id = s.family_id AND revoked_at IS NULL;
        RETURN auth_reply('account_disabled', NULL, s.family_id);
    END IF;

    UPDATE sessions SET rotated_at = now(), last_used_at = now() WHERE id = s.id;
    -- Rotated tokens are kept for reuse detection until they would have expired.
    DELETE FROM sessions
     WHERE family_id = s.family_id AND rotated_at IS NOT NULL AND expires_at < now();
    INSERT INTO sessions (id, family_id, family_seq, user_id, refresh_hash, login_method,
                          login_at, expires_at, user_agent, client_ip)
    VALUES (gen_random_uuid()::text, s.family_id, s.family_seq, s.user_id, p_new_hash,
            s.login_method, s.login_at, now() + make_interval(secs => p_ttl_seconds),
            left(p_user_agent, 256), p_client_ip);
    RETURN auth_reply('ok', s.user_id, s.family_id);
END
$$;

-- Revokes the session family p_family of p_user (logout, or deletion from
-- the session list). Idempotent: revoking a revoked session of the user
-- succeeds again, so a caller whose publication of the revocation failed
-- can retry. Raises not_found when p_user has no session p_family.
CREATE FUNCTION session_revoke(p_user bigint, p_family text, p_reason text)
RETURNS text
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    PERFORM 1 FROM sessions WHERE family_id = p_family AND user_id = p_user LIMIT 1;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = 'not_found';
    END IF;
    UPDATE sessions SET revoked_at = now(), revoke_reason = p_reason
     WHERE family_id = p_family AND revoked_at IS NULL;
    RETURN p_family;
END
$$;

-- Creates or updates the district administrator behind the
-- `bootstrap-admin` command: the district named p_district (created when
-- missing), the account of the phone (its password set to p_password_hash)
-- and the district_admin role there. Returns the user id.
CREATE FUNCTION bootstrap_admin(p_phone_idx text, p_phone_enc text, p_phone_masked text,
                                p_password_hash text, p_district text)
RETURNS bigint
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    v_org bigint;
    v_user bigint;
BEGIN
    SELECT id INTO v_org FROM orgs WHERE level = 'district' AND name = p_district
     ORDER BY id LIMIT 1;
    IF NOT FOUND THEN
        v_org := nextval(pg_get_serial_sequence('orgs', 'id'));
        INSERT INTO orgs (id, parent_id, level, name, path) OVERRIDING SYSTEM VALUE
        VALUES (v_org, NULL, 'district', p_district, '/' || v_org || '/');
    END IF;
    INSERT INTO users (phone_enc, phone_idx, phone_masked, password_hash, display_name)
    VALUES (p_phone_enc, p_phone_idx, p_phone_masked, p_password_hash, '区管理员')
    ON CONFLICT (phone_idx) DO UPDATE
       SET password_hash = excluded.password_hash, status = 'active', updated_at = now()
    RETURNING id INTO v_user;
    INSERT INTO user_roles (user_id, role, org_id) VALUES (v_user, 'district_admin', v_org)
    ON CONFLICT DO NOTHING;
    DELETE FROM login_failures WHERE phone_idx = p_phone_idx;
    RETURN v_user;
END
$$;
