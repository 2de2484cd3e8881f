/*
 * sms.c - login codes: generation, HMAC, the Redis sending limits and the
 * file and http delivery drivers (see sms.h).
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "sms.h"
#include "yx_config.h"
#include "yx_encode.h"
#include "yx_json.h"
#include "yx_log.h"
#include "yx_redis.h"
#include "yx_service.h"

struct identity_sms_conf identity_sms;

enum sms_driver { SMS_DRIVER_FILE, SMS_DRIVER_HTTP };

static struct {
	unsigned char key[32];
	enum sms_driver driver;
	char outbox[1024];
	/* http driver */
	bool tls;
	char host[256];
	char port[8];
	char path[1024];
	char host_header[300];
	char *token;
	const char *template_id;
	int timeout_ms;
	SSL_CTX *ssl_ctx;
} sms;

static struct identity_job_pool http_pool = {"sms-http", 0, 32};

/*
 * Fixed windows, checked before counted: if any window of the keys is
 * full, nothing is counted and the reply is the wait in milliseconds until
 * the fullest of them resets; otherwise every counter goes up by one and
 * the reply is 0. KEYS[i] counts at most ARGV[i] per ARGV[n + i] seconds.
 */
static const char limit_script[] =
    "local n = #KEYS\n"
    "local wait = 0\n"
    "for i = 1, n do\n"
    "  local c = tonumber(redis.call('GET', KEYS[i]) or '0')\n"
    "  if c >= tonumber(ARGV[i]) then\n"
    "    local ttl = redis.call('PTTL', KEYS[i])\n"
    "    if ttl < 0 then ttl = tonumber(ARGV[n + i]) * 1000 end\n"
    "    if ttl > wait then wait = ttl end\n"
    "  end\n"
    "end\n"
    "if wait > 0 then return wait end\n"
    "for i = 1, n do\n"
    "  redis.call('INCR', KEYS[i])\n"
    "  if redis.call('PTTL', KEYS[i]) < 0 then\n"
    "    redis.call('PEXPIRE', KEYS[i], tonumber(ARGV[n + i]) * 1000)\n"
    "  end\n"
    "end\n"
    "return 0\n";

static char limit_sha[41];

static int
script_sha(void)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len;

	if (EVP_Digest(limit_script, sizeof(limit_script) - 1, md, &len, EVP_sha1(), NULL) != 1)
		return -1;
	return yx_hex_encode(md, len, limit_sha, sizeof(limit_sha));
}

/* YX_SMS_HTTP_TOKEN, or the first line of the file YX_SMS_HTTP_TOKEN_FILE. */
static int
load_token(void)
{
	const char *v = yx_config_str("YX_SMS_HTTP_TOKEN", NULL);
	const char *path = yx_config_str("YX_SMS_HTTP_TOKEN_FILE", NULL);
	char buf[1024];
	FILE *f;
	size_t n;

	if (v != NULL && path != NULL) {
		fprintf(stderr, "set YX_SMS_HTTP_TOKEN or YX_SMS_HTTP_TOKEN_FILE, not both\n");
		return -1;
	}
	if (v != NULL) {
		sms.token = strdup(v);
		return sms.token != NULL ? 0 : -1;
	}
	if (path == NULL)
		return 0;
	if ((f = fopen(path, "r")) == NULL) {
		fprintf(stderr, "YX_SMS_HTTP_TOKEN_FILE: cannot open it\n");
		return -1;
	}
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	sms.token = strdup(buf);
	OPENSSL_cleanse(buf, sizeof(buf));
	return sms.token != NULL ? 0 : -1;
}

/* http[s]://host[:port][/path] into the sms fields. -1 when malformed. */
static int
parse_url(const char *url)
{
	const char *p, *hend, *pstart;
	size_t hlen;
	long port;
	char *end;

	if (strncmp(url, "https://", 8) == 0) {
		sms.tls = true;
		p = url + 8;
	} else if (strncmp(url, "http://", 7) == 0) {
		sms.tls = false;
		p = url + 7;
	} else {
		return -1;
	}
	pstart = p + strcspn(p, "/?#");
	if (*pstart == '#')
		return -1;
	if (*p == '[') {
		if ((hend = memchr(p, ']', (size_t)(pstart - p))) == NULL)
			return -1;
		hlen = (size_t)(hend - p - 1);
		if (hlen == 0 || hlen >= sizeof(sms.host))
			return -1;
		memcpy(sms.host, p + 1, hlen);
		sms.host[hlen] = '\0';
		hend++;
	} else {
		hend = memchr(p, ':', (size_t)(pstart - p));
		if (hend == NULL)
			hend = pstart;
		hlen = (size_t)(hend - p);
		if (hlen == 0 || hlen >= sizeof(sms.host))
			return -1;
		memcpy(sms.host, p, hlen);
		sms.host[hlen] = '\0';
	}
	if (hend < pstart) {
		if (*hend != ':')
			return -1;
		port = strtol(hend + 1, &end, 10);
		if (end != pstart || port < 1 || port > 65535)
			return -1;
		snprintf(sms.port, sizeof(sms.port), "%ld", port);
	} else {
		snprintf(sms.port, sizeof(sms.port), "%s", sms.tls ? "443" : "80");
	}
	snprintf(sms.path, sizeof(sms.path), "%s", *pstart == '\0' ? "/" : pstart);
	if (*pstart == '?')
		snprintf(sms.path, sizeof(sms.path), "/%s", pstart);
	if (strpbrk(sms.path, " \r\n") != NULL || strpbrk(sms.host, " \r\n/") != NULL)
		return -1;
	snprintf(sms.host_header, sizeof(sms.host_header), "%s%s%s:%s",
	         strchr(sms.host, ':') ? "[" : "", sms.host, strchr(sms.host, ':') ? "]" : "",
	         sms.port);
	return 0;
}

static int
configure_http(void)
{
	const char *url = yx_config_str("YX_SMS_HTTP_URL", NULL);
	const char *ca;
	long long v;

	if (url == NULL || parse_url(url) == -1) {
		fprintf(stderr, "YX_SMS_HTTP_URL: expected http(s)://host[:port][/path]\n");
		return -1;
	}
	if (yx_config_int("YX_SMS_HTTP_TIMEOUT_MS", 3000, 100, 30000, &v) == -1)
		return -1;
	sms.timeout_ms = (int)v;
	if (yx_config_int("YX_SMS_HTTP_QUEUE", 32, 1, 10000, &v) == -1)
		return -1;
	http_pool.cap = (unsigned)v;
	sms.template_id = yx_config_str("YX_SMS_HTTP_TEMPLATE", NULL);
	if (load_token() == -1)
		return -1;
	if (sms.tls) {
		ca = yx_config_str("YX_SMS_HTTP_CA_FILE", NULL);
		if ((sms.ssl_ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
		    SSL_CTX_set_min_proto_version(sms.ssl_ctx, TLS1_2_VERSION) != 1 ||
		    SSL_CTX_set_default_verify_paths(sms.ssl_ctx) != 1) {
			fprintf(stderr, "YX_SMS_HTTP_URL: cannot set up TLS\n");
			return -1;
		}
		if (ca != NULL && SSL_CTX_load_verify_locations(sms.ssl_ctx, ca, NULL) != 1) {
			fprintf(stderr, "YX_SMS_HTTP_CA_FILE: cannot load %s\n", ca);
			return -1;
		}
		SSL_CTX_set_verify(sms.ssl_ctx, SSL_VERIFY_PEER, NULL);
	}
	return 0;
}

/* The outbox must be writable now, not at the first login. */
static int
configure_file(void)
{
	int fd;

	snprintf(sms.outbox, sizeof(sms.outbox), "%s",
	         yx_config_str("YX_SMS_OUTBOX", "var/sms-outbox.jsonl"));
	fd = open(sms.outbox, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd == -1) {
		fprintf(stderr, "YX_SMS_OUTBOX: cannot open %s for appending: %s\n", sms.outbox,
		        strerror(errno));
		return -1;
	}
	close(fd);
	return 0;
}

static int
limit_int(const char *name, long long def, long long max, int64_t *out)
{
	long long v;

	if (yx_config_int(name, def, 1, max, &v) == -1)
		return -1;
	*out = v;
	return 0;
}

int
identity_sms_configure(void)
{
	const char *driver;

	if (yx_config_key("YX_SMS_KEY", sms.key, sizeof(sms.key)) == -1)
		return -1;
	if (limit_int("YX_SMS_CODE_TTL_SECONDS", 300, 3600, &identity_sms.code_ttl) == -1 ||
	    limit_int("YX_SMS_CODE_MAX_ATTEMPTS", 5, 100, &identity_sms.max_attempts) == -1 ||
	    limit_int("YX_SMS_PER_PHONE_MINUTE", 1, 1000000, &identity_sms.per_phone_minute) ==
	        -1 ||
	    limit_int("YX_SMS_PER_PHONE_HOUR", 5, 1000000, &identity_sms.per_phone_hour) == -1 ||
	    limit_int("YX_SMS_PER_PHONE_DAY", 10, 1000000, &identity_sms.per_phone_day) == -1 ||
	    limit_int("YX_SMS_PER_IP_HOUR", 30, 100000000, &identity_sms.per_ip_hour) == -1)
		return -1;
	if (script_sha() == -1)
		return -1;

	driver = yx_config_str("YX_SMS_DRIVER", "file");
	if (strcmp(driver, "file") == 0) {
		sms.driver = SMS_DRIVER_FILE;
		return configure_file();
	}
	if (strcmp(driver, "http") == 0) {
		sms.driver = SMS_DRIVER_HTTP;
		return configure_http();
	}
	fprintf(stderr, "YX_SMS_DRIVER: expected file or http\n");
	return -1;
}

int
identity_sms_code_new(char code[IDENTITY_SMS_CODE_LEN + 1])
{
	unsigned char b[4];
	uint32_t v;

	/* Rejection sampling: 4294000000 is the largest multiple of 10^6 below 2^32. */
	do {
		if (RAND_bytes(b, sizeof(b)) != 1)
			return -1;
		v = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
	} while (v >= 4294000000u);
	snprintf(code, IDENTITY_SMS_CODE_LEN + 1, "%06" PRIu32, v % 1000000u);
	OPENSSL_cleanse(b, sizeof(b));
	return 0;
}

int
identity_sms_code_hmac(const char *phone_idx, const char *code, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	char msg[160];
	int n;

	n = snprintf(msg, sizeof(msg), "%s:%s", phone_idx, code);
	if (n < 0 || (size_t)n >= sizeof(msg))
		return -1;
	if (HMAC(EVP_sha256(), sms.key, sizeof(sms.key), (const unsigned char *)msg, (size_t)n, md,
	         &len) == NULL ||
	    len != 32) {
		OPENSSL_cleanse(msg, sizeof(msg));
		return -1;
	}
	OPENSSL_cleanse(msg, sizeof(msg));
	return yx_hex_encode(md, len, out, 65);
}

/* Runs the limit script over keys; the wait in ms, or -1 without an answer. */
static int64_t
limit_eval(const char *rid, int nkeys, const char *const *keys, const int64_t *limits,
           const int64_t *windows)
{
	const char *argv[3 + 3 * 3];
	char nk[4], lim[3][24], win[3][24];
	redisReply *rep;
	int64_t wait = -1;
	int i, argc = 0;

	snprintf(nk, sizeof(nk), "%d", nkeys);
	argv[argc++] = "EVALSHA";
	argv[argc++] = limit_sha;
	argv[argc++] = nk;
	for (i = 0; i < nkeys; i++)
		argv[argc++] = keys[i];
	for (i = 0; i < nkeys; i++) {
		snprintf(lim[i], sizeof(lim[i]), "%" PRId64, limits[i]);
		argv[argc++] = lim[i];
	}
	for (i = 0; i < nkeys; i++) {
		snprintf(win[i], sizeof(win[i]), "%" PRId64, windows[i]);
		argv[argc++] = win[i];
	}
	rep = yx_redis_commandargv(yx_app.redis, argc, argv, NULL);
	if (rep == NULL && strncmp(yx_redis_last_error(yx_app.redis), "NOSCRIPT", 8) == 0) {
		/* Not cached on this server yet: EVAL caches it for the next EVALSHA. */
		argv[0] = "EVAL";
		argv[1] = limit_script;
		rep = yx_redis_commandargv(yx_app.redis, argc, argv, NULL);
	}
	if (rep == NULL) {
		yx_log(YX_LOG_WARN, rid, "sms_limit_unavailable", "%s",
		       yx_redis_last_error(yx_app.redis));
		return -1;
	}
	if (rep->type == REDIS_REPLY_INTEGER && rep->integer >= 0)
		wait = rep->integer;
	freeReplyObject(rep);
	return wait;
}

static enum identity_sms_limit
limit_result(int64_t wait_ms, int64_t *retry_after)
{
	if (wait_ms < 0)
		return IDENTITY_SMS_UNAVAILABLE;
	if (wait_ms == 0)
		return IDENTITY_SMS_ALLOWED;
	*retry_after = (wait_ms + 999) / 1000;
	return IDENTITY_SMS_LIMITED;
}

enum identity_sms_limit
identity_sms_limit(const char *rid, const char *phone_idx, const char *ip, int64_t *retry_after)
{
	char kip[160], km[128], kh[128], kd[128];
	const char *keys[3];
	int64_t limits[3], windows[3];
	enum identity_sms_limit rc;

	*retry_after = 0;
	if (yx_app.redis == NULL)
		return IDENTITY_SMS_UNAVAILABLE;
	/* The address first: a refused address spends nothing of the phone's quota. */
	if (ip[0] != '\0') {
		if (yx_redis_key(yx_app.redis, kip, sizeof(kip), "{smsip:%s}:h", ip) == -1)
			return IDENTITY_SMS_UNAVAILABLE;
		keys[0] = kip;
		limits[0] = identity_sms.per_ip_hour;
		windows[0] = 3600;
		rc = limit_result(limit_eval(rid, 1, keys, limits, windows), retry_after);
		if (rc != IDENTITY_SMS_ALLOWED)
			return rc;
	}
	if (yx_redis_key(yx_app.redis, km, sizeof(km), "{sms:%s}:m", phone_idx) == -1 ||
	    yx_redis_key(yx_app.redis, kh, sizeof(kh), "{sms:%s}:h", phone_idx) == -1 ||
	    yx_redis_key(yx_app.redis, kd, sizeof(kd), "{sms:%s}:d", phone_idx) == -1)
		return IDENTITY_SMS_UNAVAILABLE;
	keys[0] = km;
	keys[1] = kh;
	keys[2] = kd;
	limits[0] = identity_sms.per_phone_minute;
	limits[1] = identity_sms.per_phone_hour;
	limits[2] = identity_sms.per_phone_day;
	windows[0] = 60;
	windows[1] = 3600;
	windows[2] = 86400;
	return limit_result(limit_eval(rid, 3, keys, limits, windows), retry_after);
}

/* --- file driver ------------------------------------------------------------ */

/* One line, one write(2) with O_APPEND: lines of concurrent workers never mix. */
static int
send_file(const char *phone, const char *code)
{
	char sent_at[32], *line;
	struct yx_jw w;
	struct tm tm;
	time_t now = time(NULL);
	size_t len;
	ssize_t n;
	int fd;

	gmtime_r(&now, &tm);
	strftime(sent_at, sizeof(sent_at), "%Y-%m-%dT%H:%M:%SZ", &tm);
	yx_jw_init(&w);
	yx_jw_obj_open(&w);
	yx_jw_kv_str(&w, "phone", phone);
	yx_jw_kv_str(&w, "code", code);
	yx_jw_kv_str(&w, "sent_at", sent_at);
	yx_jw_obj_close(&w);
	if ((line = yx_jw_finish(&w, &len)) == NULL) {
		yx_jw_free(&w);
		return -1;
	}
	yx_jw_free(&w);
	line[len] = '\n'; /* over the NUL: the buffer holds len + 1 bytes */

	fd = open(sms.outbox, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd == -1) {
		free(line);
		yx_log(YX_LOG_ERROR, NULL, "sms_outbox", "cannot open the outbox: %s",
		       strerror(errno));
		return -1;
	}
	n = write(fd, line, len + 1);
	close(fd);
	OPENSSL_cleanse(line, len);
	free(line);
	if (n != (ssize_t)(len + 1)) {
		yx_log(YX_LOG_ERROR, NULL, "sms_outbox", "short write to the outbox");
		return -1;
	}
	return 0;
}

/* --- http driver ------------------------------------------------------------ */

/* Results of a delivery job besides the HTTP status. */
#define SMS_HTTP_ERR_RESOLVE -1
#define SMS_HTTP_ERR_CONNECT -2
#define SMS_HTTP_ERR_TLS     -3
#define SMS_HTTP_ERR_IO      -4
#define SMS_HTTP_ERR_REPLY   -5

struct http_job {
	char *request; /* the whole HTTP request */
	size_t len;
};

/* A connected socket to one of the addresses, within the timeout, or -1. */
static int
connect_within(const struct addrinfo *a, int timeout_ms)
{
	struct pollfd pfd;
	struct timeval tv;
	socklen_t sl;
	int fd, err, fl;

	if ((fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	fl = fcntl(fd, F_GETFL);
	if (fl == -1 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1)
		goto fail;
	if (connect(fd, a->ai_addr, a->ai_addrlen) == -1) {
		if (errno != EINPROGRESS)
			goto fail;
		pfd.fd = fd;
		pfd.events = POLLOUT;
		if (poll(&pfd, 1, timeout_ms) != 1)
			goto fail;
		err = 0;
		sl = sizeof(err);
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl) == -1 || err != 0)
			goto fail;
	}
	if (fcntl(fd, F_SETFL, fl) == -1)
		goto fail;
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == -1)
		goto fail;
	return fd;
fail:
	close(fd);
	return -1;
}

/* "HTTP/1.x NNN ..." at the start of buf: NNN, or SMS_HTTP_ERR_REPLY. */
static int
status_of(const char *buf, size_t n)
{
	if (n < 12 || strncmp(buf, "HTTP/1.", 7) != 0 || buf[8] != ' ' || buf[9] < '1' ||
	    buf[9] > '5' || buf[10] < '0' || buf[10] > '9' || buf[11] < '0' || buf[11] > '9')
		return SMS_HTTP_ERR_REPLY;
	return (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
}

/* Sends the request and reads the status line, over TLS or not. */
static int
exchange(int fd, const struct http_job *j)
{
	char buf[64];
	size_t off = 0, got = 0;
	ssize_t n;
	SSL *ssl = NULL;
	struct in6_addr a6;
	struct in_addr a4;
	bool ip;
	int rc = SMS_HTTP_ERR_IO;

	if (sms.tls) {
		ip = inet_pton(AF_INET, sms.host, &a4) == 1 ||
		     inet_pton(AF_INET6, sms.host, &a6) == 1;
		if ((ssl = SSL_new(sms.ssl_ctx)) == NULL || SSL_set_fd(ssl, fd) != 1 ||
		    (!ip && SSL_set_tlsext_host_name(ssl, sms.host) != 1) ||
		    (!ip && SSL_set1_host(ssl, sms.host) != 1) ||
		    (ip && X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), sms.host) != 1) ||
		    SSL_connect(ssl) != 1) {
			rc = SMS_HTTP_ERR_TLS;
			goto out;
		}
	}
	while (off < j->len) {
		if (ssl != NULL)
			n = SSL_write(ssl, j->request + off, (int)(j->len - off));
		else
			n = send(fd, j->request + off, j->len - off, MSG_NOSIGNAL);
		if (n <= 0)
			goto out;
		off += (size_t)n;
	}
	while (got < sizeof(buf) - 1 && memchr(buf, '\n', got) == NULL) {
		if (ssl != NULL)
			n = SSL_read(ssl, buf + got, (int)(sizeof(buf) - 1 - got));
		else
			n = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	rc = got > 0 ? status_of(buf, got) : SMS_HTTP_ERR_IO;
out:
	if (ssl != NULL) {
		SSL_free(ssl);
		ERR_clear_error();
	}
	return rc;
}

/* On a task thread: the HTTP status of the provider's answer, or < 0. */
static int
http_run(void *p)
{
	const struct http_job *j = p;
	struct addrinfo hints, *res, *a;
	int fd = -1, rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	/* No AI_ADDRCONFIG: its netlink socket is outside the worker sandbox. */
	if (getaddrinfo(sms.host, sms.port, &hints, &res) != 0)
		return SMS_HTTP_ERR_RESOLVE;
	for (a = res; a != NULL && fd == -1; a = a->ai_next)
		fd = connect_within(a, sms.timeout_ms);
	freeaddrinfo(res);
	if (fd == -1)
		return SMS_HTTP_ERR_CONNECT;
	rc = exchange(fd, j);
	close(fd);
	return rc;
}

static void
http_job_free(void *p)
{
	struct http_job *j = p;

	if (j == NULL)
		return;
	OPENSSL_cleanse(j->request, j->len);
	free(j->request);
	free(j);
}

/* The POST of the code to the provider, built on the worker thread. */
static struct http_job *
http_job_new(const char *phone, const char *code)
{
	struct http_job *j;
	struct yx_jw w;
	char *body;
	size_t blen;
	int n;

	yx_jw_init(&w);
	yx_jw_obj_open(&w);
	yx_jw_kv_str(&w, "phone", phone);
	yx_jw_kv_str(&w, "code", code);
	yx_jw_kv_int(&w, "ttl_seconds", identity_sms.code_ttl);
	if (sms.template_id != NULL)
		yx_jw_kv_str(&w, "template", sms.template_id);
	yx_jw_obj_close(&w);
	body = yx_jw_finish(&w, &blen);
	yx_jw_free(&w);
	if (body == NULL)
		return NULL;
	if ((j = calloc(1, sizeof(*j))) == NULL)
		fatal("out of memory");
	n = asprintf(&j->request,
	             "POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: yx-identity\r\n"
	             "Content-Type: application/json\r\nContent-Length: %zu\r\n%s%s%s"
	             "Connection: close\r\n\r\n%s",
	             sms.path, sms.host_header, blen, sms.token ? "Authorization: Bearer " : "",
	             sms.token ? sms.token : "", sms.token ? "\r\n" : "", body);
	OPENSSL_cleanse(body, blen);
	free(body);
	if (n < 0)
		fatal("out of memory");
	j->len = (size_t)n;
	return j;
}

enum identity_sms_send
identity_sms_send(struct http_request *req, const char *phone, const char *code,
                  struct identity_job **job)
{
	struct http_job *j;

	*job = NULL;
	if (sms.driver == SMS_DRIVER_FILE)
		return send_file(phone, code) == 0 ? IDENTITY_SMS_SENT : IDENTITY_SMS_FAILED;
	if ((j = http_job_new(phone, code)) == NULL)
		return IDENTITY_SMS_FAILED;
	*job = identity_job_start(req, &http_pool, http_run, j, http_job_free);
	return *job != NULL ? IDENTITY_SMS_STARTED : IDENTITY_SMS_BUSY;
}

bool
identity_sms_delivered(int job_result)
{
	return job_result >= 200 && job_result <= 299;
}
