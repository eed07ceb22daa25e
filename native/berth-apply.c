// berth-apply DIR overlay|copy: applies one layer's uncompressed tar, read from stdin, into DIR.
// The native twin of snapshotter/apply.ts + tar-reader.ts + safe-root.ts, with the same semantics
// and error texts: Node decompresses and hashes the stream (diff ID) and feeds it here, so the tar
// parsing and the ~10k file syscalls of a distro layer cost no JS or FFI time. Every parent directory
// is opened with openat2(RESOLVE_IN_ROOT), the final component is only touched with calls that do not
// follow it. On failure the last thing on stderr is "berth-apply-error CODE message" and the exit
// status is 2; on success everything up to EOF has been read (Node hashes the whole stream).
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#define BLOCK 512
#define CACHE_MAX 512
#define MAX_SAFE 9007199254740991ULL // Number.MAX_SAFE_INTEGER: the JS applier's limits

// ---- errors -----------------------------------------------------------------------------------

static char errbuf[16384];
static size_t errlen;

static void eput(const char *s, size_t n) {
  if (errlen >= sizeof errbuf - 1) return;
  if (n > sizeof errbuf - 1 - errlen) n = sizeof errbuf - 1 - errlen;
  memcpy(errbuf + errlen, s, n);
  errlen += n;
}
static void eputs(const char *s) { eput(s, strlen(s)); }
static void eprintf(const char *fmt, ...) {
  char b[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(b, sizeof b, fmt, ap);
  va_end(ap);
  if (n > 0) eput(b, (size_t)n < sizeof b ? (size_t)n : sizeof b - 1);
}

// JSON.stringify of a string given as bytes: UTF-8 (names), or latin1 (header fields JS decodes so).
static void ejson(const unsigned char *s, size_t n, int latin1) {
  eput("\"", 1);
  for (size_t i = 0; i < n; i++) {
    unsigned c = s[i];
    if (c == '"') eputs("\\\"");
    else if (c == '\\') eputs("\\\\");
    else if (c == '\n') eputs("\\n");
    else if (c == '\r') eputs("\\r");
    else if (c == '\t') eputs("\\t");
    else if (c == '\b') eputs("\\b");
    else if (c == '\f') eputs("\\f");
    else if (c < 0x20) eprintf("\\u%04x", c);
    else if (c >= 0x80 && latin1) { char u[2] = { (char)(0xc0 | (c >> 6)), (char)(0x80 | (c & 0x3f)) }; eput(u, 2); }
    else { char ch = (char)c; eput(&ch, 1); }
  }
  eput("\"", 1);
}
static void ejsons(const char *s) { ejson((const unsigned char *)s, strlen(s), 0); }

static void efail(const char *code) __attribute__((noreturn));
static void efail(const char *code) {
  fflush(stdout);
  dprintf(2, "berth-apply-error %s ", code);
  (void)!write(2, errbuf, errlen);
  (void)!write(2, "\n", 1);
  _exit(2);
}

static void fail(const char *code, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));
static void fail(const char *code, const char *fmt, ...) {
  char b[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(b, sizeof b, fmt, ap);
  va_end(ap);
  errlen = 0;
  eputs(b);
  efail(code);
}
#define invalid(...) fail("INVALID_ARGUMENT", __VA_ARGS__)

static const char *errno_code(int e) {
  switch (e) {
  case EPERM: case EACCES: return "PERMISSION_DENIED";
  case ENOENT: return "NOT_FOUND";
  case EEXIST: return "ALREADY_EXISTS";
  case EINVAL: return "INVALID_ARGUMENT";
  case ENOSPC: case EMFILE: case EDQUOT: return "RESOURCE_EXHAUSTED";
  default: return "INTERNAL";
  }
}

// A failed system call on a layer path: "<call> <path>: <strerror>".
static void sysfail(const char *call, const char *rel) __attribute__((noreturn));
static void sysfail(const char *call, const char *rel) {
  int e = errno;
  errlen = 0;
  eprintf("%s ", call);
  ejsons(rel);
  eprintf(": %s", strerror(e));
  efail(errno_code(e));
}

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) fail("RESOURCE_EXHAUSTED", "out of memory");
  return p;
}
static char *xstrndup(const char *s, size_t n) {
  char *p = xmalloc(n + 1);
  memcpy(p, s, n);
  p[n] = 0;
  return p;
}

// ---- input --------------------------------------------------------------------------------------

#define INBUF (1 << 20)
static unsigned char *in;
static size_t in_pos, in_len;
static int in_eof;

static int fill(void) {
  while (in_pos >= in_len) {
    if (in_eof) return 0;
    ssize_t n = read(0, in, INBUF);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("INTERNAL", "reading the layer from stdin: %s", strerror(errno));
    }
    if (n == 0) { in_eof = 1; return 0; }
    in_pos = 0;
    in_len = (size_t)n;
  }
  return 1;
}

// Exactly n bytes into dst; 0 at a clean end of input before the first byte.
static int read_exact(unsigned char *dst, size_t n) {
  size_t got = 0;
  while (got < n) {
    if (!fill()) {
      if (got == 0) return 0;
      invalid("layer tar is truncated (wanted %zu bytes, got %zu)", n, got);
    }
    size_t take = in_len - in_pos;
    if (take > n - got) take = n - got;
    memcpy(dst + got, in + in_pos, take);
    in_pos += take;
    got += take;
  }
  return 1;
}

// n bytes to fd (or dropped when fd < 0).
static void pipe_to(uint64_t n, int fd, const char *rel) {
  while (n > 0) {
    if (!fill()) invalid("layer tar is truncated inside a file");
    size_t take = in_len - in_pos;
    if (take > n) take = (size_t)n;
    if (fd >= 0) {
      for (size_t off = 0; off < take;) {
        ssize_t w = write(fd, in + in_pos + off, take - off);
        if (w < 0) {
          if (errno == EINTR) continue;
          sysfail("write", rel);
        }
        off += (size_t)w;
      }
    }
    in_pos += take;
    n -= take;
  }
}

static void drain(void) {
  in_pos = in_len;
  while (fill()) in_pos = in_len;
}

// ---- tar headers --------------------------------------------------------------------------------

enum type { T_FILE, T_DIR, T_SYMLINK, T_LINK, T_CHAR, T_BLOCK, T_FIFO };
static const char *type_names[] = { "file", "dir", "symlink", "link", "char", "block", "fifo" };

struct kv { char *key; unsigned char *val; size_t len; };
struct kvs { struct kv *v; size_t n, cap; };

static void kvs_set(struct kvs *m, const char *key, size_t klen, const unsigned char *val, size_t vlen) {
  for (size_t i = 0; i < m->n; i++) {
    if (strlen(m->v[i].key) == klen && memcmp(m->v[i].key, key, klen) == 0) {
      free(m->v[i].val);
      m->v[i].val = (unsigned char *)xstrndup((const char *)val, vlen);
      m->v[i].len = vlen;
      return;
    }
  }
  if (m->n == m->cap) {
    m->cap = m->cap ? m->cap * 2 : 8;
    m->v = realloc(m->v, m->cap * sizeof *m->v);
    if (!m->v) fail("RESOURCE_EXHAUSTED", "out of memory");
  }
  m->v[m->n].key = xstrndup(key, klen);
  m->v[m->n].val = (unsigned char *)xstrndup((const char *)val, vlen);
  m->v[m->n].len = vlen;
  m->n++;
}
static struct kv *kvs_get(struct kvs *m, const char *key) {
  for (size_t i = 0; i < m->n; i++) if (strcmp(m->v[i].key, key) == 0) return &m->v[i];
  return NULL;
}
static void kvs_clear(struct kvs *m) {
  for (size_t i = 0; i < m->n; i++) { free(m->v[i].key); free(m->v[i].val); }
  m->n = 0;
}

struct entry {
  char *name;
  size_t name_len; // may hold a NUL (from PAX): refused by clean_path
  enum type type;
  uint64_t mode, uid, gid, size, devmajor, devminor;
  struct timespec mtime, atime;
  int has_atime;
  char *linkname;
  size_t link_len;
  struct kvs xattrs;
};

static size_t cstrlen(const unsigned char *b, size_t len) {
  const unsigned char *z = memchr(b, 0, len);
  return z ? (size_t)(z - b) : len;
}

static uint64_t num(const unsigned char *b, size_t len, const char *what) {
  if (b[0] & 0x80) {
    // GNU base-256: big-endian two's complement, first byte's top bit is the marker.
    uint64_t v = b[0] & 0x7f;
    if (v & 0x40) invalid("tar header: negative %s", what);
    int big = 0;
    for (size_t i = 1; i < len; i++) {
      if (v > MAX_SAFE) big = 1;
      else v = v * 256 + b[i];
    }
    if (big || v > MAX_SAFE) invalid("tar header: %s too large", what);
    return v;
  }
  size_t start = 0, end = len;
  while (end > start && (b[end - 1] == 0 || b[end - 1] == ' ')) end--;
  while (start < end && b[start] == ' ') start++;
  uint64_t v = 0;
  for (size_t i = start; i < end; i++) {
    if (b[i] < '0' || b[i] > '7') {
      errlen = 0;
      eprintf("tar header: bad %s field ", what);
      ejson(b + start, end - start, 1);
      efail("INVALID_ARGUMENT");
    }
    v = v * 8 + (uint64_t)(b[i] - '0');
  }
  return v;
}

static int checksum_ok(const unsigned char *h) {
  long u = 0, s = 0;
  for (int i = 0; i < BLOCK; i++) {
    int c = i >= 148 && i < 156 ? 32 : h[i];
    u += c;
    s += c > 127 ? c - 256 : c;
  }
  uint64_t want = num(h + 148, 8, "checksum");
  return want == (uint64_t)u || (s >= 0 && want == (uint64_t)s);
}

static int is_zero(const unsigned char *h) {
  for (int i = 0; i < BLOCK; i++) if (h[i]) return 0;
  return 1;
}

// PAX extended header records: "<len> <key>=<value>\n", values kept as bytes.
static void parse_pax(const unsigned char *buf, size_t n, struct kvs *out) {
  size_t off = 0;
  while (off < n) {
    if (buf[off] == 0) break;
    const unsigned char *sp = memchr(buf + off, ' ', n - off);
    if (!sp) invalid("bad PAX header: no length");
    size_t spo = (size_t)(sp - buf);
    uint64_t len = 0;
    int ok = spo > off;
    for (size_t i = off; i < spo; i++) {
      if (buf[i] < '0' || buf[i] > '9' || len > (1ULL << 40)) { ok = 0; break; }
      len = len * 10 + (buf[i] - '0');
    }
    if (!ok || len <= spo - off + 1 || off + len > n || buf[off + len - 1] != '\n') invalid("bad PAX header record");
    const unsigned char *rec = sp + 1;
    size_t rlen = off + len - 1 - (spo + 1);
    const unsigned char *eq = memchr(rec, '=', rlen);
    if (!eq) invalid("bad PAX header record: no \"=\"");
    kvs_set(out, (const char *)rec, (size_t)(eq - rec), eq + 1, rlen - (size_t)(eq - rec) - 1);
    off += len;
  }
}

static uint64_t pax_int(const struct kv *v) {
  // Number() of the text: blanks around it allowed, empty is 0.
  size_t s = 0, e = v->len;
  while (s < e && (v->val[s] == ' ' || v->val[s] == '\t' || v->val[s] == '\n')) s++;
  while (e > s && (v->val[e - 1] == ' ' || v->val[e - 1] == '\t' || v->val[e - 1] == '\n')) e--;
  uint64_t n = 0;
  for (size_t i = s; i < e; i++) {
    if (v->val[i] < '0' || v->val[i] > '9' || n > MAX_SAFE / 10) invalid("bad PAX %s value", v->key);
    n = n * 10 + (v->val[i] - '0');
  }
  if (n > MAX_SAFE) invalid("bad PAX %s value", v->key);
  return n;
}

static struct timespec pax_time(const struct kv *v) {
  size_t s = 0, e = v->len;
  while (s < e && (v->val[s] == ' ' || v->val[s] == '\t' || v->val[s] == '\n')) s++;
  while (e > s && (v->val[e - 1] == ' ' || v->val[e - 1] == '\t' || v->val[e - 1] == '\n')) e--;
  int neg = 0;
  if (s < e && (v->val[s] == '-' || v->val[s] == '+')) neg = v->val[s++] == '-';
  int64_t sec = 0;
  long nsec = 0;
  int digits = 0, frac = 0;
  for (size_t i = s; i < e; i++) {
    unsigned c = v->val[i];
    if (c == '.' && !frac) { frac = 1; continue; }
    if (c < '0' || c > '9') invalid("bad PAX %s value", v->key);
    digits++;
    if (!frac) {
      if (sec > INT64_MAX / 20) invalid("bad PAX %s value", v->key);
      sec = sec * 10 + (c - '0');
    } else if (frac <= 9) {
      long p = 1;
      for (int k = frac; k < 9; k++) p *= 10;
      nsec += (long)(c - '0') * p;
      frac++;
    }
  }
  if (!digits && frac) invalid("bad PAX %s value", v->key);
  struct timespec t = { .tv_sec = sec, .tv_nsec = nsec };
  if (neg) {
    t.tv_sec = -sec;
    if (nsec) { t.tv_sec -= 1; t.tv_nsec = 1000000000L - nsec; }
  }
  return t;
}

static struct kvs global_pax;
static uint64_t pending; // data (+ padding) of the current entry not yet consumed

static uint64_t padded(uint64_t n) { return (n + BLOCK - 1) / BLOCK * BLOCK; }

static void entry_free(struct entry *e) {
  free(e->name);
  free(e->linkname);
  kvs_clear(&e->xattrs);
  free(e->xattrs.v);
  memset(e, 0, sizeof *e);
}

// The next entry; 0 at the end of the archive. Unread data of the previous one is skipped.
static int next_entry(struct entry *e) {
  if (pending) { pipe_to(pending, -1, ""); pending = 0; }
  struct kvs pax = { 0 };
  char *long_name = NULL, *long_link = NULL;
  unsigned char h[BLOCK];
  for (;;) {
    if (!read_exact(h, BLOCK) || is_zero(h)) {
      kvs_clear(&pax); free(pax.v); free(long_name); free(long_link);
      return 0;
    }
    if (!checksum_ok(h)) invalid("layer tar has a header with a bad checksum (not a tar, or corrupt)");
    char flag = (char)h[156];
    uint64_t size = num(h + 124, 12, "size");
    uint64_t pad = padded(size);
    if (flag == 'x' || flag == 'g' || flag == 'L' || flag == 'K') {
      if (size > 16 << 20) invalid("tar %c header of %llu bytes is too large", flag, (unsigned long long)size);
      unsigned char *data = xmalloc(pad);
      if (!read_exact(data, pad) && size > 0) invalid("layer tar is truncated in an extended header");
      if (flag == 'x') parse_pax(data, size, &pax);
      else if (flag == 'g') parse_pax(data, size, &global_pax);
      else {
        char *s = xstrndup((char *)data, cstrlen(data, size));
        if (flag == 'L') { free(long_name); long_name = s; } else { free(long_link); long_link = s; }
      }
      free(data);
      continue;
    }
    enum type t;
    switch (flag) {
    case '0': case '\0': case '7': t = T_FILE; break;
    case '1': t = T_LINK; break;
    case '2': t = T_SYMLINK; break;
    case '3': t = T_CHAR; break;
    case '4': t = T_BLOCK; break;
    case '5': t = T_DIR; break;
    case '6': t = T_FIFO; break;
    default:
      errlen = 0;
      eputs("tar entry type ");
      ejson((unsigned char *)&flag, 1, 1);
      eputs(" (");
      eput((char *)h, cstrlen(h, 100));
      eputs(") is not supported in a layer");
      efail("INVALID_ARGUMENT");
    }
    memset(e, 0, sizeof *e);
    e->type = t;
    // Precedence as in the JS reader: PAX path, GNU long name, ustar prefix/name.
    struct kv *pp = kvs_get(&pax, "path");
    if (!pp) pp = kvs_get(&global_pax, "path");
    if (pp) { e->name = xstrndup((char *)pp->val, pp->len); e->name_len = pp->len; }
    else if (long_name) { e->name = long_name; e->name_len = strlen(long_name); long_name = NULL; }
    else {
      size_t nl = cstrlen(h, 100);
      if (memcmp(h + 257, "ustar\0", 6) == 0 && h[345] != 0) {
        size_t pl = cstrlen(h + 345, 155);
        e->name = xmalloc(pl + 1 + nl + 1);
        memcpy(e->name, h + 345, pl);
        e->name[pl] = '/';
        memcpy(e->name + pl + 1, h, nl);
        e->name_len = pl + 1 + nl;
        e->name[e->name_len] = 0;
      } else {
        e->name = xstrndup((char *)h, nl);
        e->name_len = nl;
      }
    }
    e->mode = num(h + 100, 8, "mode");
    e->uid = num(h + 108, 8, "uid");
    e->gid = num(h + 116, 8, "gid");
    e->size = size;
    e->mtime.tv_sec = (time_t)num(h + 136, 12, "mtime");
    struct kv *lp = kvs_get(&pax, "linkpath");
    if (!lp) lp = kvs_get(&global_pax, "linkpath");
    if (lp) { e->linkname = xstrndup((char *)lp->val, lp->len); e->link_len = lp->len; }
    else if (long_link) { e->linkname = long_link; e->link_len = strlen(long_link); long_link = NULL; }
    else { e->link_len = cstrlen(h + 157, 100); e->linkname = xstrndup((char *)h + 157, e->link_len); }
    if (t == T_CHAR || t == T_BLOCK) {
      e->devmajor = num(h + 329, 8, "devmajor");
      e->devminor = num(h + 337, 8, "devminor");
    }
    // Global records first, this entry's own override them.
    struct kvs *maps[2] = { &global_pax, &pax };
    for (int m = 0; m < 2; m++) {
      for (size_t i = 0; i < maps[m]->n; i++) {
        struct kv *v = &maps[m]->v[i];
        if (m == 0 && kvs_get(&pax, v->key)) continue;
        if (!strcmp(v->key, "size")) e->size = size = pax_int(v);
        else if (!strcmp(v->key, "uid")) e->uid = pax_int(v);
        else if (!strcmp(v->key, "gid")) e->gid = pax_int(v);
        else if (!strcmp(v->key, "mtime")) e->mtime = pax_time(v);
        else if (!strcmp(v->key, "atime")) { e->atime = pax_time(v); e->has_atime = 1; }
        else if (!strncmp(v->key, "SCHILY.xattr.", 13)) kvs_set(&e->xattrs, v->key + 13, strlen(v->key + 13), v->val, v->len);
      }
    }
    if (!e->has_atime) e->atime = e->mtime;
    // Only regular files carry data; a hardlink's size field is informational.
    uint64_t data = t == T_FILE ? e->size : (t == T_CHAR || t == T_BLOCK || t == T_FIFO) ? size : 0;
    pending = padded(data);
    if (t != T_FILE) e->size = 0;
    kvs_clear(&pax); free(pax.v); free(long_name); free(long_link);
    return 1;
  }
}

// ---- paths confined to the root -----------------------------------------------------------------

static int rootfd;
static char real_root[PATH_MAX];

// A layer entry name made relative to the root ("" for the root itself); ".." refused.
static char *clean_path(const char *name, size_t len) {
  if (memchr(name, 0, len)) {
    errlen = 0;
    eputs("layer entry name contains NUL: ");
    ejson((const unsigned char *)name, len, 0);
    efail("INVALID_ARGUMENT");
  }
  char *out = xmalloc(len + 1);
  size_t o = 0;
  const char *p = name, *end = name + len;
  while (p < end) {
    const char *s = memchr(p, '/', (size_t)(end - p));
    size_t n = s ? (size_t)(s - p) : (size_t)(end - p);
    if (n == 0 || (n == 1 && p[0] == '.')) { p += n + 1; continue; }
    if (n == 2 && p[0] == '.' && p[1] == '.') {
      errlen = 0;
      eputs("layer entry ");
      ejson((const unsigned char *)name, len, 0);
      eputs(" has a \"..\" component: refused");
      efail("INVALID_ARGUMENT");
    }
    if (o) out[o++] = '/';
    memcpy(out + o, p, n);
    o += n;
    p += n + 1;
  }
  out[o] = 0;
  return out;
}

static const char *base_of(const char *rel) {
  const char *s = strrchr(rel, '/');
  return s ? s + 1 : rel;
}
// parent of rel, in buf
static char *parent_of(const char *rel) {
  const char *s = strrchr(rel, '/');
  return s ? xstrndup(rel, (size_t)(s - rel)) : xstrndup("", 0);
}

static long sys_openat2(int dirfd, const char *path, uint64_t flags, uint64_t resolve) {
  struct open_how how = { .flags = flags, .mode = 0, .resolve = resolve };
  return syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

#define DIR_FLAGS (O_PATH | O_DIRECTORY | O_CLOEXEC)
#define IN_ROOT (RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)

// Cache of directory fds by relative path; dropped whole whenever a dir or symlink is removed.
// Never trimmed in the middle of an entry (fds in use would close under it): trim_cache() runs between
// entries. SLOTS bounds what one entry can add (a path has at most PATH_MAX/2 components).
#define SLOTS 8192
struct slot { char *key; int fd; };
static struct slot cache[SLOTS];
static int cache_n;

static uint64_t hash(const char *s) {
  uint64_t h = 1469598103934665603ULL;
  while (*s) { h ^= (unsigned char)*s++; h *= 1099511628211ULL; }
  return h;
}

static int cache_get(const char *rel) {
  for (size_t i = hash(rel) % SLOTS;; i = (i + 1) % SLOTS) {
    if (!cache[i].key) return -1;
    if (!strcmp(cache[i].key, rel)) return cache[i].fd;
  }
}

static void drop_cache(void) {
  for (int i = 0; i < SLOTS; i++) {
    if (cache[i].key) { close(cache[i].fd); free(cache[i].key); cache[i].key = NULL; }
  }
  cache_n = 0;
}

static void trim_cache(void) {
  if (cache_n >= CACHE_MAX) drop_cache();
}

static void cache_put(const char *rel, int fd) {
  if (cache_n >= SLOTS - 1) invalid("layer path is too deep");
  size_t i = hash(rel) % SLOTS;
  while (cache[i].key) i = (i + 1) % SLOTS;
  cache[i].key = xstrndup(rel, strlen(rel));
  cache[i].fd = fd;
  cache_n++;
}

// Normalise a path as if the root were "/": ".." never climbs above it.
static char *confine(const char *p) {
  size_t len = strlen(p);
  char *out = xmalloc(len + 1);
  size_t o = 0;
  const char *end = p + len;
  while (p < end) {
    const char *s = memchr(p, '/', (size_t)(end - p));
    size_t n = s ? (size_t)(s - p) : (size_t)(end - p);
    if (n == 0 || (n == 1 && p[0] == '.')) { p += n + 1; continue; }
    if (n == 2 && p[0] == '.' && p[1] == '.') {
      while (o > 0 && out[o - 1] != '/') o--;
      if (o > 0) o--;
    } else {
      if (o) out[o++] = '/';
      memcpy(out + o, p, n);
      o += n;
    }
    p += n + 1;
  }
  out[o] = 0;
  return out;
}

static int dir_fd(const char *rel, int create, int depth);

// Make missing directory rel (0755, like tar), following a symlink in its place inside the root.
static int make_dir(const char *rel, int depth) {
  if (depth > 40) {
    errlen = 0; eputs("layer path "); ejsons(rel); eputs(": too many symlinks"); efail("INVALID_ARGUMENT");
  }
  char *prel = parent_of(rel);
  int parent = dir_fd(prel, 1, depth);
  free(prel);
  const char *base = base_of(rel);
  struct stat st;
  int have = fstatat(parent, base, &st, AT_SYMLINK_NOFOLLOW) == 0;
  if (have && S_ISLNK(st.st_mode)) {
    char target[PATH_MAX], here[PATH_MAX], fdp[64];
    ssize_t n = readlinkat(parent, base, target, sizeof target - 1);
    if (n < 0) sysfail("readlink", rel);
    target[n] = 0;
    snprintf(fdp, sizeof fdp, "/proc/self/fd/%d", parent);
    ssize_t m = readlink(fdp, here, sizeof here - 1);
    if (m < 0) sysfail("readlink", rel);
    here[m] = 0;
    size_t rl = strlen(real_root);
    const char *h = "";
    if (strncmp(here, real_root, rl) == 0 && here[rl] == '/') h = here + rl + 1;
    char *joined = xmalloc(strlen(h) + strlen(target) + 2);
    if (target[0] == '/') strcpy(joined, target);
    else sprintf(joined, "%s/%s", h, target);
    char *resolved = confine(joined);
    free(joined);
    int fd = dir_fd(resolved, 1, depth + 1);
    free(resolved);
    int own = fcntl(fd, F_DUPFD_CLOEXEC, 0); // own fd: the cache closes each once
    if (own < 0) sysfail("dup", rel);
    return own;
  }
  if (!have && mkdirat(parent, base, 0755) < 0 && errno != EEXIST) sysfail("mkdir", rel);
  long fd = sys_openat2(rootfd, rel, DIR_FLAGS, IN_ROOT);
  if (fd < 0) sysfail("openat2", rel);
  return (int)fd;
}

// An O_PATH fd of directory rel inside the root, made (with missing parents) when create is set.
static int dir_fd(const char *rel, int create, int depth) {
  if (!*rel) return rootfd;
  int hit = cache_get(rel);
  if (hit >= 0) return hit;
  long fd = sys_openat2(rootfd, rel, DIR_FLAGS, IN_ROOT);
  if (fd < 0) {
    if (!create) return -1; // a hardlink target's lookup: any failure means "not in the layer"
    if (errno == ENOENT) fd = make_dir(rel, depth);
    else if (errno == ENOTDIR) {
      errlen = 0; eputs("layer path "); ejsons(rel); eputs(": a parent is not a directory"); efail("INVALID_ARGUMENT");
    } else if (errno == ELOOP) {
      errlen = 0; eputs("layer path "); ejsons(rel); eputs(": too many symlinks"); efail("INVALID_ARGUMENT");
    } else return -1;
  }
  cache_put(rel, (int)fd);
  return (int)fd;
}

static int parent_fd(const char *rel, int create) {
  char *p = parent_of(rel);
  int fd = dir_fd(p, create, 0);
  if (fd < 0) sysfail("openat2", p);
  free(p);
  return fd;
}

// ---- the applier ----------------------------------------------------------------------------------

static int overlay_mode;
static mode_t umask_bits;
static uid_t euid;
static gid_t egid;
static int may_inherit_gid;

// Relative paths this layer has created (a whiteout never removes them; copy-mode opaque keeps them).
static char **created;
static size_t created_cap, created_n;

static int created_has(const char *rel) {
  if (!created_cap) return 0;
  for (size_t i = hash(rel) & (created_cap - 1);; i = (i + 1) & (created_cap - 1)) {
    if (!created[i]) return 0;
    if (!strcmp(created[i], rel)) return 1;
  }
}
static void created_add(const char *rel) {
  if (created_has(rel)) return;
  if ((created_n + 1) * 2 > created_cap) {
    size_t old = created_cap;
    char **o = created;
    created_cap = old ? old * 2 : 4096;
    created = calloc(created_cap, sizeof *created);
    if (!created) fail("RESOURCE_EXHAUSTED", "out of memory");
    for (size_t i = 0; i < old; i++) {
      if (!o[i]) continue;
      size_t j = hash(o[i]) & (created_cap - 1);
      while (created[j]) j = (j + 1) & (created_cap - 1);
      created[j] = o[i];
    }
    free(o);
  }
  size_t j = hash(rel) & (created_cap - 1);
  while (created[j]) j = (j + 1) & (created_cap - 1);
  created[j] = xstrndup(rel, strlen(rel));
  created_n++;
}

struct dirtime { char *rel; struct timespec ts[2]; };
static struct dirtime *dirtimes;
static size_t dirtimes_n, dirtimes_cap;

static void push_dirtime(const char *rel, const struct entry *e) {
  if (dirtimes_n == dirtimes_cap) {
    dirtimes_cap = dirtimes_cap ? dirtimes_cap * 2 : 1024;
    dirtimes = realloc(dirtimes, dirtimes_cap * sizeof *dirtimes);
    if (!dirtimes) fail("RESOURCE_EXHAUSTED", "out of memory");
  }
  dirtimes[dirtimes_n].rel = xstrndup(rel, strlen(rel));
  dirtimes[dirtimes_n].ts[0] = e->atime;
  dirtimes[dirtimes_n].ts[1] = e->mtime;
  dirtimes_n++;
}

static int owned_already(const struct entry *e) {
  return !may_inherit_gid && e->uid == euid && e->gid == egid;
}
static int mode_already(uint64_t mode) {
  return (mode & 07000) == 0 && (mode & umask_bits) == 0;
}

static void remove_tree(int dfd, const char *name, const char *rel);

// Remove what is at (pfd, base): a whole tree for a directory. Drops the fd cache when a directory
// or symlink goes (fds under it are no longer valid); the caller asks parent_fd() again after.
static void remove_at(int pfd, const char *base, const char *rel, const struct stat *st) {
  if (S_ISDIR(st->st_mode)) {
    remove_tree(pfd, base, rel);
    drop_cache();
  } else {
    if (unlinkat(pfd, base, 0) < 0 && errno != ENOENT) sysfail("unlink", rel);
    if (S_ISLNK(st->st_mode)) drop_cache();
  }
}

static void remove_tree(int pfd, const char *name, const char *rel) {
  int fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return;
    sysfail("open", rel);
  }
  DIR *d = fdopendir(fd);
  if (!d) sysfail("fdopendir", rel);
  struct dirent *de;
  while ((de = readdir(d))) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
    int isdir = de->d_type == DT_DIR;
    if (de->d_type == DT_UNKNOWN) {
      struct stat st;
      isdir = fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
    }
    if (isdir) remove_tree(fd, de->d_name, rel);
    else if (unlinkat(fd, de->d_name, 0) < 0 && errno != ENOENT) sysfail("unlink", rel);
  }
  closedir(d);
  if (unlinkat(pfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT) sysfail("rmdir", rel);
}

static void set_xattrs(int fd, int pfd, const char *base, const struct entry *e, const char *rel) {
  char path[PATH_MAX + 64];
  if (fd < 0 && e->xattrs.n) snprintf(path, sizeof path, "/proc/self/fd/%d/%s", pfd, base);
  for (size_t i = 0; i < e->xattrs.n; i++) {
    const struct kv *x = &e->xattrs.v[i];
    // A layer must not forge overlayfs' own metadata (opaque, redirect, metacopy).
    if (!strncmp(x->key, "trusted.overlay.", 16)) continue;
    int r = fd >= 0 ? fsetxattr(fd, x->key, x->val, x->len, 0) : lsetxattr(path, x->key, x->val, x->len, 0);
    if (r == 0) continue;
    // SELinux labels from another host, or a filesystem without user xattrs: not fatal.
    if (errno == EOPNOTSUPP || !strcmp(x->key, "security.selinux")) continue;
    int err = errno;
    errlen = 0;
    eprintf("setting xattr %s on ", x->key);
    eput(e->name, e->name_len);
    eprintf(": lsetxattr: %s", strerror(err));
    (void)rel;
    efail("INTERNAL");
  }
}

// Owner, mode and xattrs of something just made at (pfd, base) that is not a regular file.
static void meta_at(int pfd, const char *base, const struct entry *e, int chmod, int owned, const char *rel) {
  if (!owned && fchownat(pfd, base, (uid_t)e->uid, (gid_t)e->gid, AT_SYMLINK_NOFOLLOW) < 0) sysfail("lchown", rel);
  // Only on dirs and device nodes just made or checked: chmod cannot follow a link here.
  if (chmod && fchmodat(pfd, base, (mode_t)(e->mode & 07777), 0) < 0) sysfail("chmod", rel);
  set_xattrs(-1, pfd, base, e, rel);
}

static int is_eexist(int r) { return r < 0 && errno == EEXIST; }

// After EEXIST: remove what is there so the caller can create again; returns the parent's fd anew.
static int clear_place(const char *rel, int pfd) {
  const char *base = base_of(rel);
  struct stat st;
  if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0) remove_at(pfd, base, rel, &st);
  else if (errno != ENOENT) sysfail("lstat", rel);
  return parent_fd(rel, 1);
}

static void not_in_layer(const struct entry *e) __attribute__((noreturn));
static void not_in_layer(const struct entry *e) {
  errlen = 0;
  eputs("hardlink ");
  ejson((unsigned char *)e->name, e->name_len, 0);
  eputs(" -> ");
  ejson((unsigned char *)e->linkname, e->link_len, 0);
  eputs(": target is not in the layer");
  efail("INVALID_ARGUMENT");
}

// The hardlink target's parent fd and stat; refuses targets outside the layer, the root, dirs.
static int link_target(const struct entry *e, char **trel_out, struct stat *tst) {
  char *trel = clean_path(e->linkname, e->link_len);
  if (!*trel) {
    errlen = 0; eputs("hardlink "); ejson((unsigned char *)e->name, e->name_len, 0); eputs(" points at the root"); efail("INVALID_ARGUMENT");
  }
  char *tp = parent_of(trel);
  int tfd = dir_fd(tp, 0, 0);
  free(tp);
  if (tfd < 0) not_in_layer(e);
  if (fstatat(tfd, base_of(trel), tst, AT_SYMLINK_NOFOLLOW) < 0) {
    if (errno == ENOENT) not_in_layer(e);
    sysfail("lstat", trel);
  }
  if (S_ISDIR(tst->st_mode)) {
    errlen = 0;
    eputs("hardlink "); ejson((unsigned char *)e->name, e->name_len, 0);
    eputs(" -> "); ejson((unsigned char *)e->linkname, e->link_len, 0);
    eputs(": target is a directory");
    efail("INVALID_ARGUMENT");
  }
  *trel_out = trel;
  return tfd;
}

static void whiteout(const char *rel, const char *base) {
  char *dir_rel = parent_of(rel);
  if (!strcmp(base, ".wh..wh..opq")) {
    int dfd = dir_fd(dir_rel, 1, 0);
    if (dfd < 0) sysfail("openat2", dir_rel);
    if (overlay_mode) {
      char p[64];
      snprintf(p, sizeof p, "/proc/self/fd/%d/.", dfd);
      if (lsetxattr(p, "trusted.overlay.opaque", "y", 1, 0) < 0) sysfail("lsetxattr", dir_rel);
    } else {
      // Hide what lower layers put here, keep what this layer already wrote.
      int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (fd < 0) sysfail("open", dir_rel);
      DIR *d = fdopendir(fd);
      if (!d) sysfail("fdopendir", dir_rel);
      char **names = NULL;
      size_t n = 0, cap = 0;
      struct dirent *de;
      while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        if (n == cap) { cap = cap ? cap * 2 : 64; names = realloc(names, cap * sizeof *names); if (!names) fail("RESOURCE_EXHAUSTED", "out of memory"); }
        names[n++] = xstrndup(de->d_name, strlen(de->d_name));
      }
      closedir(d);
      for (size_t i = 0; i < n; i++) {
        char *crel = xmalloc(strlen(dir_rel) + strlen(names[i]) + 2);
        if (*dir_rel) sprintf(crel, "%s/%s", dir_rel, names[i]); else strcpy(crel, names[i]);
        if (!created_has(crel)) {
          int pfd = dir_fd(dir_rel, 1, 0); // again: a removal drops the cache
          struct stat st;
          if (fstatat(pfd, names[i], &st, AT_SYMLINK_NOFOLLOW) == 0) remove_at(pfd, names[i], crel, &st);
        }
        free(crel);
        free(names[i]);
      }
      free(names);
    }
    free(dir_rel);
    return;
  }
  const char *name = base + 4;
  char *wrel = xmalloc(strlen(dir_rel) + strlen(name) + 2);
  if (*dir_rel) sprintf(wrel, "%s/%s", dir_rel, name); else strcpy(wrel, name);
  free(dir_rel);
  if (created_has(wrel)) { free(wrel); return; } // an entry of this same layer wins over its whiteout
  int pfd = parent_fd(wrel, 1);
  struct stat st;
  if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
    remove_at(pfd, name, wrel, &st);
    pfd = parent_fd(wrel, 1);
  } else if (errno != ENOENT) sysfail("lstat", wrel);
  if (overlay_mode) {
    if (mknodat(pfd, name, S_IFCHR, makedev(0, 0)) < 0) sysfail("mknod", wrel);
    created_add(wrel);
  }
  free(wrel);
}

// Classify a base name as a whiteout (1), or not (0); refuses ones naming nothing valid.
static int is_whiteout(const char *base) {
  if (strncmp(base, ".wh.", 4)) return 0;
  if (!strcmp(base, ".wh..wh..opq")) return 1;
  const char *n = base + 4;
  if (!*n || !strcmp(n, ".") || !strcmp(n, "..") || strchr(n, '/')) {
    errlen = 0; eputs("whiteout "); ejsons(base); eputs(" names no valid entry: refused"); efail("INVALID_ARGUMENT");
  }
  if (!strncmp(n, ".wh.", 4)) {
    errlen = 0; eputs("whiteout "); ejsons(base); eputs(" names a whiteout: refused"); efail("INVALID_ARGUMENT");
  }
  return 1;
}

static void apply_entry(struct entry *e) {
  trim_cache();
  char *rel = clean_path(e->name, e->name_len);
  if (!*rel) {
    if (e->type != T_DIR) {
      errlen = 0; eputs("layer entry "); ejson((unsigned char *)e->name, e->name_len, 0);
      eprintf(" names the root as a %s", type_names[e->type]); efail("INVALID_ARGUMENT");
    }
    if (fchown(rootfd, (uid_t)e->uid, (gid_t)e->gid) < 0) sysfail("lchown", "");
    if (fchmod(rootfd, (mode_t)(e->mode & 07777)) < 0) sysfail("chmod", "");
    set_xattrs(rootfd, -1, "", e, "");
    push_dirtime("", e);
    free(rel);
    return;
  }
  const char *base = base_of(rel);
  if (is_whiteout(base)) { whiteout(rel, base); free(rel); return; }

  int pfd = parent_fd(rel, 1);
  created_add(rel);
  switch (e->type) {
  case T_DIR: {
    if (e->mode & 02000) may_inherit_gid = 1;
    int made = 1;
    if (mkdirat(pfd, base, (mode_t)(e->mode & 0777)) < 0) {
      if (errno != EEXIST) sysfail("mkdir", rel);
      struct stat st;
      if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0) sysfail("lstat", rel);
      if (S_ISDIR(st.st_mode)) made = 0; // tar semantics: an existing dir is kept, its metadata updated
      else {
        remove_at(pfd, base, rel, &st);
        pfd = parent_fd(rel, 1);
        if (mkdirat(pfd, base, (mode_t)(e->mode & 0777)) < 0) sysfail("mkdir", rel);
      }
    }
    meta_at(pfd, base, e, !(made && mode_already(e->mode)), made && owned_already(e), rel);
    push_dirtime(rel, e);
    break;
  }
  case T_FILE: {
    const int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
    int fd = openat(pfd, base, flags, (mode_t)(e->mode & 0777));
    if (is_eexist(fd)) {
      pfd = clear_place(rel, pfd);
      fd = openat(pfd, base, flags, (mode_t)(e->mode & 0777));
    }
    if (fd < 0) sysfail("open", rel);
    pipe_to(e->size, fd, rel);
    uint64_t pad = pending - e->size;
    pending = 0;
    if (pad) pipe_to(pad, -1, rel);
    // chown first: it clears setuid/setgid bits and security.capability.
    if (!owned_already(e) && fchown(fd, (uid_t)e->uid, (gid_t)e->gid) < 0) sysfail("fchown", rel);
    if (!mode_already(e->mode) && fchmod(fd, (mode_t)(e->mode & 07777)) < 0) sysfail("fchmod", rel);
    set_xattrs(fd, pfd, base, e, rel);
    struct timespec ts[2] = { e->atime, e->mtime };
    if (futimens(fd, ts) < 0) sysfail("futimes", rel);
    close(fd);
    break;
  }
  case T_SYMLINK: {
    if (memchr(e->linkname, 0, e->link_len)) clean_path(e->linkname, e->link_len); // refuses with the NUL message
    int r = symlinkat(e->linkname, pfd, base);
    if (is_eexist(r)) {
      pfd = clear_place(rel, pfd);
      r = symlinkat(e->linkname, pfd, base);
    }
    if (r < 0) sysfail("symlink", rel);
    meta_at(pfd, base, e, 0, owned_already(e), rel);
    struct timespec ts[2] = { e->atime, e->mtime };
    if (utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW) < 0) sysfail("lutimes", rel);
    break;
  }
  case T_LINK: {
    char *trel;
    struct stat tst;
    int tfd = link_target(e, &trel, &tst);
    if (linkat(tfd, base_of(trel), pfd, base, 0) < 0) {
      if (errno != EEXIST) sysfail("link", rel);
      struct stat st;
      if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0) sysfail("lstat", rel);
      if (st.st_ino == tst.st_ino && st.st_dev == tst.st_dev) { free(trel); break; }
      remove_at(pfd, base, rel, &st);
      pfd = parent_fd(rel, 1);
      free(trel);
      tfd = link_target(e, &trel, &tst);
      if (linkat(tfd, base_of(trel), pfd, base, 0) < 0) sysfail("link", rel);
    }
    free(trel);
    break;
  }
  case T_CHAR: case T_BLOCK: case T_FIFO: {
    mode_t t = e->type == T_CHAR ? S_IFCHR : e->type == T_BLOCK ? S_IFBLK : S_IFIFO;
    dev_t dev = e->type == T_FIFO ? 0 : makedev((unsigned)e->devmajor, (unsigned)e->devminor);
    int r = mknodat(pfd, base, t | (mode_t)(e->mode & 0777), dev);
    if (is_eexist(r)) {
      pfd = clear_place(rel, pfd);
      r = mknodat(pfd, base, t | (mode_t)(e->mode & 0777), dev);
    }
    if (r < 0) sysfail("mknod", rel);
    meta_at(pfd, base, e, 1, 0, rel);
    struct timespec ts[2] = { e->atime, e->mtime };
    if (utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW) < 0) sysfail("lutimes", rel);
    break;
  }
  }
  free(rel);
}

// Directory times last: creating entries inside a directory changes its mtime.
static void finish_dirs(void) {
  for (size_t i = dirtimes_n; i-- > 0;) {
    const char *rel = dirtimes[i].rel;
    trim_cache();
    if (!*rel) {
      if (futimens(rootfd, dirtimes[i].ts) < 0) sysfail("utimes", "");
      continue;
    }
    int pfd = parent_fd(rel, 1);
    struct stat st;
    if (fstatat(pfd, base_of(rel), &st, AT_SYMLINK_NOFOLLOW) < 0) {
      if (errno == ENOENT) continue;
      sysfail("lstat", rel);
    }
    if (S_ISDIR(st.st_mode) && utimensat(pfd, base_of(rel), dirtimes[i].ts, AT_SYMLINK_NOFOLLOW) < 0) sysfail("utimes", rel);
  }
}

int main(int argc, char **argv) {
  if (argc != 3 || (strcmp(argv[2], "overlay") && strcmp(argv[2], "copy"))) {
    fprintf(stderr, "usage: berth-apply DIR overlay|copy < layer.tar\n");
    return 64;
  }
  overlay_mode = !strcmp(argv[2], "overlay");
  // A bigger pipe: fewer wake-ups between Node's writes and our reads.
  fcntl(0, F_SETPIPE_SZ, 1 << 20);
  // Room for the fd cache plus one entry's worth of directories.
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < SLOTS + 64) {
    rl.rlim_cur = rl.rlim_max < SLOTS + 64 ? rl.rlim_max : SLOTS + 64;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  in = xmalloc(INBUF);
  umask_bits = umask(0);
  umask(umask_bits);
  euid = geteuid();
  egid = getegid();

  char abs[PATH_MAX];
  if (argv[1][0] == '/') snprintf(abs, sizeof abs, "%s", argv[1]);
  else {
    if (!getcwd(abs, sizeof abs)) fail("INTERNAL", "getcwd: %s", strerror(errno));
    size_t l = strlen(abs);
    snprintf(abs + l, sizeof abs - l, "/%s", argv[1]);
  }
  // Not O_PATH: the root's own owner, mode, xattrs and times are set through this fd.
  long fd = sys_openat2(AT_FDCWD, abs, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
  if (fd < 0) sysfail("openat2", abs);
  rootfd = (int)fd;
  char fdp[64];
  snprintf(fdp, sizeof fdp, "/proc/self/fd/%d", rootfd);
  ssize_t n = readlink(fdp, real_root, sizeof real_root - 1);
  if (n < 0) sysfail("readlink", abs);
  real_root[n] = 0;
  struct stat st;
  if (fstat(rootfd, &st) < 0) sysfail("stat", abs);
  may_inherit_gid = !overlay_mode || (st.st_mode & S_ISGID);

  struct entry e;
  while (next_entry(&e)) {
    apply_entry(&e);
    entry_free(&e);
  }
  drain();
  finish_dirs();
  return 0;
}
