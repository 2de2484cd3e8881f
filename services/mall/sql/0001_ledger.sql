-- The points ledger: accounts, the immutable double-entry journal, the
-- idempotency records of requests that moved something, and manual awards.
--
-- Accounts: one per user (kind 'user', owner = user id), one issuer per
-- community (kind 'issuer', owner = community id: where earned points come
-- from, so its balance is minus what the community has handed out) and
-- store_shards() store accounts per community (kind 'store', owner =
-- community id, shard = user id % store_shards(): where spent points go; one
-- row per community would serialize every redemption on its lock, see
-- PLATFORM.md "Costs measured here").
--
-- Invariants (all checked by `yx-mall reconcile`):
--   * every movement is one transaction id (txn_id) whose journal rows sum to
--     0, so the balances of all accounts sum to 0;
--   * each account's balance is the sum of its journal rows; user and store
--     balances never go below 0 (CHECK);
--   * the journal is never updated or deleted (trigger, and the rights are
--     revoked); a (account, kind, ref) appears at most once, so an award,
--     a redemption or a refund can never be booked twice.
--
-- Every movement is one function called as one statement (one transaction,
-- READ COMMITTED). A refusal (insufficient_points, out_of_stock, ...) is
-- decided before anything is written and returned as the function's r_error,
-- a code of the service's error table, not raised: in Kore's pgsql a failed
-- statement costs a blocking cancel request (a new server connection and
-- backend) on release, and refusals are the common answer in a flash sale.
-- What cannot happen in a correct program is still RAISEd and rolls back.
-- A request that moved something stores its response under (caller,
-- Idempotency-Key) in the same transaction; a refused request stores nothing,
-- so sending it again evaluates it again.
--
-- Row locks are always taken in this order, so movements never deadlock:
--   idempotency key (advisory) → award_days → orders → issuer account →
--   user accounts → items → store accounts (several of one kind: by id).
--
-- Calendar days and months (daily award cap, monthly limits, leaderboard
-- periods) are those of China Standard Time, local_zone().
--
-- Other ways of earning (volunteer activities, wishes, deliberation) credit
-- points with ledger_credit(community, user, points, kind, ref) inside their
-- own function, after their own idempotency and checks, exactly as award()
-- does; the service then adds the points to the leaderboards
-- (mall_lb_credit) once the transaction committed, and `yx-mall reconcile`
-- gets a check tying their journal rows to their own records.

CREATE FUNCTION local_zone() RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT 'Asia/Shanghai'::text $$;

CREATE FUNCTION utc_text(p timestamptz) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT to_char(p AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') $$;

CREATE FUNCTION local_day(p timestamptz) RETURNS date
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT (p AT TIME ZONE local_zone())::date $$;

-- Start of the local calendar period ('month' or 'year') holding p.
CREATE FUNCTION period_start(p_period text, p timestamptz) RETURNS timestamptz
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT date_trunc(p_period, p AT TIME ZONE local_zone()) AT TIME ZONE local_zone() $$;

-- 'YYYY-MM' for a month, 'YYYY' for a year: the leaderboard keys' suffix.
CREATE FUNCTION period_label(p_period text, p timestamptz) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT to_char(p AT TIME ZONE local_zone(), CASE p_period WHEN 'month' THEN 'YYYY-MM' ELSE 'YYYY' END) $$;

CREATE FUNCTION store_shards() RETURNS int
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT 16 $$;

-- Journal kinds that earn a user points (credited from the community's
-- issuer account); they count for `earned` and the leaderboards. The list is
-- repeated in the journal_earnings index and must stay equal to it.
CREATE FUNCTION earning_kind(p_kind text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT p_kind IN ('award', 'activity') $$;

CREATE TABLE accounts (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('user', 'issuer', 'store')),
    owner       bigint NOT NULL CHECK (owner > 0),
    shard       int NOT NULL DEFAULT 0 CHECK (shard >= 0 AND shard < 16),
    balance     bigint NOT NULL DEFAULT 0,
    -- users only: points earned, and points spent net of refunds
    earned      bigint NOT NULL DEFAULT 0 CHECK (earned >= 0),
    spent       bigint NOT NULL DEFAULT 0 CHECK (spent >= 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT accounts_balance_nonnegative CHECK (kind = 'issuer' OR balance >= 0),
    CHECK (kind = 'store' OR shard = 0),
    UNIQUE (kind, owner, shard)
) WITH (fillfactor = 70);

-- Movement ids: the rows of one movement share one.
CREATE SEQUENCE txn_ids;

CREATE TABLE journal (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    txn_id      bigint NOT NULL,
    account_id  bigint NOT NULL REFERENCES accounts (id),
    amount      bigint NOT NULL CHECK (amount <> 0),
    kind        text NOT NULL CHECK (kind IN ('award', 'activity', 'redeem', 'refund')),
    -- what moved the points: 'award:<id>', 'order:<id>', 'activity:...'
    ref         text NOT NULL CHECK (char_length(ref) BETWEEN 1 AND 100),
    community   bigint NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX journal_account ON journal (account_id, id);
CREATE UNIQUE INDEX journal_once ON journal (account_id, kind, ref);
CREATE INDEX journal_earnings ON journal (community, created_at)
    WHERE kind IN ('award', 'activity') AND amount > 0;

-- Append-only tables: any UPDATE, DELETE or TRUNCATE fails, whoever runs it.
CREATE FUNCTION append_only() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = 'append_only',
        DETAIL = TG_TABLE_NAME || ' is append-only';
END
$$;

CREATE TRIGGER journal_append_only BEFORE UPDATE OR DELETE ON journal
    FOR EACH ROW EXECUTE FUNCTION append_only();
CREATE TRIGGER journal_no_truncate BEFORE TRUNCATE ON journal
    FOR EACH STATEMENT EXECUTE FUNCTION append_only();
REVOKE UPDATE, DELETE, TRUNCATE ON journal FROM PUBLIC;
REVOKE UPDATE, DELETE, TRUNCATE ON journal FROM CURRENT_USER;

-- Responses of requests that moved something, by caller and Idempotency-Key.
-- request_hash is SHA-256 of method, path and body (hex); rows older than
-- YX_MALL_IDEMPOTENCY_TTL_HOURS are purged by the service.
CREATE TABLE idempotency (
    user_id       bigint NOT NULL,
    key           text NOT NULL CHECK (char_length(key) BETWEEN 1 AND 128),
    request_hash  text NOT NULL CHECK (request_hash ~ '^[0-9a-f]{64}$'),
    status        int NOT NULL CHECK (status BETWEEN 200 AND 299),
    response      jsonb NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_created ON idempotency (created_at);

-- Serializes the requests of one caller carrying one key (an advisory lock
-- held to the end of the transaction, so a concurrent replay waits for the
-- first to commit) and returns the stored response, or NULL when the key is
-- new; mismatch is true when the key was stored for another request.
CREATE FUNCTION idem_begin(p_user bigint, p_key text, p_hash text, OUT stored jsonb,
                           OUT mismatch boolean)
    LANGUAGE plpgsql
    SET search_path FROM CURRENT
    AS $$
DECLARE
    v_hash text;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('mall:' || p_user || ':' || p_key, 0));
    SELECT i.request_hash, i.response INTO v_hash, stored
    FROM idempotency i WHERE i.user_id = p_user AND i.key = p_key;
    mismatch := FOUND AND v_hash <> p_hash;
    IF mismatch THEN
        stored := NULL;
    END IF;
END
$$;

CREATE FUNCTION idem_store(p_user bigint, p_key text, p_hash text, p_status int, p_response jsonb)
    RETURNS void
    LANGUAGE sql
    SET search_path FROM CURRENT
    AS $$
    INSERT INTO idempotency (user_id, key, request_hash, status, response)
    VALUES (p_user, p_key, p_hash, p_status, p_response)
$$;

-- Deletes up to p_limit idempotency records older than p_hours; returns how many.
CREATE FUNCTION idem_purge(p_hours int, p_limit int) RETURNS int
    LANGUAGE sql
    SET search_path FROM CURRENT
    AS $$
    WITH gone AS (
        DELETE FROM idempotency WHERE ctid IN (
            SELECT ctid FROM idempotency
            WHERE created_at < now() - make_interval(hours => p_hours)
            ORDER BY created_at LIMIT p_limit)
        RETURNING 1)
    SELECT count(*)::int FROM gone
$$;

-- The id of account (kind, owner, shard), created when missing.
CREATE FUNCTION account_id(p_kind text, p_owner bigint, p_shard int) RETURNS bigint
    LANGUAGE plpgsql
    SET search_path FROM CURRENT
    AS $$
DECLARE
    v bigint;
BEGIN
    SELECT a.id INTO v FROM accounts a
    WHERE a.kind = p_kind AND a.owner = p_owner AND a.shard = p_shard;
    IF FOUND THEN
        RETURN v;
    END IF;
    INSERT INTO accounts (kind, owner, shard) VALUES (p_kind, p_owner, p_shard)
    ON CONFLICT DO NOTHING RETURNING id INTO v;
    IF v IS NULL THEN
        SELECT a.id INTO v FROM accounts a
        WHERE a.kind = p_kind AND a.owner = p_owner AND a.shard = p_shard;
    END IF;
    RETURN v;
END
$$;

-- Credits p_points earned by p_user in p_community, from the community's
-- issuer account: the one way points come into existence. p_kind is an
-- earning_kind(); p_ref names what earned them and may credit a user only
-- once ('award:<id>', 'activity:<id>:<user>', ...). Returns the txn id. The
-- caller runs it inside its own function (idempotency, caps, audit rows) and
-- takes no user, item or store lock before it.
CREATE FUNCTION ledger_credit(p_community bigint, p_user bigint, p_points bigint, p_kind text,
                              p_ref text) RETURNS bigint
    LANGUAGE plpgsql
    SET search_path FROM CURRENT
    AS $$
DECLARE
    v_issuer bigint;
    v_user bigint;
    v_txn bigint;
BEGIN
    IF p_points IS NULL OR p_points <= 0 OR NOT earning_kind(p_kind) THEN
        RAISE EXCEPTION 'ledger_credit: % points of kind %', p_points, p_kind;
    END IF;
    v_issuer := account_id('issuer', p_community, 0);
    v_user := account_id('user', p_user, 0);
    UPDATE accounts SET balance = balance - p_points WHERE id = v_issuer;
    UPDATE accounts SET balance = balance + p_points, earned = earned + p_points
    WHERE id = v_user;
    v_txn := nextval('txn_ids');
    INSERT INTO journal (txn_id, account_id, amount, kind, ref, community) VALUES
        (v_txn, v_issuer, -p_points, p_kind, p_ref, p_community),
        (v_txn, v_user, p_points, p_kind, p_ref, p_community);
    RETURN v_txn;
END
$$;

-- Manual awards by staff, audited; limited per community and local day.
CREATE SEQUENCE award_ids;

CREATE TABLE awards (
    id          bigint PRIMARY KEY DEFAULT nextval('award_ids'),
    community   bigint NOT NULL,
    user_id     bigint NOT NULL,
    points      bigint NOT NULL CHECK (points > 0),
    reason      text NOT NULL CHECK (char_length(reason) BETWEEN 1 AND 200),
    awarded_by  bigint NOT NULL CHECK (awarded_by <> user_id),
    txn_id      bigint NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX awards_community ON awards (community, id);
CREATE TRIGGER awards_append_only BEFORE UPDATE OR DELETE ON awards
    FOR EACH ROW EXECUTE FUNCTION append_only();

CREATE TABLE award_days (
    community  bigint NOT NULL,
    day        date NOT NULL,
    total      bigint NOT NULL CHECK (total > 0),
    PRIMARY KEY (community, day)
);

-- POST /api/v1/points/awards. p_staff has been checked (by the service) to be
-- staff of p_community; p_daily_cap is YX_MALL_AWARD_DAILY_CAP. Returns the
-- refusal, or the response and, on a first execution, the leaderboard
-- periods the points count in.
CREATE FUNCTION award(p_key text, p_hash text, p_staff bigint, p_community bigint, p_user bigint,
                      p_points bigint, p_reason text, p_daily_cap bigint)
    RETURNS TABLE (r_error text, r_replayed boolean, r_reply jsonb, r_month text, r_year text)
    LANGUAGE plpgsql
    SET search_path FROM CURRENT
    AS $$
DECLARE
    v_mismatch boolean;
    v_id bigint;
    v_txn bigint;
    v_now timestamptz := now();
BEGIN
    SELECT * INTO r_reply, v_mismatch FROM idem_begin(p_staff, p_key, p_hash);
    IF v_mismatch OR r_reply IS NOT NULL THEN
        r_error := CASE WHEN v_mismatch THEN 'idempotency_key_mismatch' END;
        r_replayed := true;
        RETURN NEXT;
        RETURN;
    END IF;
    r_error := CASE
        WHEN p_user = p_staff THEN 'self_award_forbidden'
        WHEN p_points > p_daily_cap THEN 'daily_cap_exceeded'
    END;
    IF r_error IS NOT NULL THEN
        RETURN NEXT;
        RETURN;
    END IF;
    INSERT INTO award_days AS d (community, day, total)
    VALUES (p_community, local_day(v_now), p_points)
    ON CONFLICT (community, day) DO UPDATE SET total = d.total + EXCLUDED.total
        WHERE d.total + EXCLUDED.total <= p_daily_cap;
    IF NOT FOUND THEN
        r_error := 'daily_cap_exceeded';
        RETURN NEXT;
        RETURN;
    END IF;
    v_id := nextval('award_ids');
    v_txn := ledger_credit(p_community, p_user, p_points, 'award', 'award:' || v_id);
    INSERT INTO awards (id, community, user_id, points, reason, awarded_by, txn_id, created_at)
    VALUES (v_id, p_community, p_user, p_points, p_reason, p_staff, v_txn, v_now);
    r_replayed := false;
    r_reply := jsonb_build_object(
        'id', v_id::text, 'community_id', p_community::text, 'user_id', p_user::text,
        'points', p_points, 'reason', p_reason, 'awarded_by', p_staff::text,
        'txn_id', v_txn::text, 'created_at', utc_text(v_now));
    PERFORM idem_store(p_staff, p_key, p_hash, 201, r_reply);
    r_month := period_label('month', v_now);
    r_year := period_label('year', v_now);
    RETURN NEXT;
END
$$;
