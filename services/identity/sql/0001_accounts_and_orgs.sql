-- Accounts, the org tree and roles held within it.
--
-- Phone numbers are stored only encrypted (AES-256-GCM, key outside the
-- database) with an HMAC blind index for lookup; see shared/yx_fieldcrypt.

CREATE TABLE orgs (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    parent_id   bigint REFERENCES orgs (id),
    level       text NOT NULL CHECK (level IN ('district', 'street', 'community', 'grid', 'building')),
    name        text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    -- ids from the root down to this node, '/1/7/42/': scope checks are a prefix test
    path        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((level = 'district') = (parent_id IS NULL))
);
CREATE INDEX orgs_parent ON orgs (parent_id, id);
CREATE UNIQUE INDEX orgs_path ON orgs (path text_pattern_ops);

CREATE TABLE users (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    phone_enc     text NOT NULL,
    phone_idx     text NOT NULL UNIQUE,
    phone_masked  text NOT NULL,
    display_name  text NOT NULL DEFAULT '' CHECK (char_length(display_name) <= 40),
    avatar_url    text CHECK (avatar_url IS NULL OR char_length(avatar_url) <= 500),
    password_hash text,
    status        text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE user_roles (
    user_id     bigint NOT NULL REFERENCES users (id),
    role        text NOT NULL CHECK (role IN ('resident', 'verified_resident', 'volunteer',
                    'party_member', 'building_head', 'grid_worker', 'community_staff',
                    'community_secretary', 'street_admin', 'district_admin')),
    org_id      bigint NOT NULL REFERENCES orgs (id),
    granted_by  bigint REFERENCES users (id),
    granted_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, role, org_id)
);
CREATE INDEX user_roles_org ON user_roles (org_id, role);
