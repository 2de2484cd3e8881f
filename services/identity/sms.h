/*
 * sms.h - one-time login codes sent by SMS: generating a code, the HMAC
 * under which it is stored, the sending limits kept in Redis, and the
 * drivers that deliver it.
 *
 * Drivers (YX_SMS_DRIVER):
 *   file  (default) appends one JSON line {"phone","code","sent_at"} to
 *         YX_SMS_OUTBOX with a single write(2); for development and tests.
 *   http  POSTs {"phone","code","ttl_seconds"[,"template"]} as JSON to
 *         YX_SMS_HTTP_URL (http:// or https://, certificate checked), with
 *         "Authorization: Bearer <YX_SMS_HTTP_TOKEN>" when that is set; any
 *         2xx answer is delivered. It runs on a task thread and gives up
 *         after YX_SMS_HTTP_TIMEOUT_MS per step (connect, TLS, send, read).
 *         Certificates are checked against the system's CAs plus
 *         YX_SMS_HTTP_CA_FILE (PEM) when set. The provider's host name is
 *         resolved for each message (/etc/hosts, then DNS).
 */
#ifndef IDENTITY_SMS_H
#define IDENTITY_SMS_H

#include <stdint.h>

#include <kore/kore.h>
#include <kore/http.h>

#include "offload.h"

#define IDENTITY_SMS_CODE_LEN 6

struct identity_sms_conf {
	int64_t code_ttl;         /* seconds a code lives */
	int64_t max_attempts;     /* wrong tries that kill a code */
	int64_t per_phone_minute; /* codes per phone per 60 s */
	int64_t per_phone_hour;
	int64_t per_phone_day;
	int64_t per_ip_hour; /* codes requested per client address per hour */
};

extern struct identity_sms_conf identity_sms;

/*
 * Reads the YX_SMS_* settings and keys, checks the driver can work (the
 * outbox opens for appending, the URL parses). Parent, at start-up; -1
 * with a message on stderr.
 */
int identity_sms_configure(void);

/* A fresh code: IDENTITY_SMS_CODE_LEN uniform random digits. 0 or -1. */
int identity_sms_code_new(char code[IDENTITY_SMS_CODE_LEN + 1]);

/*
 * The stored form of code for the phone with blind index phone_idx:
 * lowercase hex HMAC-SHA256 under YX_SMS_KEY of "phone_idx:code", so a
 * code only ever fits the phone it was sent to. 0 or -1.
 */
int identity_sms_code_hmac(const char *phone_idx, const char *code, char out[65]);

enum identity_sms_limit {
	IDENTITY_SMS_ALLOWED,
	IDENTITY_SMS_LIMITED,    /* *retry_after seconds until one more is allowed */
	IDENTITY_SMS_UNAVAILABLE /* Redis did not answer: refuse (fail closed) */
};

/*
 * Counts one code request against the limits of the client address ip
 * (per hour) and then of the phone (per minute, hour and day). A request
 * refused by a limit is not counted against the others. Fixed windows in
 * Redis, each check one script run: identity:{smsip:<ip>}:h and
 * identity:{sms:<phone_idx>}:m|h|d. request_id is for the log.
 */
enum identity_sms_limit identity_sms_limit(const char *request_id, const char *phone_idx,
                                           const char *ip, int64_t *retry_after);

enum identity_sms_send {
	IDENTITY_SMS_SENT,    /* delivered (file driver) */
	IDENTITY_SMS_STARTED, /* *job delivers it; the request sleeps until done */
	IDENTITY_SMS_FAILED,  /* could not deliver */
	IDENTITY_SMS_BUSY     /* too many deliveries in flight in this worker */
};

/*
 * Sends code to phone (normalised, 11 digits) with the configured driver.
 * With IDENTITY_SMS_STARTED the handler returns KORE_RESULT_RETRY and,
 * woken, reads identity_sms_delivered() of the job's result.
 */
enum identity_sms_send identity_sms_send(struct http_request *req, const char *phone,
                                         const char *code, struct identity_job **job);

/* The result of a finished delivery job: true when the provider took it. */
bool identity_sms_delivered(int job_result);

#endif
