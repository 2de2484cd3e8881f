/*
 * offload.c - jobs on Kore task threads (see offload.h). The system calls
 * those threads need inside the worker sandbox are allowed by the glue
 * (shared/kore/yx_service.c).
 */
#include <sys/socket.h>
#include <sys/syscall.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <kore/kore.h>
#include <kore/http.h>
#include <kore/tasks.h>

#include "offload.h"
#include "yx_log.h"

struct identity_job {
	struct kore_task task;    /* first: the task callback finds the job from it */
	struct http_request *req; /* NULL once the request let go */
	struct identity_job_pool *pool;
	int (*run)(void *);
	void *arg;
	void (*free_arg)(void *);
	int result;
	bool done;
};

static void
job_free(struct identity_job *job)
{
	if (job->free_arg != NULL)
		job->free_arg(job->arg);
	free(job);
}

/* On the task thread. */
static int
job_entry(struct kore_task *t)
{
	struct identity_job *job = (struct identity_job *)t;

	return job->run(job->arg);
}

/*
 * On the worker thread, when the task's channel reports: once it is
 * finished, collect the result, wake the request or free an orphan.
 */
static void
job_event(struct kore_task *t)
{
	struct identity_job *job = (struct identity_job *)t;

	if (job->done || !kore_task_finished(t))
		return;
	job->result = kore_task_result(t);
	job->done = true;
	kore_task_destroy(t);
	if (job->pool->pending > 0)
		job->pool->pending--;
	if (job->req != NULL)
		http_request_wakeup(job->req);
	else
		job_free(job);
}

struct identity_job *
identity_job_start(struct http_request *req, struct identity_job_pool *pool, int (*run)(void *),
                   void *arg, void (*free_arg)(void *))
{
	struct identity_job *job;

	if (pool->pending >= pool->cap) {
		yx_log(YX_LOG_WARN, NULL, "offload_full", "%s: %u jobs waiting", pool->name,
		       pool->pending);
		if (free_arg != NULL)
			free_arg(arg);
		return NULL;
	}
	if ((job = calloc(1, sizeof(*job))) == NULL)
		fatal("out of memory");
	job->req = req;
	job->pool = pool;
	job->run = run;
	job->arg = arg;
	job->free_arg = free_arg;
	pool->pending++;

	kore_task_create(&job->task, job_entry);
	kore_task_bind_callback(&job->task, job_event);
	kore_task_run(&job->task);
	http_request_sleep(req);
	return job;
}

bool
identity_job_done(const struct identity_job *job, int *result)
{
	if (job == NULL || !job->done)
		return false;
	*result = job->result;
	return true;
}

void
identity_job_release(struct identity_job *job)
{
	if (job == NULL)
		return;
	if (job->done)
		job_free(job);
	else
		job->req = NULL;
}
