/*
 * The C ABI of libmisp_enrich, called from C with every edge case a C caller
 * can produce (issue 7). Built by tests/c-harness with gcc against
 * include/misp_enrich.h and target/release/libmisp_enrich.so, and run under
 * valgrind (memcheck): no invalid read or write, no definite leak.
 *
 * It starts its own memcached (a child process, not traced by valgrind) and
 * its own fake servers on loopback: one that never answers, one that sends
 * garbage, and a port nobody listens on.
 *
 * Error and output buffers are malloc'd at exactly the capacity passed, so
 * any write past them is an invalid write under valgrind. Outputs the
 * library must leave alone on failure are preset to sentinels and checked.
 *
 * Usage: harness <tsv file for docs/RELIABILITY.md rows>
 * Exit status: 0 when every check passed.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "misp_enrich.h"

/* ---- checks and the record ------------------------------------------------ */

static int failures;
static int group_checks, group_failures;
static FILE *tsv;

#define CHECK(cond, ...)                                                        \
  do {                                                                          \
    group_checks++;                                                             \
    if (!(cond)) {                                                              \
      group_failures++;                                                         \
      failures++;                                                               \
      fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);           \
      fprintf(stderr, __VA_ARGS__);                                             \
      fputc('\n', stderr);                                                      \
    }                                                                           \
  } while (0)

static void group_begin(void) { group_checks = group_failures = 0; }

/* One row: what was called, what was checked, the result. */
static void group_end(const char *what, const char *checked) {
  fprintf(stderr, "%s %s (%d checks)\n", group_failures ? "FAIL" : "ok  ", what, group_checks);
  if (tsv)
    fprintf(tsv, "%s\t%s\t%s: %d checks%s\n", what, checked, group_failures ? "FAIL" : "pass",
            group_checks, group_failures ? ", see the harness output" : "");
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Valid UTF-8 (the library cuts messages on character boundaries). */
static int utf8_ok(const uint8_t *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint8_t c = s[i];
    size_t k = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (k == 0 || i + k > n) return 0;
    for (size_t j = 1; j < k; j++)
      if ((s[i + j] & 0xC0) != 0x80) return 0;
    i += k;
  }
  return 1;
}

/* ---- servers ---------------------------------------------------------------- */

static int listen_on(uint16_t *port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, (struct sockaddr *)&a, sizeof a) || listen(fd, 16)) {
    perror("bind");
    exit(2);
  }
  socklen_t len = sizeof a;
  getsockname(fd, (struct sockaddr *)&a, &len);
  *port = ntohs(a.sin_port);
  return fd;
}

static uint16_t closed_port(void) {
  uint16_t port;
  close(listen_on(&port));
  return port;
}

static int connect_to(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&a, sizeof a)) {
    close(fd);
    return -1;
  }
  return fd;
}

static pid_t memcached_pid;
static uint16_t memcached_port;

static void start_memcached(void) {
  memcached_port = closed_port();
  char port[16];
  snprintf(port, sizeof port, "%u", memcached_port);
  memcached_pid = fork();
  if (memcached_pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the harness, even if it crashes */
    execlp("memcached", "memcached", "-l", "127.0.0.1", "-p", port, "-U", "0", "-u", "root", (char *)NULL);
    _exit(127);
  }
  for (int i = 0; i < 500; i++) {
    int fd = connect_to(memcached_port);
    if (fd >= 0) {
      close(fd);
      return;
    }
    usleep(20000);
  }
  fprintf(stderr, "memcached did not start\n");
  exit(2);
}

static void stop_memcached(void) {
  if (memcached_pid > 0) {
    kill(memcached_pid, SIGKILL);
    waitpid(memcached_pid, NULL, 0);
    memcached_pid = 0;
  }
}

/* Sends a command to memcached and checks the first reply line. */
static void memcached_command(const char *cmd, size_t len, const char *expect) {
  int fd = connect_to(memcached_port);
  if (fd < 0 || write(fd, cmd, len) != (ssize_t)len) {
    fprintf(stderr, "cannot talk to memcached\n");
    exit(2);
  }
  char reply[256] = {0};
  ssize_t n = read(fd, reply, sizeof reply - 1);
  close(fd);
  if (n <= 0 || strncmp(reply, expect, strlen(expect)) != 0) {
    fprintf(stderr, "memcached said %s to %.*s\n", reply, (int)len, cmd);
    exit(2);
  }
}

static void memcached_set(const char *key, const char *value) {
  char cmd[512];
  int n = snprintf(cmd, sizeof cmd, "set %s 0 0 %zu\r\n%s\r\n", key, strlen(value), value);
  memcached_command(cmd, (size_t)n, "STORED");
}

/* A fake server: accepts, then either never answers (garbage == NULL) or
 * answers each read with `garbage` and closes. */
struct fake {
  int fd;
  uint16_t port;
  const char *garbage;
  pthread_t thread;
};

static void *fake_serve(void *arg) {
  struct fake *f = arg;
  int held[64];
  int nheld = 0;
  for (;;) {
    int c = accept(f->fd, NULL, NULL);
    if (c < 0) break;
    if (!f->garbage) {
      if (nheld < 64) held[nheld++] = c; /* keep it open, say nothing */
      else close(c);
      continue;
    }
    char buf[4096];
    if (read(c, buf, sizeof buf) > 0) {
      ssize_t w = write(c, f->garbage, strlen(f->garbage));
      (void)w;
    }
    close(c);
  }
  for (int i = 0; i < nheld; i++) close(held[i]);
  return NULL;
}

static void fake_start(struct fake *f, const char *garbage) {
  f->garbage = garbage;
  f->fd = listen_on(&f->port);
  pthread_create(&f->thread, NULL, fake_serve, f);
}

static void fake_stop(struct fake *f) {
  shutdown(f->fd, SHUT_RDWR);
  close(f->fd);
  pthread_join(f->thread, NULL);
}

/* ---- library helpers ---------------------------------------------------------- */

static MispEnrichEngine *const SENTINEL_ENGINE = (MispEnrichEngine *)(uintptr_t)0x5e5e;
static uint8_t *const SENTINEL_BUF = (uint8_t *)(uintptr_t)0x5e5e;

static MispEnrichEngine *engine_for(const char *json) {
  MispEnrichEngine *e = NULL;
  uint8_t err[512];
  size_t err_len = 0;
  MispEnrichStatus s = misp_enrich_engine_new((const uint8_t *)json, strlen(json), &e, err, sizeof err, &err_len);
  if (s != MISP_ENRICH_STATUS_OK || !e) {
    fprintf(stderr, "engine_new(%s) = %u: %.*s\n", json, s, (int)err_len, err);
    exit(2);
  }
  return e;
}

static int ns_id(const char *name) {
  const char *table = misp_enrich_namespaces();
  int id = 0;
  size_t n = strlen(name);
  for (const char *p = table; *p; id++) {
    const char *end = strchr(p, '\n');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    if (len == n && memcmp(p, name, n) == 0) return id;
    if (!end) break;
    p = end + 1;
  }
  return -1;
}

/* A batch buffer (MEL1) being built. */
struct batch {
  uint8_t *data;
  size_t len, cap;
  uint32_t count;
};

static void put(struct batch *b, const void *bytes, size_t n) {
  if (b->len + n > b->cap) {
    b->cap = (b->len + n) * 2 + 64;
    b->data = realloc(b->data, b->cap);
  }
  memcpy(b->data + b->len, bytes, n);
  b->len += n;
}

static void put_u32(struct batch *b, uint32_t v) {
  uint8_t le[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
  put(b, le, 4);
}

static void batch_begin(struct batch *b) {
  memset(b, 0, sizeof *b);
  put(b, "MEL1", 4);
  put_u32(b, 0);
}

static void batch_item(struct batch *b, uint32_t slot, int ns, const void *value, size_t n) {
  uint8_t id = (uint8_t)ns;
  put_u32(b, slot);
  put(b, &id, 1);
  put_u32(b, (uint32_t)n);
  put(b, value, n);
  b->count++;
  uint8_t le[4] = {(uint8_t)b->count, (uint8_t)(b->count >> 8), (uint8_t)(b->count >> 16), (uint8_t)(b->count >> 24)};
  memcpy(b->data + 4, le, 4);
}

/* One record of a result (MER1), read with bounds checks. */
struct record {
  uint32_t slot;
  int failed;
  uint32_t matches;
  char first_value[128]; /* the first match's value */
  uint8_t first_kind;
  char first_event[32]; /* its first entry's event id */
};

static uint32_t rd_u32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Parses a result; returns the number of records (up to max), or -1 when
 * the buffer breaks the format anywhere (including bytes after its end). */
static int parse_result(const uint8_t *buf, size_t len, struct record *out, int max) {
  size_t at = 0;
#define NEED(n) do { if ((n) > len - at) return -1; } while (0)
  NEED(8);
  if (memcmp(buf, "MER1", 4) != 0) return -1;
  at = 4;
  uint32_t records = rd_u32(buf + at);
  at += 4;
  int kept = 0;
  for (uint32_t r = 0; r < records; r++) {
    struct record rec = {0};
    NEED(9);
    rec.slot = rd_u32(buf + at);
    uint8_t flags = buf[at + 4];
    if (flags > 1) return -1;
    rec.failed = flags & 1;
    rec.matches = rd_u32(buf + at + 5);
    at += 9;
    for (uint32_t m = 0; m < rec.matches; m++) {
      NEED(6);
      uint8_t kind = buf[at + 1];
      if (kind > 2) return -1;
      uint32_t vlen = rd_u32(buf + at + 2);
      at += 6;
      NEED(vlen);
      if (m == 0) {
        rec.first_kind = kind;
        snprintf(rec.first_value, sizeof rec.first_value, "%.*s", (int)(vlen < 127 ? vlen : 127), buf + at);
      }
      at += vlen;
      NEED(4);
      uint32_t entries = rd_u32(buf + at);
      at += 4;
      for (uint32_t e = 0; e < entries; e++) {
        for (int part = 0; part < 2; part++) {
          NEED(4);
          uint32_t l = rd_u32(buf + at);
          at += 4;
          NEED(l);
          if (m == 0 && e == 0 && part == 0)
            snprintf(rec.first_event, sizeof rec.first_event, "%.*s", (int)(l < 31 ? l : 31), buf + at);
          at += l;
        }
      }
    }
    if (kept < max) out[kept] = rec;
    kept++;
  }
  NEED(4);
  uint32_t events = rd_u32(buf + at);
  at += 4;
  for (uint32_t e = 0; e < events; e++)
    for (int part = 0; part < 2; part++) {
      NEED(4);
      uint32_t l = rd_u32(buf + at);
      at += 4;
      NEED(l);
      at += l;
    }
#undef NEED
  return at == len ? kept : -1;
}

/* Looks up a batch; returns the status, fills records (count in *n). */
static MispEnrichStatus run_lookup(const MispEnrichEngine *e, const struct batch *b, struct record *recs, int max, int *n) {
  uint8_t *out = SENTINEL_BUF;
  size_t out_len = 12345;
  uint8_t err[256];
  size_t err_len = 99;
  MispEnrichStatus s = misp_enrich_engine_lookup(e, b->data, b->len, &out, &out_len, err, sizeof err, &err_len);
  *n = -1;
  if (s == MISP_ENRICH_STATUS_OK) {
    CHECK(out != SENTINEL_BUF && out != NULL && err_len == 0, "outputs on success");
    *n = parse_result(out, out_len, recs, max);
    CHECK(*n >= 0, "result buffer follows MER1");
    misp_enrich_buffer_free(out, out_len);
  } else {
    CHECK(out == SENTINEL_BUF && out_len == 12345, "result left alone on failure");
  }
  return s;
}

static const struct record *find(const struct record *recs, int n, uint32_t slot) {
  for (int i = 0; i < n; i++)
    if (recs[i].slot == slot) return &recs[i];
  return NULL;
}

/* ---- the checks ------------------------------------------------------------------ */

static int IP, DOMAIN, URL, HASHES, UA;

static void test_static(void) {
  group_begin();
  const char *v = misp_enrich_version();
  CHECK(v && strlen(v) >= 5 && v[0] >= '0' && v[0] <= '9', "version %s", v ? v : "(null)");
  const char *t = misp_enrich_namespaces();
  CHECK(t != NULL, "namespaces");
  int lines = 1;
  for (const char *p = t; p && *p; p++) lines += *p == '\n';
  CHECK(lines >= 24, "%d namespaces", lines);
  CHECK(IP >= 0 && DOMAIN >= 0 && URL >= 0 && HASHES == lines - 1 && UA >= 0, "ids ip %d hashes %d", IP, HASHES);
  CHECK(misp_enrich_version() == v && misp_enrich_namespaces() == t, "static strings stay put");
  misp_enrich_buffer_free(NULL, 0);
  misp_enrich_buffer_free(NULL, 4096);
  misp_enrich_engine_free(NULL);
  group_end("misp_enrich_version, misp_enrich_namespaces, frees of NULL",
            "static NUL-terminated strings, stable; hashes is the last id; buffer_free(NULL, n) and engine_free(NULL) are no-ops");
}

static void test_engine_new(void) {
  group_begin();
  char ok_json[256];
  snprintf(ok_json, sizeof ok_json, "{\"servers\":[\"127.0.0.1:%u\"],\"range_refresh_ms\":0}", memcached_port);
  uint8_t err[512];
  size_t err_len;
  MispEnrichEngine *e;
  MispEnrichStatus s;

  err_len = 77;
  s = misp_enrich_engine_new((const uint8_t *)ok_json, strlen(ok_json), NULL, err, sizeof err, &err_len);
  CHECK(s == MISP_ENRICH_STATUS_INVALID_ARGUMENT && err_len > 0 && err_len <= sizeof err, "engine_out NULL: %u", s);

  e = SENTINEL_ENGINE;
  s = misp_enrich_engine_new(NULL, 0, &e, err, sizeof err, &err_len);
  CHECK(s == MISP_ENRICH_STATUS_INVALID_CONFIG && e == SENTINEL_ENGINE, "config NULL, 0: %u", s);
  s = misp_enrich_engine_new(NULL, 10, &e, err, sizeof err, &err_len);
  CHECK(s == MISP_ENRICH_STATUS_INVALID_ARGUMENT && e == SENTINEL_ENGINE, "config NULL, 10: %u", s);
  s = misp_enrich_engine_new((const uint8_t *)ok_json, SIZE_MAX, &e, err, sizeof err, &err_len);
  CHECK(s == MISP_ENRICH_STATUS_INVALID_ARGUMENT && e == SENTINEL_ENGINE, "config length SIZE_MAX: %u", s);
  s = misp_enrich_engine_new((const uint8_t *)"{\"servers\":[\"\xff\xfe\"]}", 17, &e, err, sizeof err, &err_len);
  CHECK(s == MISP_ENRICH_STATUS_NOT_UTF8 && e == SENTINEL_ENGINE && err_len > 0, "non-UTF-8 config: %u", s);
  s = misp_enrich_engine_new((const uint8_t *)"not json", 8, &e, err, sizeof err, &err_len);
  CHECK(s == MISP_ENRICH_STATUS_INVALID_CONFIG && e == SENTINEL_ENGINE && err_len > 0, "not JSON: %u", s);
  const char *unknown = "{\"servers\":[\"127.0.0.1:1\"],\"cache_sise\":1}";
  s = misp_enrich_engine_new((const uint8_t *)unknown, strlen(unknown), &e, err, sizeof err, &err_len);
  CHECK(s == MISP_ENRICH_STATUS_INVALID_CONFIG && err_len > 0 && memmem(err, err_len, "cache_sise", 10) != NULL,
        "unknown field named: %.*s", (int)err_len, err);
  const char *huge = "{\"servers\":[\"127.0.0.1:1\"],\"max_idle_connections\":18446744073709551615}";
  s = misp_enrich_engine_new((const uint8_t *)huge, strlen(huge), &e, err, sizeof err, &err_len);
  CHECK(s == MISP_ENRICH_STATUS_INVALID_CONFIG && e == SENTINEL_ENGINE, "absurd max_idle_connections: %u", s);
  /* No error buffer at all, or no length: statuses still come back. */
  s = misp_enrich_engine_new((const uint8_t *)"[]", 2, &e, NULL, 100, NULL);
  CHECK(s == MISP_ENRICH_STATUS_INVALID_CONFIG && e == SENTINEL_ENGINE, "err NULL: %u", s);
  err_len = 5;
  s = misp_enrich_engine_new((const uint8_t *)"[]", 2, &e, NULL, 0, &err_len);
  CHECK(s == MISP_ENRICH_STATUS_INVALID_CONFIG && err_len == 0, "err NULL, len reported 0: %zu", err_len);

  /* Error buffers of every small size, exactly allocated: a message with
   * multi-byte characters is cut on a character boundary, never overflows. */
  const char *multibyte = "{\"servers\":[\"127.0.0.1:1\"],\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x92\xa5\":1}";
  for (size_t cap = 0; cap <= 48; cap++) {
    uint8_t *small = cap ? malloc(cap) : NULL;
    err_len = SIZE_MAX;
    s = misp_enrich_engine_new((const uint8_t *)multibyte, strlen(multibyte), &e, small, cap, &err_len);
    CHECK(s == MISP_ENRICH_STATUS_INVALID_CONFIG && err_len <= cap && (err_len == 0 || utf8_ok(small, err_len)),
          "cap %zu: status %u len %zu", cap, s, err_len);
    free(small);
  }

  err_len = 99;
  e = NULL;
  s = misp_enrich_engine_new((const uint8_t *)ok_json, strlen(ok_json), &e, err, sizeof err, &err_len);
  CHECK(s == MISP_ENRICH_STATUS_OK && e != NULL && err_len == 0, "valid config: %u", s);
  misp_enrich_engine_free(e);
  /* Engines with the range refresher thread, created and freed repeatedly. */
  char refresh_json[256];
  snprintf(refresh_json, sizeof refresh_json,
           "{\"servers\":[\"127.0.0.1:%u\"],\"range_refresh_ms\":5,\"breaker_backoff_ms\":5}", memcached_port);
  for (int i = 0; i < 10; i++) {
    e = NULL;
    s = misp_enrich_engine_new((const uint8_t *)refresh_json, strlen(refresh_json), &e, NULL, 0, NULL);
    CHECK(s == MISP_ENRICH_STATUS_OK && e, "engine with refresher: %u", s);
    usleep(20000);
    misp_enrich_engine_free(e);
  }
  group_end("misp_enrich_engine_new, misp_enrich_engine_free",
            "NULL engine_out / config, length SIZE_MAX, non-UTF-8, not JSON, unknown field (named), absurd "
            "max_idle_connections, NULL error buffer and length, error buffers of 0-48 bytes (exact allocation, "
            "UTF-8 cut), engine_out untouched on failure; 10 engines with refresher threads created and freed");
}

static void test_lookup_edges(const MispEnrichEngine *e) {
  group_begin();
  struct batch b;
  batch_begin(&b);
  batch_item(&b, 0, IP, "203.0.113.7", 11);
  uint8_t *out = SENTINEL_BUF;
  size_t out_len = 12345;
  uint8_t err[256];
  size_t err_len;
  MispEnrichStatus s;

  s = misp_enrich_engine_lookup(NULL, b.data, b.len, &out, &out_len, err, sizeof err, &err_len);
  CHECK(s == MISP_ENRICH_STATUS_INVALID_ARGUMENT, "engine NULL: %u", s);
  s = misp_enrich_engine_lookup(e, b.data, b.len, NULL, &out_len, err, sizeof err, &err_len);
  CHECK(s == MISP_ENRICH_STATUS_INVALID_ARGUMENT, "result_out NULL: %u", s);
  s = misp_enrich_engine_lookup(e, b.data, b.len, &out, NULL, err, sizeof err, &err_len);
  CHECK(s == MISP_ENRICH_STATUS_INVALID_ARGUMENT, "result_len NULL: %u", s);
  s = misp_enrich_engine_lookup(e, NULL, 5, &out, &out_len, err, sizeof err, &err_len);
  CHECK(s == MISP_ENRICH_STATUS_INVALID_ARGUMENT, "batch NULL, 5: %u", s);
  s = misp_enrich_engine_lookup(e, b.data, SIZE_MAX, &out, &out_len, err, sizeof err, &err_len);
  CHECK(s == MISP_ENRICH_STATUS_INVALID_ARGUMENT, "batch length SIZE_MAX: %u", s);
  s = misp_enrich_engine_lookup(e, NULL, 0, &out, &out_len, err, sizeof err, &err_len);
  CHECK(s == MISP_ENRICH_STATUS_MALFORMED_BATCH && err_len > 0, "batch NULL, 0: %u", s);
  CHECK(out == SENTINEL_BUF && out_len == 12345, "outputs untouched on failure");

  /* Malformed buffers: each a status and a message, never a read past them
   * (every buffer is malloc'd at its exact size). */
  struct {
    const char *bytes;
    size_t len;
    const char *what;
  } bad[] = {
      {"MEL", 3, "short magic"},
      {"MEL2\0\0\0\0", 8, "wrong magic"},
      {"MEL1\xff\xff\xff\xff", 8, "count 2^32-1"},
      {"MEL1\x01\0\0\0", 8, "count without items"},
      {"MEL1\x01\0\0\0\0\0\0\0\x0a\xff\xff\xff\xff", 17, "value length 2^32-1"},
      {"MEL1\x01\0\0\0\0\0\0\0\x0a\x05\0\0\0abc", 20, "value cut short"},
      {"MEL1\x01\0\0\0\0\0\0\0\xc8\x01\0\0\0a", 18, "unknown namespace id 200"},
      {"MEL1\0\0\0\0x", 9, "trailing byte"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    uint8_t *copy = malloc(bad[i].len);
    memcpy(copy, bad[i].bytes, bad[i].len);
    out = SENTINEL_BUF;
    err_len = 0;
    s = misp_enrich_engine_lookup(e, copy, bad[i].len, &out, &out_len, err, sizeof err, &err_len);
    CHECK(s == MISP_ENRICH_STATUS_MALFORMED_BATCH && err_len > 0 && out == SENTINEL_BUF && utf8_ok(err, err_len),
          "%s: status %u", bad[i].what, s);
    free(copy);
  }
  /* Tiny error buffers for a malformed batch. */
  for (size_t cap = 0; cap <= 40; cap++) {
    uint8_t *small = cap ? malloc(cap) : NULL;
    err_len = SIZE_MAX;
    s = misp_enrich_engine_lookup(e, (const uint8_t *)"MEL2", 4, &out, &out_len, small, cap, &err_len);
    CHECK(s == MISP_ENRICH_STATUS_MALFORMED_BATCH && err_len <= cap, "cap %zu: len %zu", cap, err_len);
    free(small);
  }
  s = misp_enrich_engine_lookup(e, (const uint8_t *)"MEL2", 4, &out, &out_len, NULL, 0, NULL);
  CHECK(s == MISP_ENRICH_STATUS_MALFORMED_BATCH, "no error buffer: %u", s);

  /* The empty batch. */
  out = NULL;
  s = misp_enrich_engine_lookup(e, (const uint8_t *)"MEL1\0\0\0\0", 8, &out, &out_len, err, sizeof err, &err_len);
  CHECK(s == MISP_ENRICH_STATUS_OK && out_len == 12 && memcmp(out, "MER1\0\0\0\0\0\0\0\0", 12) == 0,
        "empty batch: %u, %zu bytes", s, out_len);
  if (s == MISP_ENRICH_STATUS_OK) misp_enrich_buffer_free(out, out_len);
  free(b.data);
  group_end("misp_enrich_engine_lookup: arguments and malformed batches",
            "NULL engine / result_out / result_len / batch, length SIZE_MAX, 8 malformed buffers (exact "
            "allocation), error buffers of 0-40 bytes, outputs untouched on failure, the empty batch");
}

static void test_lookups(const MispEnrichEngine *e) {
  group_begin();
  struct batch b;
  batch_begin(&b);
  batch_item(&b, 0, IP, "203.0.113.7", 11);
  batch_item(&b, 1, IP, "\xff\xfe\xfd", 3);
  batch_item(&b, 2, DOMAIN, "A.EVIL.EXAMPLE.", 15);
  batch_item(&b, 3, HASHES, "SHA256=\r\nflush_all,MD5=x", 24);
  batch_item(&b, 4, IP, "203.0.113.7\r\nflush_all\r\n", 24);
  batch_item(&b, 5, UA, "x\r\ndelete misp-ip:203.0.113.7\r\n", 31);
  batch_item(&b, 6, URL, "", 0);
  batch_item(&b, 7, IP, "\0\0\0\0", 4);
  size_t big = 1 << 20;
  char *mb = malloc(big);
  memset(mb, 'a', big);
  batch_item(&b, 8, DOMAIN, mb, big);
  batch_item(&b, 0, DOMAIN, "evil.example", 12); /* slot 0 again, not adjacent */
  free(mb);
  struct record recs[16];
  int n;
  MispEnrichStatus s = run_lookup(e, &b, recs, 16, &n);
  CHECK(s == MISP_ENRICH_STATUS_OK, "lookup: %u", s);
  const struct record *r0 = find(recs, n, 0), *r2 = find(recs, n, 2);
  CHECK(n == 2, "%d records (slots 0 and 2 only)", n);
  CHECK(r0 && !r0->failed && r0->matches == 2 && strcmp(r0->first_value, "203.0.113.7") == 0 &&
            r0->first_kind == 0 && strcmp(r0->first_event, "7") == 0,
        "slot 0: exact 203.0.113.7 -> 7, and evil.example");
  CHECK(r2 && !r2->failed && r2->matches == 1 && strcmp(r2->first_value, "evil.example") == 0 && r2->first_kind == 2,
        "slot 2: suffix evil.example");
  free(b.data);

  /* 100,001 items in one call: the indicator first, then 100,000 other
     values. The indicator is answered from the cache (the batch above
     looked it up); of the rest, max_lookups_per_batch (10,000 by default)
     keys are asked and the 90,000 past the cap come back failed. */
  batch_begin(&b);
  batch_item(&b, 0, IP, "203.0.113.7", 11);
  char ip[32];
  for (uint32_t i = 1; i <= 100000; i++) {
    int len = snprintf(ip, sizeof ip, "10.%u.%u.%u", (i >> 16) & 255, (i >> 8) & 255, i & 255);
    batch_item(&b, i, IP, ip, (size_t)len);
  }
  s = run_lookup(e, &b, recs, 16, &n);
  CHECK(s == MISP_ENRICH_STATUS_OK && n == 1 + 90000 && recs[0].slot == 0 && !recs[0].failed && recs[0].matches == 1 &&
            recs[1].slot == 10001 && recs[1].failed,
        "100,001 items: %u, %d records, first slots %u %u", s, n, recs[0].slot, recs[1].slot);
  free(b.data);

  /* Memcached is untouched by the values above. */
  int fd = connect_to(memcached_port);
  const char *get = "get misp-ip:203.0.113.7 misp-domain:evil.example\r\n";
  ssize_t w = write(fd, get, strlen(get));
  (void)w;
  char reply[512] = {0};
  size_t got = 0;
  while (got < sizeof reply - 1 && !strstr(reply, "END\r\n")) {
    ssize_t r = read(fd, reply + got, sizeof reply - 1 - got);
    if (r <= 0) break;
    got += (size_t)r;
  }
  close(fd);
  CHECK(strstr(reply, "7#ip-dst") && strstr(reply, "4#domain"), "store intact: %s", reply);

  /* Stats. */
  uint8_t *json = SENTINEL_BUF;
  size_t json_len = 0;
  s = misp_enrich_engine_stats(NULL, &json, &json_len);
  CHECK(s == MISP_ENRICH_STATUS_INVALID_ARGUMENT && json == SENTINEL_BUF, "stats engine NULL: %u", s);
  s = misp_enrich_engine_stats(e, NULL, &json_len);
  CHECK(s == MISP_ENRICH_STATUS_INVALID_ARGUMENT, "stats json_out NULL: %u", s);
  s = misp_enrich_engine_stats(e, &json, NULL);
  CHECK(s == MISP_ENRICH_STATUS_INVALID_ARGUMENT && json == SENTINEL_BUF, "stats json_len NULL: %u", s);
  s = misp_enrich_engine_stats(e, &json, &json_len);
  CHECK(s == MISP_ENRICH_STATUS_OK && json_len > 2 && json[0] == '{' && json[json_len - 1] == '}' &&
            memmem(json, json_len, "\"invalid_values\"", 16) && utf8_ok(json, json_len),
        "stats: %u", s);
  if (s == MISP_ENRICH_STATUS_OK) misp_enrich_buffer_free(json, json_len);
  group_end("misp_enrich_engine_lookup and _stats against memcached",
            "hits (exact, suffix, a slot split over non-adjacent items) next to non-UTF-8, CR LF commands, NUL "
            "bytes, an empty and a 1 MB value: only the hits reported; 100,001 items in one call; memcached "
            "unchanged; stats JSON with NULL arguments refused");
}

/* Lookups that cannot reach memcached: a dead port, a server that never
 * answers, one that sends garbage. Each flags the slot and returns within
 * the batch budget (plus slack for valgrind). */
static void test_unreachable(void) {
  group_begin();
  struct fake silent, garbage;
  fake_start(&silent, NULL);
  fake_start(&garbage, "VALUE misp-ip:203.0.113.7 0 999999999999\r\nGARBAGE\r\n");
  struct {
    uint16_t port;
    const char *what;
  } targets[] = {{closed_port(), "dead port"}, {silent.port, "silent server"}, {garbage.port, "garbage server"}};
  double worst = 0;
  for (size_t t = 0; t < 3; t++) {
    char json[256];
    snprintf(json, sizeof json,
             "{\"servers\":[\"127.0.0.1:%u\"],\"connect_timeout_ms\":100,\"io_timeout_ms\":200,"
             "\"batch_timeout_ms\":400,\"range_refresh_ms\":0,\"range_timeout_ms\":200}",
             targets[t].port);
    MispEnrichEngine *e = engine_for(json);
    for (int i = 0; i < 5; i++) {
      struct batch b;
      batch_begin(&b);
      batch_item(&b, 3, IP, "203.0.113.7", 11);
      struct record recs[4];
      int n;
      double t0 = now();
      MispEnrichStatus s = run_lookup(e, &b, recs, 4, &n);
      double took = now() - t0;
      if (took > worst) worst = took;
      CHECK(s == MISP_ENRICH_STATUS_OK && n == 1 && recs[0].slot == 3 && recs[0].failed && recs[0].matches == 0,
            "%s: status %u, %d records", targets[t].what, s, n);
      CHECK(took < 0.4 + 3.0, "%s: %.3f s", targets[t].what, took);
      free(b.data);
    }
    misp_enrich_engine_free(e);
  }
  fake_stop(&silent);
  fake_stop(&garbage);
  char what[160];
  snprintf(what, sizeof what, "misp_enrich_engine_lookup against a dead port, a silent and a garbage server (worst %.3f s)", worst);
  group_end(what, "status OK, the slot flagged failed with no match, each call within the 400 ms budget + 3 s slack");
}

struct worker {
  const MispEnrichEngine *e;
  int ok;
};

static void *lookup_worker(void *arg) {
  struct worker *w = arg;
  for (int i = 0; i < 100; i++) {
    struct batch b;
    batch_begin(&b);
    batch_item(&b, 1, IP, "203.0.113.7", 11);
    batch_item(&b, 2, IP, "192.0.2.1", 9);
    uint8_t *out = NULL;
    size_t out_len = 0;
    MispEnrichStatus s = misp_enrich_engine_lookup(w->e, b.data, b.len, &out, &out_len, NULL, 0, NULL);
    struct record recs[4];
    if (s == MISP_ENRICH_STATUS_OK) {
      int n = parse_result(out, out_len, recs, 4);
      if (n == 1 && recs[0].slot == 1 && !recs[0].failed) w->ok++;
      misp_enrich_buffer_free(out, out_len);
    }
    free(b.data);
  }
  return NULL;
}

static void test_threads(const MispEnrichEngine *e) {
  group_begin();
  pthread_t t[4];
  struct worker w[4];
  for (int i = 0; i < 4; i++) {
    w[i].e = e;
    w[i].ok = 0;
    pthread_create(&t[i], NULL, lookup_worker, &w[i]);
  }
  for (int i = 0; i < 4; i++) {
    pthread_join(t[i], NULL);
    CHECK(w[i].ok == 100, "thread %d: %d of 100 right", i, w[i].ok);
  }
  group_end("misp_enrich_engine_lookup from 4 threads at once", "400 lookups on one engine, every result right");
}

static void test_key(void) {
  group_begin();
  size_t out_len;
  MispEnrichStatus s;
  uint8_t out[256];
#define KEY(prefix, ns, value, vlen, buf, cap, lenp)                                                     \
  misp_enrich_key((const uint8_t *)(prefix), (prefix) ? strlen(prefix) : 0, (const uint8_t *)(ns),       \
                  (ns) ? strlen(ns) : 0, (const uint8_t *)(value), (vlen), (buf), (cap), (lenp))

  s = KEY("", "ip", "203.0.113.7", 11, out, sizeof out, &out_len);
  CHECK(s == MISP_ENRICH_STATUS_OK && out_len == 19 && memcmp(out, "misp-ip:203.0.113.7", 19) == 0, "key: %u", s);
  s = KEY("", "ip", "203.0.113.7", 11, NULL, 10, &out_len);
  CHECK(s == MISP_ENRICH_STATUS_INVALID_ARGUMENT, "out NULL with capacity: %u", s);
  s = KEY("", "ip", "203.0.113.7", 11, out, sizeof out, NULL);
  CHECK(s == MISP_ENRICH_STATUS_INVALID_ARGUMENT, "out_len NULL: %u", s);
  out_len = 0;
  s = KEY("", "ip", "203.0.113.7", 11, NULL, 0, &out_len);
  CHECK(s == MISP_ENRICH_STATUS_BUFFER_TOO_SMALL && out_len == 19, "size query: %u %zu", s, out_len);
  for (size_t cap = 1; cap <= 19; cap++) {
    uint8_t *small = malloc(cap);
    s = KEY("", "ip", "203.0.113.7", 11, small, cap, &out_len);
    CHECK(cap < 19 ? s == MISP_ENRICH_STATUS_BUFFER_TOO_SMALL && out_len == 19
                   : s == MISP_ENRICH_STATUS_OK && memcmp(small, "misp-ip:203.0.113.7", 19) == 0,
          "cap %zu: %u", cap, s);
    free(small);
  }
  s = KEY("bad prefix", "ip", "203.0.113.7", 11, out, sizeof out, &out_len);
  CHECK(s == MISP_ENRICH_STATUS_INVALID_PREFIX && out_len > 0 && utf8_ok(out, out_len), "prefix: %u", s);
  s = KEY("", "sha3", "x", 1, out, sizeof out, &out_len);
  CHECK(s == MISP_ENRICH_STATUS_UNKNOWN_NAMESPACE, "namespace: %u", s);
  s = KEY("", "ip", "\xff\xfe", 2, out, sizeof out, &out_len);
  CHECK(s == MISP_ENRICH_STATUS_NOT_UTF8, "non-UTF-8 value: %u", s);
  s = KEY("", "ip", NULL, 5, out, sizeof out, &out_len);
  CHECK(s == MISP_ENRICH_STATUS_INVALID_ARGUMENT, "value NULL, 5: %u", s);
  s = KEY("", "ip", "1", SIZE_MAX, out, sizeof out, &out_len);
  CHECK(s == MISP_ENRICH_STATUS_INVALID_ARGUMENT, "value length SIZE_MAX: %u", s);
  s = KEY("", "ip", "zzz", 3, out, sizeof out, &out_len);
  CHECK(s == MISP_ENRICH_STATUS_INVALID_VALUE && out_len > 0, "invalid value: %u", s);
  s = KEY("", "ip", "10.1.2.3/8", 10, out, sizeof out, &out_len);
  CHECK(s == MISP_ENRICH_STATUS_RANGE && out_len == 10 && memcmp(out, "10.0.0.0/8", 10) == 0, "range: %u", s);
  const char *inject = "x\r\nflush_all\r\nset misp-ip:1.2.3.4 0 0 1";
  s = KEY("", "user-agent", inject, strlen(inject), out, sizeof out, &out_len);
  int safe = s == MISP_ENRICH_STATUS_OK && out_len <= 250;
  for (size_t i = 0; safe && i < out_len; i++) safe = out[i] > 0x20 && out[i] < 0x7f;
  CHECK(safe && memmem(out, out_len, "~sha256:", 8), "CR LF value gets a digest key: %u", s);
  /* Error messages cut to tiny buffers. */
  for (size_t cap = 1; cap <= 12; cap++) {
    uint8_t *small = malloc(cap);
    s = KEY("", "ip", "zzz", 3, small, cap, &out_len);
    CHECK(s == MISP_ENRICH_STATUS_INVALID_VALUE && out_len <= cap && utf8_ok(small, out_len), "message cap %zu", cap);
    free(small);
  }
#undef KEY
  group_end("misp_enrich_key",
            "NULL out with capacity, NULL out_len, size query with NULL/0, every capacity 1-19 (exact allocation), "
            "bad prefix, unknown namespace, non-UTF-8, NULL value, length SIZE_MAX, range, CR LF value digested, "
            "messages cut to 1-12 bytes");
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  tsv = argc > 1 ? fopen(argv[1], "w") : NULL;
  if (tsv) fprintf(tsv, "#section\tThe C ABI from C, under valgrind (tests/c-harness)\n");
  IP = ns_id("ip");
  DOMAIN = ns_id("domain");
  URL = ns_id("url");
  HASHES = ns_id("hashes");
  UA = ns_id("user-agent");
  start_memcached();
  memcached_set("misp-ip:203.0.113.7", "7#ip-dst");
  memcached_set("misp-domain:evil.example", "4#domain");

  test_static();
  test_engine_new();
  char json[256];
  snprintf(json, sizeof json, "{\"servers\":[\"127.0.0.1:%u\"],\"range_refresh_ms\":0,\"domain_match\":\"suffix\","
                              "\"io_timeout_ms\":5000,\"connect_timeout_ms\":2000}", memcached_port);
  MispEnrichEngine *e = engine_for(json);
  test_lookup_edges(e);
  test_lookups(e);
  test_threads(e);
  misp_enrich_engine_free(e);
  test_unreachable();
  test_key();

  stop_memcached();
  if (tsv) fclose(tsv);
  fprintf(stderr, "%s: %d failures\n", failures ? "FAIL" : "ok", failures);
  return failures ? 1 : 0;
}
