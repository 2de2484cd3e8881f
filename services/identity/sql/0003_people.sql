-- People: residence and party-member (双报到) registration, volunteers,
-- community settings, role grants within the org tree, and the outbox of
-- identity's events.
--
-- Every change of state is one function below, run as one statement (one
-- transaction): it checks the caller's power against the CURRENT user_roles
-- and the org path (tokens may be 15 minutes stale), changes the rows, and
-- writes the outbox event in the same transaction. Business errors are
-- RAISE ... USING ERRCODE = 'P0001', MESSAGE = '<error code>'; the service
-- maps the message to its error table (services/identity/errors_people.c).
--
-- Role levels, low to high (role_rank):
--   0 resident; 1 verified_resident, volunteer, party_member; 2 building_head;
--   3 grid_worker; 4 community_staff; 5 community_secretary; 6 street_admin;
--   7 district_admin.
-- A role held at org G covers every org whose path starts with G's path.
-- "Staff" means rank >= 4. A staff member may grant or revoke role R at org T
-- only when one of their roles covers T with a rank strictly above R's, and
-- never on their own account; R must be held at its own org level
-- (role_org_level). Requests are decided, org nodes created and edited, by
-- staff whose roles cover the community or node.

CREATE FUNCTION role_rank(p_role text) RETURNS int
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    SELECT CASE p_role
        WHEN 'resident' THEN 0
        WHEN 'verified_resident' THEN 1
        WHEN 'volunteer' THEN 1
        WHEN 'party_member' THEN 1
        WHEN 'building_head' THEN 2
        WHEN 'grid_worker' THEN 3
        WHEN 'community_staff' THEN 4
        WHEN 'community_secretary' THEN 5
        WHEN 'street_admin' THEN 6
        WHEN 'district_admin' THEN 7
    END
$$;

-- The org level at which a role is held (NULL: resident, not granted here).
CREATE FUNCTION role_org_level(p_role text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    SELECT CASE p_role
        WHEN 'verified_resident' THEN 'community'
        WHEN 'volunteer' THEN 'community'
        WHEN 'party_member' THEN 'community'
        WHEN 'building_head' THEN 'building'
        WHEN 'grid_worker' THEN 'grid'
        WHEN 'community_staff' THEN 'community'
        WHEN 'community_secretary' THEN 'community'
        WHEN 'street_admin' THEN 'street'
        WHEN 'district_admin' THEN 'district'
    END
$$;

-- The level below an org level, where its children are (NULL below buildings).
CREATE FUNCTION org_child_level(p_level text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    SELECT CASE p_level
        WHEN 'district' THEN 'street'
        WHEN 'street' THEN 'community'
        WHEN 'community' THEN 'grid'
        WHEN 'grid' THEN 'building'
    END
$$;

CREATE FUNCTION utc_text(p timestamptz) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    SELECT to_char(p AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
$$;

-- The highest rank among the active user's roles that cover org p_org; -1
-- when none does (or the user is disabled or unknown).
CREATE FUNCTION rank_over(p_user bigint, p_org bigint) RETURNS int
    LANGUAGE sql STABLE
    SET search_path FROM CURRENT
    AS $$
    SELECT coalesce(max(role_rank(ur.role)), -1)
    FROM user_roles ur
    JOIN users u ON u.id = ur.user_id AND u.status = 'active'
    JOIN orgs g ON g.id = ur.org_id
    JOIN orgs t ON t.id = p_org
    WHERE ur.user_id = p_user AND starts_with(t.path, g.path)
$$;

-- Paths of the orgs where the active user holds a staff role (rank >= 4).
CREATE FUNCTION staff_scopes(p_user bigint) RETURNS SETOF text
    LANGUAGE sql STABLE
    SET search_path FROM CURRENT
    AS $$
    SELECT g.path
    FROM user_roles ur
    JOIN users u ON u.id = ur.user_id AND u.status = 'active'
    JOIN orgs g ON g.id = ur.org_id
    WHERE ur.user_id = p_user AND role_rank(ur.role) >= 4
$$;

-- The community an org belongs to (itself when it is one); NULL above.
CREATE FUNCTION community_of(p_org bigint) RETURNS bigint
    LANGUAGE sql STABLE
    SET search_path FROM CURRENT
    AS $$
    SELECT c.id FROM orgs o JOIN orgs c ON c.level = 'community' AND starts_with(o.path, c.path)
    WHERE o.id = p_org
$$;

-- The public profile card of a user (pub:user:<id> in Redis): never the phone.
CREATE FUNCTION user_card(p_user bigint) RETURNS jsonb
    LANGUAGE sql STABLE
    SET search_path FROM CURRENT
    AS $$
    SELECT jsonb_build_object(
        'id', u.id::text,
        'display_name', u.display_name,
        'avatar_url', u.avatar_url,
        'roles', coalesce((SELECT jsonb_agg(jsonb_build_object('role', ur.role, 'org_id', ur.org_id::text)
                                            ORDER BY ur.org_id, ur.role)
                           FROM user_roles ur WHERE ur.user_id = u.id), '[]'::jsonb),
        'verified_communities', coalesce((SELECT jsonb_agg(ur.org_id::text ORDER BY ur.org_id)
                                          FROM user_roles ur
                                          WHERE ur.user_id = u.id AND ur.role = 'verified_resident'),
                                         '[]'::jsonb))
    FROM users u WHERE u.id = p_user
$$;

-- The user's current roles as "role@org,..." (the form of the token claim).
CREATE FUNCTION user_roles_csv(p_user bigint) RETURNS text
    LANGUAGE sql STABLE
    SET search_path FROM CURRENT
    AS $$
    SELECT coalesce(string_agg(ur.role || '@' || ur.org_id, ',' ORDER BY ur.org_id, ur.role), '')
    FROM user_roles ur WHERE ur.user_id = p_user
$$;

-- How other people see a user in lists: the phone masked.
CREATE FUNCTION user_brief(p_user bigint) RETURNS jsonb
    LANGUAGE sql STABLE
    SET search_path FROM CURRENT
    AS $$
    SELECT jsonb_build_object('id', u.id::text, 'display_name', u.display_name,
                              'phone', u.phone_masked)
    FROM users u WHERE u.id = p_user
$$;

CREATE FUNCTION org_brief(p_org bigint) RETURNS jsonb
    LANGUAGE sql STABLE
    SET search_path FROM CURRENT
    AS $$
    SELECT jsonb_build_object('id', o.id::text, 'name', o.name, 'level', o.level)
    FROM orgs o WHERE o.id = p_org
$$;

-- Community settings; a community without a row has the defaults.
CREATE TABLE community_settings (
    org_id                    bigint PRIMARY KEY REFERENCES orgs (id),
    volunteer_needs_approval  boolean NOT NULL DEFAULT false,
    updated_at                timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE residence_requests (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id       bigint NOT NULL REFERENCES users (id),
    building_id   bigint NOT NULL REFERENCES orgs (id),
    community_id  bigint NOT NULL REFERENCES orgs (id),
    unit          text NOT NULL CHECK (char_length(unit) BETWEEN 1 AND 20),
    room          text NOT NULL CHECK (char_length(room) BETWEEN 1 AND 20),
    status        text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'rejected')),
    note          text CHECK (char_length(note) <= 200),
    decided_by    bigint REFERENCES users (id),
    decided_at    timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX residence_requests_one_pending ON residence_requests (user_id) WHERE status = 'pending';
CREATE INDEX residence_requests_user ON residence_requests (user_id, id);
CREATE INDEX residence_requests_status ON residence_requests (status, id);

CREATE TABLE party_requests (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id       bigint NOT NULL REFERENCES users (id),
    organization  text NOT NULL CHECK (char_length(organization) BETWEEN 1 AND 100),
    workplace     text NOT NULL CHECK (char_length(workplace) BETWEEN 1 AND 100),
    community_id  bigint NOT NULL REFERENCES orgs (id),
    status        text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'rejected')),
    note          text CHECK (char_length(note) <= 200),
    decided_by    bigint REFERENCES users (id),
    decided_at    timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX party_requests_one_pending ON party_requests (user_id) WHERE status = 'pending';
CREATE INDEX party_requests_user ON party_requests (user_id, id);
CREATE INDEX party_requests_status ON party_requests (status, id);

-- One profile per volunteer and community: the application while pending,
-- the skills once approved.
CREATE TABLE volunteer_profiles (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id       bigint NOT NULL REFERENCES users (id),
    community_id  bigint NOT NULL REFERENCES orgs (id),
    skills        text[] NOT NULL CHECK (cardinality(skills) BETWEEN 1 AND 10),
    status        text NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
    note          text CHECK (char_length(note) <= 200),
    decided_by    bigint REFERENCES users (id),
    decided_at    timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, community_id)
);
CREATE INDEX volunteer_profiles_status ON volunteer_profiles (status, id);

-- Events waiting for the relay (shared/kore/yx_outbox.c), which appends them
-- to the Redis stream events:<topic> and then sets published_at. claimed_until
-- is the relay's lease: a row claimed by a relay that died is claimed again
-- once it passes, so an event is published at least once, never lost.
CREATE TABLE outbox (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id       uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    topic          text NOT NULL CHECK (topic ~ '^[a-z][a-z0-9_.]*$'),
    payload        jsonb NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    claimed_until  timestamptz,
    published_at   timestamptz
);
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;

-- Appends an event; payload gets event_id, type and occurred_at.
CREATE FUNCTION outbox_emit(p_topic text, p_payload jsonb) RETURNS void
    LANGUAGE plpgsql
    SET search_path FROM CURRENT
    AS $$
DECLARE
    v_id uuid := gen_random_uuid();
BEGIN
    INSERT INTO outbox (event_id, topic, payload)
    VALUES (v_id, p_topic,
            jsonb_build_object('event_id', v_id::text, 'type', p_topic, 'occurred_at', utc_text(now()))
            || p_payload);
END
$$;

-- user.roles_changed for one grant or revocation.
CREATE FUNCTION emit_roles_changed(p_user bigint, p_change text, p_role text, p_org bigint,
                                   p_by bigint) RETURNS void
    LANGUAGE sql
    SET search_path FROM CURRENT
    AS $$
    SELECT outbox_emit('user.roles_changed', jsonb_build_object(
        'user_id', p_user::text, 'change', p_change, 'role', p_role, 'org_id', p_org::text,
        'by', p_by::text,
        'roles', user_card(p_user) -> 'roles'))
$$;

CREATE FUNCTION raise_code(p_code text) RETURNS void
    LANGUAGE plpgsql
    AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = p_code;
END
$$;

-- Raises unless p_user is active.
CREATE FUNCTION require_active(p_user bigint) RETURNS void
    LANGUAGE plpgsql
    SET search_path FROM CURRENT
    AS $$
BEGIN
    PERFORM 1 FROM users WHERE id = p_user AND status = 'active';
    IF NOT FOUND THEN
        PERFORM raise_code('unauthorized');
    END IF;
END
$$;

-- Locks the org row and returns it; org_not_found unless it exists.
CREATE FUNCTION org_require(p_org bigint) RETURNS orgs
    LANGUAGE plpgsql
    SET search_path FROM CURRENT
    AS $$
DECLARE
    v orgs;
BEGIN
    SELECT * INTO v FROM orgs WHERE id = p_org;
    IF NOT FOUND THEN
        PERFORM raise_code('org_not_found');
    END IF;
    RETURN v;
END
$$;

-- ---------------------------------------------------------------------------
-- Profile

-- PATCH /me: sets the fields whose flag is true. Returns the account and
-- its new card.
CREATE FUNCTION user_update_profile(p_user bigint, p_set_name boolean, p_name text,
                                    p_set_avatar boolean, p_avatar text)
    RETURNS TABLE (id text, display_name text, avatar_url text, phone_enc text,
                   phone_masked text, status text, created_at text, card jsonb)
    LANGUAGE plpgsql
    SET search_path FROM CURRENT
    AS $$
BEGIN
    UPDATE users u
    SET display_name = CASE WHEN p_set_name THEN p_name ELSE u.display_name END,
        avatar_url = CASE WHEN p_set_avatar THEN p_avatar ELSE u.avatar_url END,
        updated_at = now()
    WHERE u.id = p_user AND u.status = 'active';
    IF NOT FOUND THEN
        PERFORM raise_code('unauthorized');
    END IF;
    RETURN QUERY
    SELECT u.id::text, u.display_name, coalesce(u.avatar_url, ''), u.phone_enc, u.phone_masked,
           u.status, utc_text(u.created_at), user_card(u.id)
    FROM users u WHERE u.id = p_user;
END
$$;

-- ---------------------------------------------------------------------------
-- Org tree

CREATE FUNCTION org_json(p_org bigint) RETURNS jsonb
    LANGUAGE sql STABLE
    SET search_path FROM CURRENT
    AS $$
    SELECT jsonb_build_object(
        'id', o.id::text,
        'parent_id', o.parent_id::text,
        'level', o.level,
        'name', o.name,
        'path', to_jsonb(string_to_array(trim(both '/' from o.path), '/')),
        'created_at', utc_text(o.created_at))
        || CASE WHEN o.level = 'community' THEN jsonb_build_object(
               'volunteer_needs_approval',
               coalesce((SELECT s.volunteer_needs_approval FROM community_settings s
                         WHERE s.org_id = o.id), false))
           ELSE '{}'::jsonb END
    FROM orgs o WHERE o.id = p_org
$$;

CREATE FUNCTION org_get(p_org bigint) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path FROM CURRENT
    AS $$
DECLARE
    v jsonb := org_json(p_org);
BEGIN
    IF v IS NULL THEN
        PERFORM raise_code('org_not_found');
    END IF;
    RETURN v;
END
$$;

-- Children of p_org in id order after p_after (NULL: from the start).
CREATE FUNCTION org_children(p_org bigint, p_after bigint, p_limit int)
    RETURNS TABLE (id bigint, item jsonb)
    LANGUAGE plpgsql STABLE
    SET search_path FROM CURRENT
    AS $$
BEGIN
    PERFORM 1 FROM orgs o WHERE o.id = p_org;
    IF NOT FOUND THEN
        PERFORM raise_code('org_not_found');
    END IF;
    RETURN QUERY
    SELECT o.id, org_json(o.id) FROM orgs o
    WHERE o.parent_id = p_org AND (p_after IS NULL OR o.id > p_after)
    ORDER BY o.id LIMIT p_limit;
END
$$;

-- A new node under p_parent, one level below it, by staff covering p_parent.
CREATE FUNCTION org_create(p_staff bigint, p_parent bigint, p_name text) RETURNS jsonb
    LANGUAGE plpgsql
    SET search_path FROM CURRENT
    AS $$
DECLARE
    v_parent orgs;
    v_level text;
    v_id bigint;
BEGIN
    v_parent := org_require(p_parent);
    v_level := org_child_level(v_parent.level);
    IF v_level IS NULL THEN
        PERFORM raise_code('invalid_org_level');
    END IF;
    IF rank_over(p_staff, p_parent) < 4 THEN
        PERFORM raise_code('not_in_scope');
    END IF;
    -- Sibling names are unique; the parent row lock serialises creators.
    PERFORM 1 FROM orgs WHERE id = p_parent FOR UPDATE;
    PERFORM 1 FROM orgs WHERE parent_id = p_parent AND name = p_name;
    IF FOUND THEN
        PERFORM raise_code('org_name_taken');
    END IF;
    v_id := nextval(pg_get_serial_sequence('orgs', 'id'));
    INSERT INTO orgs (id, parent_id, level, name, path)
    OVERRIDING SYSTEM VALUE
    VALUES (v_id, p_parent, v_level, p_name, v_parent.path || v_id || '/');
    RETURN org_json(v_id);
END
$$;

-- Renames a node and/or changes a community's settings (NULL: unchanged),
-- by staff covering the node.
CREATE FUNCTION org_update(p_staff bigint, p_org bigint, p_name text, p_vna boolean) RETURNS jsonb
    LANGUAGE plpgsql
    SET search_path FROM CURRENT
    AS $$
DECLARE
    v orgs;
BEGIN
    v := org_require(p_org);
    IF p_vna IS NOT NULL AND v.level <> 'community' THEN
        PERFORM raise_code('invalid_org_level');
    END IF;
    IF rank_over(p_staff, p_org) < 4 THEN
        PERFORM raise_code('not_in_scope');
    END IF;
    IF p_name IS NOT NULL AND p_name <> v.name THEN
        IF v.parent_id IS NOT NULL THEN
            PERFORM 1 FROM orgs WHERE id = v.parent_id FOR UPDATE;
        END IF;
        PERFORM 1 FROM orgs
        WHERE parent_id IS NOT DISTINCT FROM v.parent_id AND name = p_name AND id <> p_org;
        IF FOUND THEN
            PERFORM raise_code('org_name_taken');
        END IF;
        UPDATE orgs SET name = p_name WHERE id = p_org;
    END IF;
    IF p_vna IS NOT NULL THEN
        INSERT INTO community_settings (org_id, volunteer_needs_approval) VALUES (p_org, p_vna)
        ON CONFLICT (org_id) DO UPDATE
        SET volunteer_needs_approval = excluded.volunteer_needs_approval, updated_at = now();
    END IF;
    RETURN org_json(p_org);
END
$$;

-- ---------------------------------------------------------------------------
-- Residence (认证居民)

CREATE FUNCTION residence_json(p_id bigint) RETURNS jsonb
    LANGUAGE sql STABLE
    SET search_path FROM CURRENT
    AS $$
    SELECT jsonb_build_object(
        'id', r.id::text,
        'user', user_brief(r.user_id),
        'building', org_brief(r.building_id),
        'community', org_brief(r.community_id),
        'unit', r.unit,
        'room', r.room,
        'status', r.status,
        'note', r.note,
        'decided_by', r.decided_by::text,
        'decided_at', utc_text(r.decided_at),
        'created_at', utc_text(r.created_at))
    FROM residence_requests r WHERE r.id = p_id
$$;

CREATE FUNCTION residence_request_create(p_user bigint, p_building bigint, p_unit text,
                                         p_room text) RETURNS jsonb
    LANGUAGE plpgsql
    SET search_path FROM CURRENT
    AS $$
DECLARE
    v_building orgs;
    v_id bigint;
BEGIN
    PERFORM require_active(p_user);
    v_building := org_require(p_building);
    IF v_building.level <> 'building' THEN
        PERFORM raise_code('invalid_org_level');
    END IF;
    INSERT INTO residence_requests (user_id, building_id, community_id, unit, room)
    VALUES (p_user, p_building, community_of(p_building), p_unit, p_room)
    ON CONFLICT (user_id) WHERE status = 'pending' DO NOTHING
    RETURNING id INTO v_id;
    IF v_id IS NULL THEN
        PERFORM raise_code('already_pending');
    END IF;
    RETURN residence_json(v_id);
END
$$;

-- Approves ('approve') or rejects ('reject') a pending request. Approval
-- makes the user a verified resident of the community and emits
-- user.verified. Returns the request and the user's card.
CREATE FUNCTION residence_decide(p_request bigint, p_staff bigint, p_decision text, p_note text)
    RETURNS TABLE (body jsonb, card jsonb)
    LANGUAGE plpgsql
    SET search_path FROM CURRENT
    AS $$
DECLARE
    r residence_requests;
BEGIN
    SELECT * INTO r FROM residence_requests WHERE id = p_request FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM raise_code('request_not_found');
    END IF;
    IF rank_over(p_staff, r.community_id) < 4 THEN
        PERFORM raise_code('not_in_scope');
    END IF;
    IF r.user_id = p_staff THEN
        PERFORM raise_code('cannot_decide_own');
    END IF;
    IF r.status <> 'pending' THEN
        PERFORM raise_code('already_decided');
    END IF;
    UPDATE residence_requests
    SET status = CASE p_decision WHEN 'approve' THEN 'approved' ELSE 'rejected' END,
        note = p_note, decided_by = p_staff, decided_at = now()
    WHERE id = p_request;
    IF p_decision = 'approve' THEN
        INSERT INTO user_roles (user_id, role, org_id, granted_by)
        VALUES (r.user_id, 'verified_resident', r.community_id, p_staff)
        ON CONFLICT DO NOTHING;
        PERFORM outbox_emit('user.verified', jsonb_build_object(
            'user_id', r.user_id::text, 'community_id', r.community_id::text,
            'building_id', r.building_id::text, 'request_id', r.id::text, 'by', p_staff::text));
        RETURN QUERY SELECT residence_json(p_request), user_card(r.user_id);
    ELSE
        RETURN QUERY SELECT residence_json(p_request), NULL::jsonb;
    END IF;
END
$$;

-- The user's own requests, newest first, before p_before (NULL: newest).
CREATE FUNCTION residence_mine(p_user bigint, p_before bigint, p_limit int)
    RETURNS TABLE (id bigint, item jsonb)
    LANGUAGE sql STABLE
    SET search_path FROM CURRENT
    AS $$
    SELECT r.id, residence_json(r.id) FROM residence_requests r
    WHERE r.user_id = p_user AND (p_before IS NULL OR r.id < p_before)
    ORDER BY r.id DESC LIMIT p_limit
$$;

-- Requests with p_status in the staff member's scope, oldest first.
CREATE FUNCTION residence_list(p_staff bigint, p_status text, p_after bigint, p_limit int)
    RETURNS TABLE (id bigint, item jsonb)
    LANGUAGE plpgsql STABLE
    SET search_path FROM CURRENT
    AS $$
DECLARE
    v_scopes text[] := ARRAY(SELECT staff_scopes(p_staff));
BEGIN
    IF cardinality(v_scopes) = 0 THEN
        PERFORM raise_code('forbidden');
    END IF;
    RETURN QUERY
    SELECT r.id, residence_json(r.id)
    FROM residence_requests r JOIN orgs c ON c.id = r.community_id
    WHERE r.status = p_status AND (p_after IS NULL OR r.id > p_after)
      AND EXISTS (SELECT 1 FROM unnest(v_scopes) s WHERE starts_with(c.path, s))
    ORDER BY r.id LIMIT p_limit;
END
$$;

-- ---------------------------------------------------------------------------
-- Party members registering with their home community (在职党员双报到)

CREATE FUNCTION party_json(p_id bigint) RETURNS jsonb
    LANGUAGE sql STABLE
    SET search_path FROM CURRENT
    AS $$
    SELECT jsonb_build_object(
        'id', r.id::text,
        'user', user_brief(r.user_id),
        'organization', r.organization,
        'workplace', r.workplace,
        'community', org_brief(r.community_id),
        'status', r.status,
        'note', r.note,
        'decided_by', r.decided_by::text,
        'decided_at', utc_text(r.decided_at),
        'created_at', utc_text(r.created_at))
    FROM party_requests r WHERE r.id = p_id
$$;

CREATE FUNCTION party_request_create(p_user bigint, p_organization text, p_workplace text,
                                     p_community bigint) RETURNS jsonb
    LANGUAGE plpgsql
    SET search_path FROM CURRENT
    AS $$
DECLARE
    v_org orgs;
    v_id bigint;
BEGIN
    PERFORM require_active(p_user);
    v_org := org_require(p_community);
    IF v_org.level <> 'community' THEN
        PERFORM raise_code('invalid_org_level');
    END IF;
    PERFORM 1 FROM user_roles
    WHERE user_id = p_user AND role = 'party_member' AND org_id = p_community;
    IF FOUND THEN
        PERFORM raise_code('already_has_role');
    END IF;
    INSERT INTO party_requests (user_id, organization, workplace, community_id)
    VALUES (p_user, p_organization, p_workplace, p_community)
    ON CONFLICT (user_id) WHERE status = 'pending' DO NOTHING
    RETURNING id INTO v_id;
    IF v_id IS NULL THEN
        PERFORM raise_code('already_pending');
    END IF;
    RETURN party_json(v_id);
END
$$;

CREATE FUNCTION party_decide(p_request bigint, p_staff bigint, p_decision text, p_note text)
    RETURNS TABLE (body jsonb, card jsonb)
    LANGUAGE plpgsql
    SET search_path FROM CURRENT
    AS $$
DECLARE
    r party_requests;
BEGIN
    SELECT * INTO r FROM party_requests WHERE id = p_request FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM raise_code('request_not_found');
    END IF;
    IF rank_over(p_staff, r.community_id) < 4 THEN
        PERFORM raise_code('not_in_scope');
    END IF;
    IF r.user_id = p_staff THEN
        PERFORM raise_code('cannot_decide_own');
    END IF;
    IF r.status <> 'pending' THEN
        PERFORM raise_code('already_decided');
    END IF;
    UPDATE party_requests
    SET status = CASE p_decision WHEN 'approve' THEN 'approved' ELSE 'rejected' END,
        note = p_note, decided_by = p_staff, decided_at = now()
    WHERE id = p_request;
    IF p_decision = 'approve' THEN
        INSERT INTO user_roles (user_id, role, org_id, granted_by)
        VALUES (r.user_id, 'party_member', r.community_id, p_staff)
        ON CONFLICT DO NOTHING;
        PERFORM emit_roles_changed(r.user_id, 'granted', 'party_member', r.community_id, p_staff);
        RETURN QUERY SELECT party_json(p_request), user_card(r.user_id);
    ELSE
        RETURN QUERY SELECT party_json(p_request), NULL::jsonb;
    END IF;
END
$$;

CREATE FUNCTION party_mine(p_user bigint, p_before bigint, p_limit int)
    RETURNS TABLE (id bigint, item jsonb)
    LANGUAGE sql STABLE
    SET search_path FROM CURRENT
    AS $$
    SELECT r.id, party_json(r.id) FROM party_requests r
    WHERE r.user_id = p_user AND (p_before IS NULL OR r.id < p_before)
    ORDER BY r.id DESC LIMIT p_limit
$$;

CREATE FUNCTION party_list(p_staff bigint, p_status text, p_after bigint, p_limit int)
    RETURNS TABLE (id bigint, item jsonb)
    LANGUAGE plpgsql STABLE
    SET search_path FROM CURRENT
    AS $$
DECLARE
    v_scopes text[] := ARRAY(SELECT staff_scopes(p_staff));
BEGIN
    IF cardinality(v_scopes) = 0 THEN
        PERFORM raise_code('forbidden');
    END IF;
    RETURN QUERY
    SELECT r.id, party_json(r.id)
    FROM party_requests r JOIN orgs c ON c.id = r.community_id
    WHERE r.status = p_status AND (p_after IS NULL OR r.id > p_after)
      AND EXISTS (SELECT 1 FROM unnest(v_scopes) s WHERE starts_with(c.path, s))
    ORDER BY r.id LIMIT p_limit;
END
$$;

-- ---------------------------------------------------------------------------
-- Volunteers

CREATE FUNCTION volunteer_json(p_id bigint) RETURNS jsonb
    LANGUAGE sql STABLE
    SET search_path FROM CURRENT
    AS $$
    SELECT jsonb_build_object(
        'id', v.id::text,
        'user', user_brief(v.user_id),
        'community', org_brief(v.community_id),
        'skills', to_jsonb(v.skills),
        'status', v.status,
        'note', v.note,
        'decided_by', v.decided_by::text,
        'decided_at', utc_text(v.decided_at),
        'created_at', utc_text(v.created_at),
        'updated_at', utc_text(v.updated_at))
    FROM volunteer_profiles v WHERE v.id = p_id
$$;

-- Signs the user up as a volunteer of p_community (NULL: the community where
-- they were verified most recently). A new application, or one after a
-- rejection or a revoked role, is approved at once unless the community's
-- settings ask for staff approval; otherwise only the skills change.
-- created: whether this was a new application (201) or an update (200).
CREATE FUNCTION volunteer_apply(p_user bigint, p_skills text[], p_community bigint)
    RETURNS TABLE (body jsonb, card jsonb, created boolean)
    LANGUAGE plpgsql
    SET search_path FROM CURRENT
    AS $$
DECLARE
    v_community bigint := p_community;
    v_org orgs;
    v_prof volunteer_profiles;
    v_needs boolean;
    v_status text;
BEGIN
    PERFORM require_active(p_user);
    IF v_community IS NULL THEN
        SELECT ur.org_id INTO v_community FROM user_roles ur
        WHERE ur.user_id = p_user AND ur.role = 'verified_resident'
        ORDER BY ur.granted_at DESC, ur.org_id DESC LIMIT 1;
        IF v_community IS NULL THEN
            PERFORM raise_code('community_required');
        END IF;
    END IF;
    v_org := org_require(v_community);
    IF v_org.level <> 'community' THEN
        PERFORM raise_code('invalid_org_level');
    END IF;
    SELECT * INTO v_prof FROM volunteer_profiles
    WHERE user_id = p_user AND community_id = v_community FOR UPDATE;
    IF FOUND AND (v_prof.status = 'pending'
                  OR (v_prof.status = 'approved' AND EXISTS (
                      SELECT 1 FROM user_roles WHERE user_id = p_user AND role = 'volunteer'
                                                 AND org_id = v_community))) THEN
        UPDATE volunteer_profiles SET skills = p_skills, updated_at = now() WHERE id = v_prof.id;
        RETURN QUERY SELECT volunteer_json(v_prof.id), NULL::jsonb, false;
        RETURN;
    END IF;
    v_needs := coalesce((SELECT s.volunteer_needs_approval FROM community_settings s
                         WHERE s.org_id = v_community), false);
    v_status := CASE WHEN v_needs THEN 'pending' ELSE 'approved' END;
    INSERT INTO volunteer_profiles AS p (user_id, community_id, skills, status)
    VALUES (p_user, v_community, p_skills, v_status)
    ON CONFLICT (user_id, community_id) DO UPDATE
    SET skills = excluded.skills, status = excluded.status, note = NULL, decided_by = NULL,
        decided_at = NULL, updated_at = now()
    RETURNING p.id INTO v_prof.id;
    IF v_needs THEN
        RETURN QUERY SELECT volunteer_json(v_prof.id), NULL::jsonb, true;
        RETURN;
    END IF;
    INSERT INTO user_roles (user_id, role, org_id) VALUES (p_user, 'volunteer', v_community)
    ON CONFLICT DO NOTHING;
    PERFORM emit_roles_changed(p_user, 'granted', 'volunteer', v_community, NULL);
    RETURN QUERY SELECT volunteer_json(v_prof.id), user_card(p_user), true;
END
$$;

CREATE FUNCTION volunteer_decide(p_id bigint, p_staff bigint, p_decision text, p_note text)
    RETURNS TABLE (body jsonb, card jsonb)
    LANGUAGE plpgsql
    SET search_path FROM CURRENT
    AS $$
DECLARE
    v volunteer_profiles;
BEGIN
    SELECT * INTO v FROM volunteer_profiles WHERE id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM raise_code('request_not_found');
    END IF;
    IF rank_over(p_staff, v.community_id) < 4 THEN
        PERFORM raise_code('not_in_scope');
    END IF;
    IF v.user_id = p_staff THEN
        PERFORM raise_code('cannot_decide_own');
    END IF;
    IF v.status <> 'pending' THEN
        PERFORM raise_code('already_decided');
    END IF;
    UPDATE volunteer_profiles
    SET status = CASE p_decision WHEN 'approve' THEN 'approved' ELSE 'rejected' END,
        note = p_note, decided_by = p_staff, decided_at = now(), updated_at = now()
    WHERE id = p_id;
    IF p_decision = 'approve' THEN
        INSERT INTO user_roles (user_id, role, org_id, granted_by)
        VALUES (v.user_id, 'volunteer', v.community_id, p_staff)
        ON CONFLICT DO NOTHING;
        PERFORM emit_roles_changed(v.user_id, 'granted', 'volunteer', v.community_id, p_staff);
        RETURN QUERY SELECT volunteer_json(p_id), user_card(v.user_id);
    ELSE
        RETURN QUERY SELECT volunteer_json(p_id), NULL::jsonb;
    END IF;
END
$$;

CREATE FUNCTION volunteer_mine(p_user bigint, p_before bigint, p_limit int)
    RETURNS TABLE (id bigint, item jsonb)
    LANGUAGE sql STABLE
    SET search_path FROM CURRENT
    AS $$
    SELECT v.id, volunteer_json(v.id) FROM volunteer_profiles v
    WHERE v.user_id = p_user AND (p_before IS NULL OR v.id < p_before)
    ORDER BY v.id DESC LIMIT p_limit
$$;

CREATE FUNCTION volunteer_list(p_staff bigint, p_status text, p_after bigint, p_limit int)
    RETURNS TABLE (id bigint, item jsonb)
    LANGUAGE plpgsql STABLE
    SET search_path FROM CURRENT
    AS $$
DECLARE
    v_scopes text[] := ARRAY(SELECT staff_scopes(p_staff));
BEGIN
    IF cardinality(v_scopes) = 0 THEN
        PERFORM raise_code('forbidden');
    END IF;
    RETURN QUERY
    SELECT v.id, volunteer_json(v.id)
    FROM volunteer_profiles v JOIN orgs c ON c.id = v.community_id
    WHERE v.status = p_status AND (p_after IS NULL OR v.id > p_after)
      AND EXISTS (SELECT 1 FROM unnest(v_scopes) s WHERE starts_with(c.path, s))
    ORDER BY v.id LIMIT p_limit;
END
$$;

-- ---------------------------------------------------------------------------
-- Roles granted and revoked by staff

-- The checks common to a grant and a revocation of p_role at p_org on
-- p_user by p_staff; see the rule at the top of this file.
CREATE FUNCTION role_change_check(p_staff bigint, p_user bigint, p_role text, p_org bigint)
    RETURNS void
    LANGUAGE plpgsql
    SET search_path FROM CURRENT
    AS $$
DECLARE
    v_org orgs;
    v_rank int;
BEGIN
    PERFORM 1 FROM users WHERE id = p_user AND status = 'active';
    IF NOT FOUND THEN
        PERFORM raise_code('user_not_found');
    END IF;
    IF role_org_level(p_role) IS NULL THEN
        PERFORM raise_code('role_not_grantable');
    END IF;
    v_org := org_require(p_org);
    IF v_org.level <> role_org_level(p_role) THEN
        PERFORM raise_code('invalid_org_level');
    END IF;
    IF p_user = p_staff THEN
        PERFORM raise_code('cannot_change_own_roles');
    END IF;
    v_rank := rank_over(p_staff, p_org);
    IF v_rank < 4 THEN
        PERFORM raise_code('not_in_scope');
    END IF;
    IF v_rank <= role_rank(p_role) THEN
        PERFORM raise_code('role_above_own_level');
    END IF;
END
$$;

CREATE FUNCTION roles_json(p_user bigint) RETURNS jsonb
    LANGUAGE sql STABLE
    SET search_path FROM CURRENT
    AS $$
    SELECT jsonb_build_object('user_id', p_user::text, 'roles', user_card(p_user) -> 'roles')
$$;

-- Grants p_role at p_org; created is false when the user held it already.
CREATE FUNCTION role_grant(p_staff bigint, p_user bigint, p_role text, p_org bigint)
    RETURNS TABLE (body jsonb, card jsonb, created boolean)
    LANGUAGE plpgsql
    SET search_path FROM CURRENT
    AS $$
DECLARE
    v_n int;
BEGIN
    PERFORM role_change_check(p_staff, p_user, p_role, p_org);
    INSERT INTO user_roles (user_id, role, org_id, granted_by)
    VALUES (p_user, p_role, p_org, p_staff)
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS v_n = ROW_COUNT;
    IF v_n = 0 THEN
        RETURN QUERY SELECT roles_json(p_user), NULL::jsonb, false;
        RETURN;
    END IF;
    PERFORM emit_roles_changed(p_user, 'granted', p_role, p_org, p_staff);
    RETURN QUERY SELECT roles_json(p_user), user_card(p_user), true;
END
$$;

CREATE FUNCTION role_revoke(p_staff bigint, p_user bigint, p_role text, p_org bigint)
    RETURNS TABLE (body jsonb, card jsonb)
    LANGUAGE plpgsql
    SET search_path FROM CURRENT
    AS $$
BEGIN
    PERFORM role_change_check(p_staff, p_user, p_role, p_org);
    DELETE FROM user_roles WHERE user_id = p_user AND role = p_role AND org_id = p_org;
    IF NOT FOUND THEN
        PERFORM raise_code('role_not_found');
    END IF;
    PERFORM emit_roles_changed(p_user, 'revoked', p_role, p_org, p_staff);
    RETURN QUERY SELECT roles_json(p_user), user_card(p_user);
END
$$;

-- A user as staff see them: the account (phone masked by the caller) and the
-- roles within the staff member's scope. forbidden for non-staff;
-- user_not_found when no role of the user lies in the caller's scope.
CREATE FUNCTION admin_user_get(p_staff bigint, p_user bigint)
    RETURNS TABLE (id text, display_name text, avatar_url text, phone_enc text,
                   phone_masked text, status text, created_at text, roles text)
    LANGUAGE plpgsql STABLE
    SET search_path FROM CURRENT
    AS $$
DECLARE
    v_scopes text[] := ARRAY(SELECT staff_scopes(p_staff));
    v_roles text;
BEGIN
    IF cardinality(v_scopes) = 0 THEN
        PERFORM raise_code('forbidden');
    END IF;
    SELECT string_agg(ur.role || '@' || ur.org_id, ',' ORDER BY ur.org_id, ur.role) INTO v_roles
    FROM user_roles ur JOIN orgs o ON o.id = ur.org_id
    WHERE ur.user_id = p_user
      AND EXISTS (SELECT 1 FROM unnest(v_scopes) s WHERE starts_with(o.path, s));
    IF v_roles IS NULL THEN
        PERFORM raise_code('user_not_found');
    END IF;
    RETURN QUERY
    SELECT u.id::text, u.display_name, coalesce(u.avatar_url, ''), ''::text, u.phone_masked,
           u.status, utc_text(u.created_at), v_roles
    FROM users u WHERE u.id = p_user;
END
$$;

-- ---------------------------------------------------------------------------
-- The outbox relay's statements live in shared/kore/yx_outbox.c.
