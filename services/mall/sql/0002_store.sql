-- The points supermarket: items of a community's store, orders with pickup
-- codes, and the functions that move points and stock together (see
-- 0001_ledger.sql for the ledger, the lock order and the r_error convention).
--
-- Stock is exact: items.stock = initial_stock + adjusted - the quantities of
-- the item's pending and fulfilled orders, where `adjusted` sums what staff
-- changed by hand. Every change of stock also raises stock_version, which
-- orders the service's copies of it in Redis (the sold-out gate).

CREATE TABLE items (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    community       bigint NOT NULL CHECK (community > 0),
    name            text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 60),
    description     text CHECK (char_length(description) <= 1000),
    image_url       text CHECK (char_length(image_url) <= 500),
    points_price    bigint NOT NULL CHECK (points_price BETWEEN 1 AND 10000000),
    stock           bigint NOT NULL CHECK (stock >= 0),
    initial_stock   bigint NOT NULL CHECK (initial_stock >= 0),
    adjusted        bigint NOT NULL DEFAULT 0,
    stock_version   bigint NOT NULL DEFAULT 1,
    -- units one user may redeem per local calendar month; NULL: no limit
    monthly_limit   int CHECK (monthly_limit BETWEEN 1 AND 10000),
    sale_starts_at  timestamptz,
    sale_ends_at    timestamptz,
    listed          boolean NOT NULL DEFAULT true,
    created_by      bigint NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT items_sale_window CHECK (sale_starts_at IS NULL OR sale_ends_at IS NULL
                                        OR sale_ends_at > sale_starts_at)
) WITH (fillfactor = 70);
CREATE INDEX items_community ON items (community, id) WHERE listed;

-- Who changed which item how (the validated request body), for audit.
CREATE TABLE item_changes (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    item_id     bigint NOT NULL REFERENCES items (id),
    changed_by  bigint NOT NULL,
    change      jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX item_changes_item ON item_changes (item_id, id);
CREATE TRIGGER item_changes_append_only BEFORE UPDATE OR DELETE ON item_changes
    FOR EACH ROW EXECUTE FUNCTION append_only();

CREATE SEQUENCE order_ids;

CREATE TABLE orders (
    id             bigint PRIMARY KEY DEFAULT nextval('order_ids'),
    item_id        bigint NOT NULL REFERENCES items (id),
    item_name      text NOT NULL,
    community      bigint NOT NULL,
    user_id        bigint NOT NULL,
    quantity       int NOT NULL CHECK (quantity BETWEEN 1 AND 100),
    unit_price     bigint NOT NULL CHECK (unit_price > 0),
    points         bigint NOT NULL,
    state          text NOT NULL DEFAULT 'pending'
                   CHECK (state IN ('pending', 'fulfilled', 'cancelled', 'expired')),
    pickup_code    text NOT NULL CHECK (pickup_code ~ '^[0-9]{6}$'),
    store_account  bigint NOT NULL REFERENCES accounts (id),
    redeem_txn     bigint NOT NULL UNIQUE,
    refund_txn     bigint UNIQUE,
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,
    closed_at      timestamptz,
    fulfilled_by   bigint,
    CHECK (points = unit_price * quantity),
    CHECK ((state IN ('cancelled', 'expired')) = (refund_txn IS NOT NULL)),
    CHECK ((state = 'pending') = (closed_at IS NULL)),
    CHECK ((state = 'fulfilled') = (fulfilled_by IS NOT NULL))
) WITH (fillfactor = 90);
CREATE INDEX orders_user ON orders (user_id, id);
CREATE INDEX orders_user_item ON orders (user_id, item_id, created_at);
CREATE INDEX orders_expiry ON orders (expires_at) WHERE state = 'pending';

-- An order leaves 'pending' once and then never changes; what it bought,
-- for whom and how it was paid never changes at all.
CREATE FUNCTION orders_guard() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF TG_OP = 'DELETE' OR OLD.state <> 'pending'
       OR (NEW.id, NEW.item_id, NEW.item_name, NEW.community, NEW.user_id, NEW.quantity,
           NEW.unit_price, NEW.points, NEW.pickup_code, NEW.store_account, NEW.redeem_txn,
           NEW.created_at)
          IS DISTINCT FROM
          (OLD.id, OLD.item_id, OLD.item_name, OLD.community, OLD.user_id, OLD.quantity,
           OLD.unit_price, OLD.points, OLD.pickup_code, OLD.store_account, OLD.redeem_txn,
           OLD.created_at) THEN
        RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = 'order_immutable',
            DETAIL = 'order ' || OLD.id || ' (' || OLD.state || ')';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER orders_guard BEFORE UPDATE OR DELETE ON orders
    FOR EACH ROW EXECUTE FUNCTION orders_guard();

CREATE FUNCTION item_json(i items) RETURNS jsonb
    LANGUAGE sql STABLE
    AS $$
    SELECT jsonb_build_object(
        'id', i.id::text, 'community_id', i.community::text, 'name', i.name,
        'description', i.description, 'image_url', i.image_url,
        'points_price', i.points_price, 'stock', i.stock, 'monthly_limit', i.monthly_limit,
        'sale_starts_at', utc_text(i.sale_starts_at), 'sale_ends_at', utc_text(i.sale_ends_at),
        'listed', i.listed, 'created_at', utc_text(i.created_at),
        'updated_at', utc_text(i.updated_at))
$$;

-- An order as its owner sees it (with the pickup code) or as staff do.
CREATE FUNCTION order_json(o orders, p_owner boolean) RETURNS jsonb
    LANGUAGE sql STABLE
    AS $$
    SELECT CASE WHEN p_owner THEN j ELSE j - 'pickup_code' END
    FROM (SELECT jsonb_build_object(
        'id', o.id::text, 'item_id', o.item_id::text, 'item_name', o.item_name,
        'community_id', o.community::text, 'user_id', o.user_id::text,
        'quantity', o.quantity, 'unit_price', o.unit_price, 'points', o.points,
        'state', o.state, 'pickup_code', o.pickup_code,
        'created_at', utc_text(o.created_at), 'expires_at', utc_text(o.expires_at),
        'closed_at', utc_text(o.closed_at)) AS j) s
$$;

-- Six random digits from the server's strong random source.
CREATE FUNCTION pickup_code() RETURNS text
    LANGUAGE sql VOLATILE
    AS $$
    SELECT lpad(((('x' || substr(replace(gen_random_uuid()::text, '-', ''), 1, 12))::bit(48)::bigint)
                 % 1000000)::text, 6, '0')
$$;

-- True when a sale window ends before (or when) it starts.
CREATE FUNCTION bad_sale_window(p_starts timestamptz, p_ends timestamptz) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT coalesce(p_ends <= p_starts, false) $$;

-- POST /api/v1/mall/items: p is the validated body (community_id, name,
-- points_price, stock and the optional fields). Creates the community's
-- store accounts on its first item.
CREATE FUNCTION item_create(p_key text, p_hash text, p_staff bigint, p_community bigint, p jsonb)
    RETURNS TABLE (r_error text, r_replayed boolean, r_reply jsonb, r_item bigint,
                   r_community bigint, r_stock bigint, r_version bigint)
    LANGUAGE plpgsql
    SET search_path FROM CURRENT
    AS $$
DECLARE
    v_mismatch boolean;
    v_item items;
BEGIN
    SELECT * INTO r_reply, v_mismatch FROM idem_begin(p_staff, p_key, p_hash);
    IF v_mismatch OR r_reply IS NOT NULL THEN
        r_error := CASE WHEN v_mismatch THEN 'idempotency_key_mismatch' END;
        r_replayed := true;
        RETURN NEXT;
        RETURN;
    END IF;
    IF bad_sale_window((p ->> 'sale_starts_at')::timestamptz,
                       (p ->> 'sale_ends_at')::timestamptz) THEN
        r_error := 'invalid_sale_window';
        RETURN NEXT;
        RETURN;
    END IF;
    INSERT INTO items (community, name, description, image_url, points_price, stock,
                       initial_stock, monthly_limit, sale_starts_at, sale_ends_at, listed,
                       created_by)
    VALUES (p_community, p ->> 'name', p ->> 'description', p ->> 'image_url',
            (p ->> 'points_price')::bigint, (p ->> 'stock')::bigint, (p ->> 'stock')::bigint,
            (p ->> 'monthly_limit')::int, (p ->> 'sale_starts_at')::timestamptz,
            (p ->> 'sale_ends_at')::timestamptz, coalesce((p ->> 'listed')::boolean, true),
            p_staff)
    RETURNING * INTO v_item;
    PERFORM account_id('store', p_community, s) FROM generate_series(0, store_shards() - 1) s;
    INSERT INTO item_changes (item_id, changed_by, change) VALUES (v_item.id, p_staff, p);
    r_replayed := false;
    r_reply := item_json(v_item);
    PERFORM idem_store(p_staff, p_key, p_hash, 201, r_reply);
    r_item := v_item.id;
    r_community := v_item.community;
    r_stock := v_item.stock;
    r_version := v_item.stock_version;
    RETURN NEXT;
END
$$;

-- PATCH /api/v1/mall/items/{id}: p holds the validated fields to change;
-- JSON null clears an optional one. `stock` sets the stock, and the change
-- is added to `adjusted`. p_scopes: the communities the caller is staff of.
CREATE FUNCTION item_update(p_staff bigint, p_scopes bigint[], p_item bigint, p jsonb)
    RETURNS TABLE (r_error text, r_replayed boolean, r_reply jsonb, r_item bigint,
                   r_community bigint, r_stock bigint, r_version bigint)
    LANGUAGE plpgsql
    SET search_path FROM CURRENT
    AS $$
DECLARE
    v items;
    v_stock bigint;
    v_starts timestamptz;
    v_ends timestamptz;
BEGIN
    SELECT * INTO v FROM items WHERE id = p_item FOR NO KEY UPDATE;
    v_stock := CASE WHEN p ? 'stock' THEN (p ->> 'stock')::bigint ELSE v.stock END;
    v_starts := CASE WHEN p ? 'sale_starts_at' THEN (p ->> 'sale_starts_at')::timestamptz
                     ELSE v.sale_starts_at END;
    v_ends := CASE WHEN p ? 'sale_ends_at' THEN (p ->> 'sale_ends_at')::timestamptz
                   ELSE v.sale_ends_at END;
    r_error := CASE
        WHEN v.id IS NULL THEN 'item_not_found'
        WHEN NOT v.community = ANY (p_scopes) THEN 'not_in_scope'
        WHEN bad_sale_window(v_starts, v_ends) THEN 'invalid_sale_window'
    END;
    IF r_error IS NOT NULL THEN
        RETURN NEXT;
        RETURN;
    END IF;
    UPDATE items SET
        name = CASE WHEN p ? 'name' THEN p ->> 'name' ELSE name END,
        description = CASE WHEN p ? 'description' THEN p ->> 'description' ELSE description END,
        image_url = CASE WHEN p ? 'image_url' THEN p ->> 'image_url' ELSE image_url END,
        points_price = CASE WHEN p ? 'points_price' THEN (p ->> 'points_price')::bigint
                            ELSE points_price END,
        monthly_limit = CASE WHEN p ? 'monthly_limit' THEN (p ->> 'monthly_limit')::int
                             ELSE monthly_limit END,
        sale_starts_at = v_starts,
        sale_ends_at = v_ends,
        listed = CASE WHEN p ? 'listed' THEN (p ->> 'listed')::boolean ELSE listed END,
        stock = v_stock,
        adjusted = adjusted + (v_stock - stock),
        stock_version = stock_version + 1,
        updated_at = now()
    WHERE id = p_item
    RETURNING * INTO v;
    INSERT INTO item_changes (item_id, changed_by, change) VALUES (p_item, p_staff, p);
    r_replayed := false;
    r_reply := item_json(v);
    r_item := v.id;
    r_community := v.community;
    r_stock := v.stock;
    r_version := v.stock_version;
    RETURN NEXT;
END
$$;

-- POST /api/v1/mall/orders: redeems p_quantity of item p_item for p_user in
-- one transaction: idempotency, sale window, stock, balance, monthly limit,
-- then the guarded stock update, the points from the user to a store shard,
-- the journal and the order with its pickup code. p_pickup_ttl is
-- YX_MALL_PICKUP_DAYS. Returns the refusal, or the response and the item's
-- new stock.
CREATE FUNCTION redeem(p_key text, p_hash text, p_user bigint, p_item bigint, p_quantity int,
                       p_pickup_ttl interval)
    RETURNS TABLE (r_error text, r_replayed boolean, r_reply jsonb, r_item bigint,
                   r_community bigint, r_stock bigint, r_version bigint)
    LANGUAGE plpgsql
    SET search_path FROM CURRENT
    AS $$
DECLARE
    v_mismatch boolean;
    v_item items;
    v_account bigint;
    v_balance bigint;
    v_used bigint;
    v_price bigint;
    v_cost bigint;
    v_store bigint;
    v_shard int;
    v_id bigint;
    v_txn bigint;
    v_order orders;
    v_now timestamptz := now();
BEGIN
    SELECT * INTO r_reply, v_mismatch FROM idem_begin(p_user, p_key, p_hash);
    IF v_mismatch OR r_reply IS NOT NULL THEN
        r_error := CASE WHEN v_mismatch THEN 'idempotency_key_mismatch' END;
        r_replayed := true;
        RETURN NEXT;
        RETURN;
    END IF;
    -- Checks without locks first: after a sell-out, refusals take no lock.
    SELECT * INTO v_item FROM items WHERE id = p_item;
    r_error := CASE
        WHEN p_quantity IS NULL OR p_quantity < 1 OR p_quantity > 100 THEN 'validation_failed'
        WHEN v_item.id IS NULL OR NOT v_item.listed THEN 'item_not_found'
        WHEN v_now < v_item.sale_starts_at OR v_now >= v_item.sale_ends_at THEN 'item_not_on_sale'
        WHEN v_item.stock < p_quantity THEN 'out_of_stock'
    END;
    IF r_error IS NOT NULL THEN
        IF r_error = 'out_of_stock' THEN
            -- The stock as committed, for the service's sold-out copies.
            r_item := p_item;
            r_stock := v_item.stock;
            r_version := v_item.stock_version;
        END IF;
        RETURN NEXT;
        RETURN;
    END IF;
    -- The user's account lock serializes the user's own redemptions, so the
    -- balance and the monthly limit stay as checked until commit.
    SELECT a.id, a.balance INTO v_account, v_balance FROM accounts a
    WHERE a.kind = 'user' AND a.owner = p_user AND a.shard = 0 FOR NO KEY UPDATE;
    IF v_account IS NULL OR v_balance < v_item.points_price * p_quantity THEN
        r_error := 'insufficient_points';
        RETURN NEXT;
        RETURN;
    END IF;
    IF v_item.monthly_limit IS NOT NULL THEN
        SELECT coalesce(sum(o.quantity), 0) INTO v_used FROM orders o
        WHERE o.user_id = p_user AND o.item_id = p_item
          AND o.created_at >= period_start('month', v_now)
          AND o.state IN ('pending', 'fulfilled');
        IF v_used + p_quantity > v_item.monthly_limit THEN
            r_error := 'limit_exceeded';
            RETURN NEXT;
            RETURN;
        END IF;
    END IF;
    -- The guarded decrement: the only place where stock is taken.
    UPDATE items SET stock = stock - p_quantity, stock_version = stock_version + 1
    WHERE id = p_item AND stock >= p_quantity AND listed
    RETURNING stock, stock_version, points_price INTO r_stock, r_version, v_price;
    IF NOT FOUND THEN
        r_error := 'out_of_stock';
        r_item := p_item;
        SELECT t.stock, t.stock_version INTO r_stock, r_version FROM items t WHERE t.id = p_item;
        RETURN NEXT;
        RETURN;
    END IF;
    -- The price as of the locked row: staff may have raised it meanwhile,
    -- and the decrement above must then go (rare: a refusal by exception).
    v_cost := v_price * p_quantity;
    IF v_balance < v_cost THEN
        RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = 'insufficient_points';
    END IF;
    v_shard := (p_user % store_shards())::int;
    UPDATE accounts SET balance = balance + v_cost
    WHERE kind = 'store' AND owner = v_item.community AND shard = v_shard
    RETURNING id INTO v_store;
    IF v_store IS NULL THEN
        v_store := account_id('store', v_item.community, v_shard);
        UPDATE accounts SET balance = balance + v_cost WHERE id = v_store;
    END IF;
    UPDATE accounts SET balance = balance - v_cost, spent = spent + v_cost WHERE id = v_account;
    v_id := nextval('order_ids');
    v_txn := nextval('txn_ids');
    INSERT INTO journal (txn_id, account_id, amount, kind, ref, community) VALUES
        (v_txn, v_account, -v_cost, 'redeem', 'order:' || v_id, v_item.community),
        (v_txn, v_store, v_cost, 'redeem', 'order:' || v_id, v_item.community);
    INSERT INTO orders (id, item_id, item_name, community, user_id, quantity, unit_price, points,
                        pickup_code, store_account, redeem_txn, created_at, expires_at)
    VALUES (v_id, p_item, v_item.name, v_item.community, p_user, p_quantity, v_price, v_cost,
            pickup_code(), v_store, v_txn, v_now, v_now + p_pickup_ttl)
    RETURNING * INTO v_order;
    r_replayed := false;
    r_reply := order_json(v_order, true);
    PERFORM idem_store(p_user, p_key, p_hash, 201, r_reply);
    r_item := p_item;
    r_community := v_item.community;
    RETURN NEXT;
END
$$;

-- Gives back the points and the stock of pending order p_id, whose row the
-- caller has locked, and closes it as p_state ('cancelled' or 'expired').
CREATE FUNCTION refund_order(p_id bigint, p_state text, OUT o orders, OUT new_stock bigint,
                             OUT new_version bigint)
    LANGUAGE plpgsql
    SET search_path FROM CURRENT
    AS $$
DECLARE
    v_user bigint;
    v_txn bigint;
BEGIN
    SELECT * INTO o FROM orders WHERE id = p_id;
    IF o.state <> 'pending' THEN
        RAISE EXCEPTION 'refund_order: order % is %', p_id, o.state;
    END IF;
    UPDATE accounts SET balance = balance + o.points, spent = spent - o.points
    WHERE kind = 'user' AND owner = o.user_id AND shard = 0
    RETURNING id INTO v_user;
    UPDATE items SET stock = stock + o.quantity, stock_version = stock_version + 1
    WHERE id = o.item_id
    RETURNING stock, stock_version INTO new_stock, new_version;
    UPDATE accounts SET balance = balance - o.points WHERE id = o.store_account;
    v_txn := nextval('txn_ids');
    INSERT INTO journal (txn_id, account_id, amount, kind, ref, community) VALUES
        (v_txn, o.store_account, -o.points, 'refund', 'order:' || o.id, o.community),
        (v_txn, v_user, o.points, 'refund', 'order:' || o.id, o.community);
    UPDATE orders SET state = p_state, closed_at = now(), refund_txn = v_txn
    WHERE id = p_id
    RETURNING * INTO o;
END
$$;

-- POST /api/v1/mall/orders/{id}/cancel by the order's owner, before pickup.
CREATE FUNCTION cancel_order(p_key text, p_hash text, p_user bigint, p_order bigint)
    RETURNS TABLE (r_error text, r_replayed boolean, r_reply jsonb, r_item bigint,
                   r_community bigint, r_stock bigint, r_version bigint)
    LANGUAGE plpgsql
    SET search_path FROM CURRENT
    AS $$
DECLARE
    v_mismatch boolean;
    v orders;
    r record;
BEGIN
    SELECT * INTO r_reply, v_mismatch FROM idem_begin(p_user, p_key, p_hash);
    IF v_mismatch OR r_reply IS NOT NULL THEN
        r_error := CASE WHEN v_mismatch THEN 'idempotency_key_mismatch' END;
        r_replayed := true;
        RETURN NEXT;
        RETURN;
    END IF;
    SELECT * INTO v FROM orders WHERE id = p_order FOR NO KEY UPDATE;
    r_error := CASE
        WHEN v.id IS NULL OR v.user_id <> p_user THEN 'order_not_found'
        WHEN v.state <> 'pending' THEN 'order_not_cancellable'
    END;
    IF r_error IS NOT NULL THEN
        RETURN NEXT;
        RETURN;
    END IF;
    SELECT * INTO r FROM refund_order(p_order, 'cancelled');
    r_replayed := false;
    r_reply := order_json(r.o, true);
    PERFORM idem_store(p_user, p_key, p_hash, 200, r_reply);
    r_item := v.item_id;
    r_community := v.community;
    r_stock := r.new_stock;
    r_version := r.new_version;
    RETURN NEXT;
END
$$;

-- POST /api/v1/mall/orders/{id}/fulfil by staff of the order's community
-- (p_scopes), with the pickup code the owner shows at the counter.
CREATE FUNCTION fulfil_order(p_key text, p_hash text, p_staff bigint, p_scopes bigint[],
                             p_order bigint, p_code text)
    RETURNS TABLE (r_error text, r_replayed boolean, r_reply jsonb)
    LANGUAGE plpgsql
    SET search_path FROM CURRENT
    AS $$
DECLARE
    v_mismatch boolean;
    v orders;
BEGIN
    SELECT * INTO r_reply, v_mismatch FROM idem_begin(p_staff, p_key, p_hash);
    IF v_mismatch OR r_reply IS NOT NULL THEN
        r_error := CASE WHEN v_mismatch THEN 'idempotency_key_mismatch' END;
        r_replayed := true;
        RETURN NEXT;
        RETURN;
    END IF;
    SELECT * INTO v FROM orders WHERE id = p_order FOR NO KEY UPDATE;
    -- Past its pickup time an order is refunded by expiry, never handed out.
    r_error := CASE
        WHEN v.id IS NULL THEN 'order_not_found'
        WHEN NOT v.community = ANY (p_scopes) THEN 'not_in_scope'
        WHEN v.state <> 'pending' OR v.expires_at <= now() THEN 'order_not_pending'
        WHEN v.pickup_code <> p_code THEN 'invalid_pickup_code'
    END;
    IF r_error IS NOT NULL THEN
        RETURN NEXT;
        RETURN;
    END IF;
    UPDATE orders SET state = 'fulfilled', closed_at = now(), fulfilled_by = p_staff
    WHERE id = p_order
    RETURNING * INTO v;
    r_replayed := false;
    r_reply := order_json(v, false);
    PERFORM idem_store(p_staff, p_key, p_hash, 200, r_reply);
    RETURN NEXT;
END
$$;

-- Expires up to p_limit pending orders past their pickup time, each refunded
-- like a cancellation; run by the service's timer (several instances may run
-- it at once: locked orders are skipped). Returns each touched item's new
-- stock and how many of its orders expired.
CREATE FUNCTION expire_orders(p_limit int)
    RETURNS TABLE (r_item bigint, r_community bigint, r_stock bigint, r_version bigint,
                   r_expired int)
    LANGUAGE plpgsql
    SET search_path FROM CURRENT
    AS $$
DECLARE
    v_ids bigint[];
    i int;
BEGIN
    SELECT array_agg(s.id ORDER BY s.id) INTO v_ids FROM (
        SELECT o.id FROM orders o
        WHERE o.state = 'pending' AND o.expires_at <= now()
        ORDER BY o.expires_at, o.id LIMIT p_limit
        FOR NO KEY UPDATE SKIP LOCKED) s;
    IF v_ids IS NULL THEN
        RETURN;
    END IF;
    -- Several users, items and store shards: lock them in the global order.
    PERFORM 1 FROM accounts a
    WHERE a.kind = 'user' AND a.shard = 0
      AND a.owner IN (SELECT o.user_id FROM orders o WHERE o.id = ANY (v_ids))
    ORDER BY a.id FOR NO KEY UPDATE;
    PERFORM 1 FROM items t
    WHERE t.id IN (SELECT o.item_id FROM orders o WHERE o.id = ANY (v_ids))
    ORDER BY t.id FOR NO KEY UPDATE;
    PERFORM 1 FROM accounts a
    WHERE a.id IN (SELECT o.store_account FROM orders o WHERE o.id = ANY (v_ids))
    ORDER BY a.id FOR NO KEY UPDATE;
    FOR i IN 1 .. array_length(v_ids, 1) LOOP
        PERFORM refund_order(v_ids[i], 'expired');
    END LOOP;
    RETURN QUERY
        SELECT t.id, t.community, t.stock, t.stock_version, count(*)::int
        FROM orders o JOIN items t ON t.id = o.item_id
        WHERE o.id = ANY (v_ids)
        GROUP BY t.id, t.community, t.stock, t.stock_version;
END
$$;
