/*
 * offload.h - blocking work (password hashing, a call to the SMS provider)
 * run on Kore's task threads, so a worker's event loop never waits on it.
 *
 * A job belongs to the request that started it. The request sleeps until
 * the job finishes, then its handler runs again and reads the result. If
 * the request goes away first, the job is orphaned and frees itself when
 * its thread is done, so nothing the thread still uses is freed under it.
 * `task_threads` in identity.conf bounds how many jobs run at once in a
 * worker; a pool bounds how many may wait, so a flood is refused early
 * instead of queueing without end.
 */
#ifndef IDENTITY_OFFLOAD_H
#define IDENTITY_OFFLOAD_H

#include <stdbool.h>

#include <kore/kore.h>
#include <kore/http.h>

/* Jobs of one kind in this worker: started and not yet finished. */
struct identity_job_pool {
	const char *name; /* for logs */
	unsigned pending;
	unsigned cap;
};

struct identity_job;

/*
 * Runs run(arg) on a task thread for req; its return value becomes the
 * job's result. arg belongs to the job from here on: free_arg(arg) (may be
 * NULL) runs on the worker thread once the job is done and released, so it
 * may wipe secrets. The request is put to sleep; return KORE_RESULT_RETRY.
 * Returns NULL, after calling free_arg, when the pool is full.
 */
struct identity_job *identity_job_start(struct http_request *req, struct identity_job_pool *pool,
                                        int (*run)(void *arg), void *arg,
                                        void (*free_arg)(void *arg));

/* True once the job has finished; *result is then run's return value. */
bool identity_job_done(const struct identity_job *job, int *result);

/*
 * The request no longer needs the job (it has its result, or it is being
 * freed). Frees the job now if it is done, otherwise when it finishes.
 * NULL is fine.
 */
void identity_job_release(struct identity_job *job);

#endif
