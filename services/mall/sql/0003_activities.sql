-- Volunteer activities (志愿服务): staff of a community publish one; the
-- community's volunteers and party members sign up within its capacity,
-- check in and out on site with the organizer's rotating QR token (made and
-- verified by the service, services/mall/qr.c), and the organizer confirms
-- their hours, which credits their points from the community's issuer
-- account through ledger_credit() of 0001_ledger.sql, exactly once.
--
-- activity.attendance_confirmed (DESIGN.md, "Cross-service events") goes
-- from the mall to the mall: the confirmation and its credit are one
-- transaction of activity_confirm(), so there is nothing to relay and
-- nothing a replay could book twice. Exactly once rests on three things:
-- the sign-up row is locked and becomes 'confirmed' once, after which it
-- never changes (activity_signups_guard); the credit's ref
-- 'activity:<activity>:<user>' appears once per user account and kind
-- (journal_once); a request sent again with its Idempotency-Key gets the
-- stored response (idem_begin).
--
-- Capacity is exact: activities.signed_up counts the sign-ups that are not
-- withdrawn, is changed only with the activity's row locked, and a CHECK
-- keeps it within capacity.
--
-- Row locks extend the order of 0001_ledger.sql: idempotency key (advisory)
-- → activities → activity_signups → issuer account → user account.
-- Refusals follow its convention too: decided before anything is written and
-- returned as r_error, a code of the service's error table; only what a
-- correct program never does (change a confirmed sign-up) is raised.

CREATE TABLE activities (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    community        bigint NOT NULL CHECK (community > 0),
    title            text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 100),
    place            text NOT NULL CHECK (char_length(place) BETWEEN 1 AND 200),
    description      text CHECK (char_length(description) <= 2000),
    starts_at        timestamptz NOT NULL,
    ends_at          timestamptz NOT NULL,
    capacity         int NOT NULL CHECK (capacity BETWEEN 1 AND 10000),
    signed_up        int NOT NULL DEFAULT 0 CHECK (signed_up >= 0),
    -- exactly one of: points per confirmed hour, or a fixed award per person
    points_per_hour  bigint CHECK (points_per_hour BETWEEN 1 AND 10000),
    fixed_points     bigint CHECK (fixed_points BETWEEN 1 AND 100000),
    state            text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'cancelled')),
    cancel_reason    text CHECK (char_length(cancel_reason) BETWEEN 1 AND 200),
    created_by       bigint NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    cancelled_at     timestamptz,
    cancelled_by     bigint,
    CONSTRAINT activities_capacity CHECK (signed_up <= capacity),
    CONSTRAINT activities_points CHECK ((points_per_hour IS NULL) <> (fixed_points IS NULL)),
    CONSTRAINT activities_duration
        CHECK (ends_at - starts_at BETWEEN interval '30 minutes' AND interval '7 days'),
    CHECK ((state = 'cancelled') = (cancelled_at IS NOT NULL AND cancelled_by IS NOT NULL))
) WITH (fillfactor = 80);
CREATE INDEX activities_community ON activities (community, starts_at, id);

-- Who created, changed or cancelled which activity how (the validated
-- request body), for audit.
CREATE TABLE activity_changes (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    activity_id  bigint NOT NULL REFERENCES activities (id),
    changed_by   bigint NOT NULL,
    action       text NOT NULL CHECK (action IN ('create', 'update', 'cancel')),
    change       jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX activity_changes_activity ON activity_changes (activity_id, id);
CREATE TRIGGER activity_changes_append_only BEFORE UPDATE OR DELETE ON activity_changes
    FOR EACH ROW EXECUTE FUNCTION append_only();

-- One row per user and activity: signed_up → (withdrawn → signed_up ...)
-- → checked_in → checked_out → confirmed; confirmation may also come
-- straight from signed_up or checked_in when the organizer vouches.
CREATE TABLE activity_signups (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    activity_id     bigint NOT NULL REFERENCES activities (id),
    user_id         bigint NOT NULL CHECK (user_id > 0),
    -- the role the user signed up with, at the activity's community
    role            text NOT NULL CHECK (role IN ('volunteer', 'party_member')),
    state           text NOT NULL DEFAULT 'signed_up'
                    CHECK (state IN ('signed_up', 'withdrawn', 'checked_in', 'checked_out',
                                     'confirmed')),
    signed_up_at    timestamptz NOT NULL DEFAULT now(),
    withdrawn_at    timestamptz,
    checked_in_at   timestamptz,
    checked_out_at  timestamptz,
    -- confirmed hours, in steps of half an hour; NULL for a fixed award
    -- confirmed without them
    hours           numeric(4, 1) CHECK (hours > 0 AND hours * 2 = trunc(hours * 2)),
    points          bigint CHECK (points > 0),
    txn_id          bigint UNIQUE,
    confirmed_at    timestamptz,
    confirmed_by    bigint,
    UNIQUE (activity_id, user_id),
    CHECK ((state = 'withdrawn') = (withdrawn_at IS NOT NULL)),
    CHECK ((state = 'confirmed') = (confirmed_at IS NOT NULL)),
    CHECK ((confirmed_at IS NULL) = (confirmed_by IS NULL)
           AND (confirmed_at IS NULL) = (points IS NULL)
           AND (confirmed_at IS NULL) = (txn_id IS NULL)),
    CHECK (state NOT IN ('checked_in', 'checked_out') OR checked_in_at IS NOT NULL),
    CHECK (state <> 'checked_out' OR checked_out_at IS NOT NULL),
    CHECK (checked_out_at IS NULL OR (checked_in_at IS NOT NULL
                                      AND checked_out_at >= checked_in_at))
) WITH (fillfactor = 80);
CREATE INDEX activity_signups_user ON activity_signups (user_id, id);
CREATE INDEX activity_signups_activity ON activity_signups (activity_id, id);

-- A confirmed sign-up is final: what it earned, when and from whom never
-- changes, and no sign-up is ever deleted or moved to another user or
-- activity.
CREATE FUNCTION activity_signups_guard() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF TG_OP = 'DELETE' OR OLD.state = 'confirmed'
       OR (NEW.id, NEW.activity_id, NEW.user_id) IS DISTINCT FROM
          (OLD.id, OLD.activity_id, OLD.user_id) THEN
        RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = 'signup_immutable',
            DETAIL = 'sign-up ' || OLD.id || ' (' || OLD.state || ')';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER activity_signups_guard BEFORE UPDATE OR DELETE ON activity_signups
    FOR EACH ROW EXECUTE FUNCTION activity_signups_guard();

CREATE FUNCTION activity_json(a activities) RETURNS jsonb
    LANGUAGE sql STABLE
    AS $$
    SELECT jsonb_build_object(
        'id', a.id::text, 'community_id', a.community::text, 'title', a.title,
        'place', a.place, 'description', a.description,
        'starts_at', utc_text(a.starts_at), 'ends_at', utc_text(a.ends_at),
        'capacity', a.capacity, 'signed_up', a.signed_up,
        'points_per_hour', a.points_per_hour, 'fixed_points', a.fixed_points,
        'state', a.state, 'cancel_reason', a.cancel_reason,
        'created_by', a.created_by::text, 'created_at', utc_text(a.created_at),
        'updated_at', utc_text(a.updated_at), 'cancelled_at', utc_text(a.cancelled_at))
$$;

CREATE FUNCTION activity_signup_json(s activity_signups) RETURNS jsonb
    LANGUAGE sql STABLE
    AS $$
    SELECT jsonb_build_object(
        'activity_id', s.activity_id::text, 'user_id', s.user_id::text, 'role', s.role,
        'state', s.state, 'signed_up_at', utc_text(s.signed_up_at),
        'withdrawn_at', utc_text(s.withdrawn_at), 'checked_in_at', utc_text(s.checked_in_at),
        'checked_out_at', utc_text(s.checked_out_at), 'hours', s.hours, 'points', s.points,
        'txn_id', s.txn_id::text, 'confirmed_at', utc_text(s.confirmed_at),
        'confirmed_by', s.confirmed_by::text)
$$;

-- True when an activity starts in the future and lasts 30 minutes to 7 days.
CREATE FUNCTION activity_times_ok(p_starts timestamptz, p_ends timestamptz) RETURNS boolean
    LANGUAGE sql STABLE
    AS $$
    SELECT coalesce(p_starts > now() AND p_ends - p_starts >= interval '30 minutes'
                    AND p_ends - p_starts <= interval '7 days', false)
$$;

-- POST /api/v1/activities: p is the validated body; p_staff has been
-- checked (by the service) to be staff of p_community. The Idempotency-Key
-- is optional here (p_key NULL: none).
CREATE FUNCTION activity_create(p_key text, p_hash text, p_staff bigint, p_community bigint,
                                p jsonb)
    RETURNS TABLE (r_error text, r_replayed boolean, r_reply jsonb)
    LANGUAGE plpgsql
    SET search_path FROM CURRENT
    AS $$
DECLARE
    v_mismatch boolean;
    v activities;
    v_starts timestamptz := date_trunc('second', (p ->> 'starts_at')::timestamptz);
    v_ends timestamptz := date_trunc('second', (p ->> 'ends_at')::timestamptz);
BEGIN
    IF p_key IS NOT NULL THEN
        SELECT * INTO r_reply, v_mismatch FROM idem_begin(p_staff, p_key, p_hash);
        IF v_mismatch OR r_reply IS NOT NULL THEN
            r_error := CASE WHEN v_mismatch THEN 'idempotency_key_mismatch' END;
            r_replayed := true;
            RETURN NEXT;
            RETURN;
        END IF;
    END IF;
    IF NOT activity_times_ok(v_starts, v_ends) THEN
        r_error := 'invalid_activity_time';
        RETURN NEXT;
        RETURN;
    END IF;
    INSERT INTO activities (community, title, place, description, starts_at, ends_at, capacity,
                            points_per_hour, fixed_points, created_by)
    VALUES (p_community, p ->> 'title', p ->> 'place', p ->> 'description', v_starts, v_ends,
            (p ->> 'capacity')::int, (p ->> 'points_per_hour')::bigint,
            (p ->> 'fixed_points')::bigint, p_staff)
    RETURNING * INTO v;
    INSERT INTO activity_changes (activity_id, changed_by, action, change)
    VALUES (v.id, p_staff, 'create', p);
    r_replayed := false;
    r_reply := activity_json(v);
    IF p_key IS NOT NULL THEN
        PERFORM idem_store(p_staff, p_key, p_hash, 201, r_reply);
    END IF;
    RETURN NEXT;
END
$$;

-- PATCH /api/v1/activities/{id} by staff of its community (p_scopes), before
-- it starts. p holds the validated members to change; null clears the
-- description; giving points_per_hour or fixed_points switches to it.
CREATE FUNCTION activity_update(p_staff bigint, p_scopes bigint[], p_activity bigint, p jsonb)
    RETURNS TABLE (r_error text, r_reply jsonb)
    LANGUAGE plpgsql
    SET search_path FROM CURRENT
    AS $$
DECLARE
    v activities;
    v_starts timestamptz;
    v_ends timestamptz;
    v_capacity int;
    v_pph bigint;
    v_fixed bigint;
BEGIN
    SELECT * INTO v FROM activities WHERE id = p_activity FOR NO KEY UPDATE;
    v_starts := CASE WHEN p ? 'starts_at'
                     THEN date_trunc('second', (p ->> 'starts_at')::timestamptz)
                     ELSE v.starts_at END;
    v_ends := CASE WHEN p ? 'ends_at' THEN date_trunc('second', (p ->> 'ends_at')::timestamptz)
                   ELSE v.ends_at END;
    v_capacity := CASE WHEN p ? 'capacity' THEN (p ->> 'capacity')::int ELSE v.capacity END;
    r_error := CASE
        WHEN v.id IS NULL THEN 'activity_not_found'
        WHEN NOT v.community = ANY (p_scopes) THEN 'not_in_scope'
        WHEN v.state = 'cancelled' THEN 'activity_cancelled'
        WHEN now() >= v.starts_at THEN 'activity_started'
        WHEN NOT activity_times_ok(v_starts, v_ends) THEN 'invalid_activity_time'
        WHEN v_capacity < v.signed_up THEN 'capacity_below_signups'
    END;
    IF r_error IS NOT NULL THEN
        RETURN NEXT;
        RETURN;
    END IF;
    IF p ? 'points_per_hour' THEN
        v_pph := (p ->> 'points_per_hour')::bigint;
    ELSIF p ? 'fixed_points' THEN
        v_fixed := (p ->> 'fixed_points')::bigint;
    ELSE
        v_pph := v.points_per_hour;
        v_fixed := v.fixed_points;
    END IF;
    UPDATE activities SET
        title = CASE WHEN p ? 'title' THEN p ->> 'title' ELSE title END,
        place = CASE WHEN p ? 'place' THEN p ->> 'place' ELSE place END,
        description = CASE WHEN p ? 'description' THEN p ->> 'description' ELSE description END,
        starts_at = v_starts,
        ends_at = v_ends,
        capacity = v_capacity,
        points_per_hour = v_pph,
        fixed_points = v_fixed,
        updated_at = now()
    WHERE id = p_activity
    RETURNING * INTO v;
    INSERT INTO activity_changes (activity_id, changed_by, action, change)
    VALUES (p_activity, p_staff, 'update', p);
    r_reply := activity_json(v);
    RETURN NEXT;
END
$$;

-- POST /api/v1/activities/{id}/cancel by staff of its community. Cancelling
-- a cancelled activity returns it unchanged; one that ended, or where
-- someone's hours were confirmed (and credited), cannot be cancelled.
CREATE FUNCTION activity_cancel(p_staff bigint, p_scopes bigint[], p_activity bigint,
                                p_reason text)
    RETURNS TABLE (r_error text, r_reply jsonb)
    LANGUAGE plpgsql
    SET search_path FROM CURRENT
    AS $$
DECLARE
    v activities;
BEGIN
    SELECT * INTO v FROM activities WHERE id = p_activity FOR NO KEY UPDATE;
    r_error := CASE
        WHEN v.id IS NULL THEN 'activity_not_found'
        WHEN NOT v.community = ANY (p_scopes) THEN 'not_in_scope'
    END;
    IF r_error IS NOT NULL OR v.state = 'cancelled' THEN
        r_reply := CASE WHEN r_error IS NULL THEN activity_json(v) END;
        RETURN NEXT;
        RETURN;
    END IF;
    -- activity_confirm() holds the activity FOR SHARE: a confirmation
    -- committed before this lock was granted is seen here.
    IF now() >= v.ends_at OR EXISTS (
        SELECT 1 FROM activity_signups s
        WHERE s.activity_id = p_activity AND s.state = 'confirmed') THEN
        r_error := 'activity_not_cancellable';
        RETURN NEXT;
        RETURN;
    END IF;
    UPDATE activities SET state = 'cancelled', cancelled_at = now(), cancelled_by = p_staff,
        cancel_reason = p_reason, updated_at = now()
    WHERE id = p_activity
    RETURNING * INTO v;
    INSERT INTO activity_changes (activity_id, changed_by, action, change)
    VALUES (p_activity, p_staff, 'cancel', jsonb_build_object('reason', p_reason));
    r_reply := activity_json(v);
    RETURN NEXT;
END
$$;

-- POST /api/v1/activities/{id}/signups: p_volunteer and p_party are the
-- communities where the caller holds volunteer and party_member. The
-- activity's row lock serializes its sign-ups, so the capacity check and
-- the count stay exact.
CREATE FUNCTION activity_signup(p_user bigint, p_volunteer bigint[], p_party bigint[],
                                p_activity bigint)
    RETURNS TABLE (r_error text, r_reply jsonb)
    LANGUAGE plpgsql
    SET search_path FROM CURRENT
    AS $$
DECLARE
    v activities;
    s activity_signups;
    v_role text;
BEGIN
    SELECT * INTO v FROM activities WHERE id = p_activity FOR NO KEY UPDATE;
    v_role := CASE WHEN v.community = ANY (p_volunteer) THEN 'volunteer'
                   WHEN v.community = ANY (p_party) THEN 'party_member' END;
    IF v.id IS NOT NULL THEN
        SELECT * INTO s FROM activity_signups
        WHERE activity_id = p_activity AND user_id = p_user FOR NO KEY UPDATE;
    END IF;
    r_error := CASE
        WHEN v.id IS NULL THEN 'activity_not_found'
        WHEN v_role IS NULL THEN 'volunteer_role_required'
        WHEN v.state = 'cancelled' THEN 'activity_cancelled'
        WHEN now() >= v.starts_at THEN 'signup_closed'
        WHEN s.id IS NOT NULL AND s.state <> 'withdrawn' THEN 'already_signed_up'
        WHEN v.signed_up >= v.capacity THEN 'activity_full'
    END;
    IF r_error IS NOT NULL THEN
        RETURN NEXT;
        RETURN;
    END IF;
    UPDATE activities SET signed_up = signed_up + 1 WHERE id = p_activity;
    IF s.id IS NOT NULL THEN
        UPDATE activity_signups SET state = 'signed_up', role = v_role, signed_up_at = now(),
            withdrawn_at = NULL
        WHERE id = s.id
        RETURNING * INTO s;
    ELSE
        INSERT INTO activity_signups (activity_id, user_id, role)
        VALUES (p_activity, p_user, v_role)
        RETURNING * INTO s;
    END IF;
    r_reply := activity_signup_json(s);
    RETURN NEXT;
END
$$;

-- DELETE /api/v1/activities/{id}/signups/me: withdraws before the start,
-- unless already checked in.
CREATE FUNCTION activity_withdraw(p_user bigint, p_activity bigint)
    RETURNS TABLE (r_error text, r_reply jsonb)
    LANGUAGE plpgsql
    SET search_path FROM CURRENT
    AS $$
DECLARE
    v activities;
    s activity_signups;
BEGIN
    SELECT * INTO v FROM activities WHERE id = p_activity FOR NO KEY UPDATE;
    IF v.id IS NOT NULL THEN
        SELECT * INTO s FROM activity_signups
        WHERE activity_id = p_activity AND user_id = p_user FOR NO KEY UPDATE;
    END IF;
    r_error := CASE
        WHEN v.id IS NULL THEN 'activity_not_found'
        WHEN s.id IS NULL OR s.state = 'withdrawn' THEN 'signup_not_found'
        WHEN v.state = 'cancelled' THEN 'activity_cancelled'
        WHEN now() >= v.starts_at OR s.state <> 'signed_up' THEN 'withdrawal_closed'
    END;
    IF r_error IS NOT NULL THEN
        RETURN NEXT;
        RETURN;
    END IF;
    UPDATE activity_signups SET state = 'withdrawn', withdrawn_at = now()
    WHERE id = s.id
    RETURNING * INTO s;
    UPDATE activities SET signed_up = signed_up - 1 WHERE id = p_activity;
    r_reply := activity_signup_json(s);
    RETURN NEXT;
END
$$;

-- POST /api/v1/activities/{id}/check-in and /check-out (p_purpose
-- 'check_in' or 'check_out') by a signed-up user whose QR token the service
-- has verified. Check-in is open from p_early before the start to the end;
-- check-out from check-in to p_late after the end. Repeating either
-- returns the sign-up unchanged (the first time counts).
CREATE FUNCTION activity_check(p_user bigint, p_activity bigint, p_purpose text,
                               p_early interval, p_late interval)
    RETURNS TABLE (r_error text, r_reply jsonb)
    LANGUAGE plpgsql
    SET search_path FROM CURRENT
    AS $$
DECLARE
    v activities;
    s activity_signups;
    v_in boolean := p_purpose = 'check_in';
BEGIN
    IF p_purpose NOT IN ('check_in', 'check_out') THEN
        RAISE EXCEPTION 'activity_check: purpose %', p_purpose;
    END IF;
    SELECT * INTO v FROM activities WHERE id = p_activity;
    IF v.id IS NOT NULL THEN
        SELECT * INTO s FROM activity_signups
        WHERE activity_id = p_activity AND user_id = p_user FOR NO KEY UPDATE;
    END IF;
    r_error := CASE
        WHEN v.id IS NULL THEN 'activity_not_found'
        WHEN s.id IS NULL OR s.state = 'withdrawn' THEN 'not_signed_up'
        WHEN v.state = 'cancelled' THEN 'activity_cancelled'
        WHEN NOT v_in AND s.checked_in_at IS NULL THEN 'not_checked_in'
    END;
    -- Done before: the first time counts.
    IF r_error IS NULL AND ((v_in AND s.state <> 'signed_up')
                            OR (NOT v_in AND s.state <> 'checked_in')) THEN
        r_reply := activity_signup_json(s);
        RETURN NEXT;
        RETURN;
    END IF;
    IF r_error IS NULL AND (
        (v_in AND (now() < v.starts_at - p_early OR now() >= v.ends_at))
        OR (NOT v_in AND now() >= v.ends_at + p_late)) THEN
        r_error := 'check_window_closed';
    END IF;
    IF r_error IS NOT NULL THEN
        RETURN NEXT;
        RETURN;
    END IF;
    IF v_in THEN
        UPDATE activity_signups SET state = 'checked_in', checked_in_at = now()
        WHERE id = s.id
        RETURNING * INTO s;
    ELSE
        UPDATE activity_signups SET state = 'checked_out', checked_out_at = now()
        WHERE id = s.id
        RETURNING * INTO s;
    END IF;
    r_reply := activity_signup_json(s);
    RETURN NEXT;
END
$$;

-- POST /api/v1/activities/{id}/attendance/{user}/confirm by staff of the
-- activity's community (p_scopes): the organizer confirms p_user's hours
-- and the points are credited, once. p_hours NULL: from check-in to
-- check-out rounded to the nearest half hour, at most the activity's
-- duration (rounded down to a half hour); a fixed award needs no hours.
-- Returns the refusal, or the response and, on a first execution, the
-- credit for the leaderboards.
CREATE FUNCTION activity_confirm(p_key text, p_hash text, p_staff bigint, p_scopes bigint[],
                                 p_activity bigint, p_user bigint, p_hours numeric)
    RETURNS TABLE (r_error text, r_replayed boolean, r_reply jsonb, r_community bigint,
                   r_points bigint, r_month text, r_year text)
    LANGUAGE plpgsql
    SET search_path FROM CURRENT
    AS $$
DECLARE
    v_mismatch boolean;
    v activities;
    s activity_signups;
    v_duration numeric;
    v_hours numeric;
    v_points bigint;
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
    -- FOR SHARE: a concurrent cancellation or change waits for this one.
    SELECT * INTO v FROM activities WHERE id = p_activity FOR SHARE;
    r_error := CASE
        WHEN v.id IS NULL THEN 'activity_not_found'
        WHEN NOT v.community = ANY (p_scopes) THEN 'not_in_scope'
        WHEN v.state = 'cancelled' THEN 'activity_cancelled'
        WHEN v_now < v.starts_at THEN 'activity_not_started'
        WHEN p_user = p_staff THEN 'self_award_forbidden'
    END;
    IF r_error IS NULL THEN
        SELECT * INTO s FROM activity_signups
        WHERE activity_id = p_activity AND user_id = p_user FOR NO KEY UPDATE;
        v_duration := extract(epoch FROM v.ends_at - v.starts_at);
        IF p_hours IS NOT NULL THEN
            v_hours := p_hours;
        ELSIF s.checked_in_at IS NOT NULL AND s.checked_out_at IS NOT NULL THEN
            v_hours := least(round(extract(epoch FROM s.checked_out_at - s.checked_in_at) / 1800),
                             floor(v_duration / 1800)) / 2;
        END IF;
        r_error := CASE
            WHEN s.id IS NULL OR s.state = 'withdrawn' THEN 'signup_not_found'
            WHEN s.state = 'confirmed' THEN 'already_confirmed'
            WHEN p_hours IS NOT NULL AND (p_hours <= 0 OR p_hours * 2 <> trunc(p_hours * 2)
                                          OR p_hours * 3600 > v_duration) THEN 'invalid_hours'
            WHEN v.fixed_points IS NULL AND coalesce(v_hours, 0) <= 0 THEN 'hours_required'
        END;
    END IF;
    IF r_error IS NOT NULL THEN
        RETURN NEXT;
        RETURN;
    END IF;
    IF v_hours <= 0 THEN
        v_hours := NULL; -- a fixed award; the attendance rounded to nothing
    END IF;
    v_points := coalesce(v.fixed_points, round(v.points_per_hour * v_hours)::bigint);
    v_txn := ledger_credit(v.community, p_user, v_points, 'activity',
                           'activity:' || p_activity || ':' || p_user);
    UPDATE activity_signups SET state = 'confirmed', hours = v_hours, points = v_points,
        txn_id = v_txn, confirmed_at = v_now, confirmed_by = p_staff
    WHERE id = s.id
    RETURNING * INTO s;
    r_replayed := false;
    r_reply := activity_signup_json(s);
    PERFORM idem_store(p_staff, p_key, p_hash, 200, r_reply);
    r_community := v.community;
    r_points := v_points;
    r_month := period_label('month', v_now);
    r_year := period_label('year', v_now);
    RETURN NEXT;
END
$$;

-- GET /api/v1/activities/{id}/signups by staff of its community: a page in
-- sign-up order after sign-up p_after (NULL: from the first), or one row
-- with the refusal.
CREATE FUNCTION activity_signups_page(p_scopes bigint[], p_activity bigint, p_after bigint,
                                      p_limit int)
    RETURNS TABLE (r_error text, r_id bigint, r_json jsonb)
    LANGUAGE plpgsql
    STABLE
    SET search_path FROM CURRENT
    AS $$
DECLARE
    v_community bigint;
BEGIN
    SELECT a.community INTO v_community FROM activities a WHERE a.id = p_activity;
    r_error := CASE
        WHEN v_community IS NULL THEN 'activity_not_found'
        WHEN NOT v_community = ANY (p_scopes) THEN 'not_in_scope'
    END;
    IF r_error IS NOT NULL THEN
        RETURN NEXT;
        RETURN;
    END IF;
    RETURN QUERY
        SELECT NULL::text, s.id, activity_signup_json(s) FROM activity_signups s
        WHERE s.activity_id = p_activity AND (p_after IS NULL OR s.id > p_after)
        ORDER BY s.id LIMIT p_limit;
END
$$;

-- The invariants of activities, one row per check as `yx-mall reconcile`
-- reports them (checked rows, bad rows, the first bad one).
CREATE FUNCTION activity_checks()
    RETURNS TABLE (r_name text, r_checked bigint, r_bad bigint, r_sample text)
    LANGUAGE sql
    STABLE
    SET search_path FROM CURRENT
    AS $$
    SELECT 'every activity counts exactly its sign-ups that are not withdrawn',
           count(*), count(*) FILTER (WHERE a.signed_up <> coalesce(n.n, 0)),
           min(CASE WHEN a.signed_up <> coalesce(n.n, 0) THEN 'activity ' || a.id || ': '
               || a.signed_up || ', sign-ups ' || coalesce(n.n, 0) END)
    FROM activities a
    LEFT JOIN (SELECT activity_id, count(*) AS n FROM activity_signups
               WHERE state <> 'withdrawn' GROUP BY activity_id) n ON n.activity_id = a.id
    UNION ALL
    SELECT 'every confirmed sign-up moved its points from its community''s issuer to its user',
           count(*), count(*) FILTER (WHERE NOT ok),
           min(CASE WHEN NOT ok THEN 'sign-up ' || id END)
    FROM (SELECT s.id, coalesce(t.n = 2 AND t.isn = 1 AND t.un = 1 AND t.isa = -s.points
                 AND t.iso = a.community AND t.ua = s.points AND t.uo = s.user_id
                 AND t.ref = 'activity:' || s.activity_id || ':' || s.user_id
                 AND t.community = a.community, false) AS ok
          FROM activity_signups s JOIN activities a ON a.id = s.activity_id
          LEFT JOIN (SELECT j.txn_id, count(*) AS n, min(j.ref) AS ref,
                            min(j.community) AS community,
                            count(*) FILTER (WHERE c.kind = 'issuer') AS isn,
                            sum(j.amount) FILTER (WHERE c.kind = 'issuer') AS isa,
                            max(c.owner) FILTER (WHERE c.kind = 'issuer') AS iso,
                            count(*) FILTER (WHERE c.kind = 'user') AS un,
                            sum(j.amount) FILTER (WHERE c.kind = 'user') AS ua,
                            max(c.owner) FILTER (WHERE c.kind = 'user') AS uo
                     FROM journal j JOIN accounts c ON c.id = j.account_id
                     WHERE j.kind = 'activity' GROUP BY j.txn_id) t ON t.txn_id = s.txn_id
          WHERE s.state = 'confirmed') x
    UNION ALL
    SELECT 'every activity journal row belongs to a confirmed sign-up',
           count(*), count(*) FILTER (WHERE s.id IS NULL),
           min(CASE WHEN s.id IS NULL THEN 'journal ' || j.id || ' (' || j.ref || ')' END)
    FROM journal j LEFT JOIN activity_signups s ON s.txn_id = j.txn_id AND s.state = 'confirmed'
    WHERE j.kind = 'activity'
$$;
