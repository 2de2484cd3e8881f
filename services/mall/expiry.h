/*
 * expiry.h - yx-mall's housekeeping timer (expired orders, idempotency
 * records), see expiry.c.
 */
#ifndef MALL_EXPIRY_H
#define MALL_EXPIRY_H

/*
 * Starts the timer when this is Kore worker 1; does nothing in the others.
 * Call from the service's worker_init. -1 on bad configuration.
 */
int mall_expiry_worker_start(void);

#endif
