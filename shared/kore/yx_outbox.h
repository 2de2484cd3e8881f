/*
 * yx_outbox.h - the relay of a service's transactional outbox to Redis
 * Streams (DESIGN.md, "Cross-service events").
 *
 * A producer writes its event into <service>.outbox in the same transaction
 * as the change it reports (id, event_id, topic, payload jsonb, created_at,
 * claimed_until, published_at; see services/identity/sql/0003_people.sql).
 * The relay, running in Kore worker 1 of each instance, appends unpublished
 * rows to the stream events:<topic> as
 *   XADD events:<topic> MAXLEN ~ <YX_OUTBOX_MAXLEN> * id <event_id> payload <json>
 * and then marks them published. Delivery is at least once: consumers
 * dedupe by the event id.
 */
#ifndef YX_OUTBOX_H
#define YX_OUTBOX_H

/*
 * Registers the relay's prepared statements (on the table
 * <yx_service_def.name>.outbox) and reads YX_OUTBOX_INTERVAL_MS and
 * YX_OUTBOX_MAXLEN. Call in the parent from the service's configure hook,
 * after the glue set up the database. -1 on bad configuration or when the
 * statements cannot be registered.
 */
int yx_outbox_register(void);

/*
 * Starts the relay timer when this is Kore worker 1 of a service with a
 * database and Redis; does nothing in other workers. Call from the
 * service's worker_init hook. Always 0.
 */
int yx_outbox_worker_start(void);

#endif
