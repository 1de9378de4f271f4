/*
 * stemedb_cksm: a SQLite VFS shim that keeps a checksum in every page of the index file.
 *
 * Why. The index (index.sqlite) is derived from the log and must never answer from damage.
 * Checking the records a query returns catches a row that lies; it cannot see a row that a
 * flipped byte hid (a record that 404s, a list missing an entry). A checksum on every page,
 * verified on every read from disk, catches both: SQLite never sees a damaged page at all.
 *
 * What. A VFS named "stemedb_cksm" wraps the default VFS. Only main database files opened
 * with the URI parameter `stemedb_cksm=1` are wrapped: for those the caller promises the file
 * was created with 8 reserved bytes at the end of every page (SQLITE_FCNTL_RESERVE_BYTES = 8
 * before the first write; the header's byte 20 then says 8). Every other file (the WAL, the
 * rollback journal, temp files, databases opened without the parameter) passes straight
 * through to the default VFS.
 *
 *   - xWrite of a whole page (an aligned power-of-two size from 512 to 65536 bytes) writes a
 *     copy whose last 8 bytes hold CRC-64 of the bytes before them (little-endian). The
 *     write is refused (SQLITE_IOERR_WRITE) if page 1 does not say 8 reserved bytes: writing
 *     a checksum into a page without room for one would overwrite content.
 *   - xRead of a whole page verifies it; a mismatch is SQLITE_IOERR_DATA. Page 1 is checked
 *     like any other, so a flipped byte 20 (the reserve count) cannot turn checking off: the
 *     checksum covers it, and the wrapping is decided by the URI parameter, not by byte 20.
 *   - xFetch hands out no memory mapping, so SQLite reads every page through xRead.
 *   - A private file control (STEMEDB_CKSM_FCNTL_SCAN) reads and verifies every page of the
 *     file, for the start-up check and `stemedb verify --index`; another
 *     (STEMEDB_CKSM_FCNTL_IMPL) says which implementation of the CRC below is in use.
 *
 * The checksum is CRC-64 with the ECMA-182 polynomial, bit-reflected, initial value and final
 * xor all ones (the "CRC-64/XZ" parameters; check value of "123456789" 0x995DC9BBDF1939FA).
 * A CRC rather than an additive (Fletcher-style) sum because its guarantees are the ones page
 * damage needs: it detects every single-bit and single-byte error, every burst of up to 64
 * bits, and every odd number of flipped bits within a page; additive sums miss some swaps and
 * some zeroed runs. Slicing-by-8 makes it cost ≈ 1.6 µs a 4 KiB page; on x86-64 CPUs with
 * CLMUL a folding implementation computes the same value in ≈ 0.23 µs (below).
 *
 * WAL frames are not covered: the WAL file passes through, so a page read from the WAL
 * (written since the last checkpoint) is not verified. SQLite's own per-frame checksums guard
 * the WAL when it is recovered after a crash, and a checkpoint copies each frame into the main
 * file through xWrite, which checksums it. After a clean stop the WAL is checkpointed away.
 *
 * Written for StemeDB from SQLite's VFS documentation (https://sqlite.org/vfs.html,
 * https://sqlite.org/c3ref/io_methods.html) and the idea of https://sqlite.org/cksumvfs.html.
 */
#include <sqlite3ext.h>
SQLITE_EXTENSION_INIT1

#include <stdint.h>
#include <string.h>

#define CK_VFS_NAME "stemedb_cksm"
#define CK_URI_PARAM "stemedb_cksm"
#define CK_RESERVE_BYTES 8
/* A file-control opcode of our own, far from SQLite's (which are small integers). */
#define STEMEDB_CKSM_FCNTL_SCAN 0x53544d01
/* Another: stores 1 in an sqlite3_int64 when checksums are computed with CLMUL, 0 when portably. */
#define STEMEDB_CKSM_FCNTL_IMPL 0x53544d02
/* SQLite never reads or writes the page holding this byte offset (the lock bytes). */
#define CK_PENDING_BYTE 0x40000000

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "stemedb_cksm assumes a little-endian machine (slicing-by-8 and the stored checksum)"
#endif

/* ---- CRC-64 (ECMA-182, reflected), slicing-by-8 ----------------------------------------- */

static uint64_t crcTable[8][256];

static void crcTables(void) {
  const uint64_t poly = 0xC96C5795D7870F42ull; /* ECMA-182, bit-reflected */
  for (int i = 0; i < 256; i++) {
    uint64_t c = (uint64_t)i;
    for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ poly : c >> 1;
    crcTable[0][i] = c;
  }
  for (int i = 0; i < 256; i++)
    for (int t = 1; t < 8; t++) crcTable[t][i] = (crcTable[t - 1][i] >> 8) ^ crcTable[0][crcTable[t - 1][i] & 0xff];
}

static uint64_t crc64Portable(const unsigned char *p, size_t n) {
  uint64_t crc = ~0ull;
  while (n >= 8) {
    uint64_t v;
    memcpy(&v, p, 8);
    crc ^= v;
    crc = crcTable[7][crc & 0xff] ^ crcTable[6][(crc >> 8) & 0xff] ^ crcTable[5][(crc >> 16) & 0xff] ^
          crcTable[4][(crc >> 24) & 0xff] ^ crcTable[3][(crc >> 32) & 0xff] ^ crcTable[2][(crc >> 40) & 0xff] ^
          crcTable[1][(crc >> 48) & 0xff] ^ crcTable[0][crc >> 56];
    p += 8;
    n -= 8;
  }
  while (n--) crc = crcTable[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
  return ~crc;
}

/*
 * ---- The same CRC-64 with carry-less multiplication (x86-64 PCLMULQDQ) ---------------------
 *
 * Slicing-by-8 costs ≈ 1.6 µs a 4 KiB page on this project's machines, and a page that misses
 * SQLite's cache is read and verified on every cold query (≈ 10 of them at 1M records). Folding
 * 64 bytes a step with PCLMULQDQ computes the identical value at ≈ 0.23 µs a page: the stored
 * checksums, and so the file format, do not change. Adapted from XZ Utils'
 * src/liblzma/check/crc_x86_clmul.h (0BSD; Lasse Collin and Ilya Kurdyukov), after Intel's
 * "Fast CRC Computation for Generic Polynomials Using PCLMULQDQ Instruction" (2009), reduced to
 * inputs of at least 16 bytes (a page's checked part is at least 504). It is used only when
 * the CPU has CLMUL, SSSE3 and SSE4.1, only after it agrees with the portable code on a set of
 * lengths and patterns at load time, and never when STEMEDB_CKSM_PORTABLE is set to anything
 * but "" or "0" when the extension loads (the tests write pages with one and read them with
 * the other). Two threads loading the extension at once may both run this set-up: it writes the
 * same values, and the self-check's buffer is each thread's own.
 */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>
#include <stdlib.h>
#define CK_HAVE_CLMUL 1
#define ck_clmul_target __attribute__((__target__("ssse3,sse4.1,pclmul")))

/* Bytes [0,32) clear low bytes with AND; [16,48) shift left, [32,64) shift right (pshufb masks). */
static const uint8_t ckMasks[64] __attribute__((aligned(64))) = {
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F,
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
};

ck_clmul_target static inline __m128i ckLoad(const uint8_t *p) { return _mm_loadu_si128((const __m128i *)p); }

ck_clmul_target static inline __m128i ckFold(__m128i v, __m128i k) {
  return _mm_xor_si128(_mm_clmulepi64_si128(v, k, 0x00), _mm_clmulepi64_si128(v, k, 0x11));
}

ck_clmul_target static inline __m128i ckFoldXor(__m128i v, __m128i k, const uint8_t *p) {
  return _mm_xor_si128(ckLoad(p), ckFold(v, k));
}

/* CRC-64/XZ of n >= 16 bytes. */
ck_clmul_target static uint64_t crc64Clmul(const uint8_t *buf, size_t size) {
  /* x^(512±64) and x^(128±64) mod P, and Barrett's mu and P, for the reflected ECMA-182 polynomial. */
  const __m128i fold512 = _mm_set_epi64x((int64_t)0x081f6054a7842df4, (int64_t)0x6ae3efbb9dd441f3);
  const __m128i fold128 = _mm_set_epi64x((int64_t)0xdabe95afc7875f40, (int64_t)0xe05dd497ca393ae4);
  const __m128i muP = _mm_set_epi64x((int64_t)0x9c3e466c172963d5, (int64_t)0x92d8af2baf0e1e84);
  __m128i v0 = _mm_xor_si128(_mm_cvtsi64_si128((int64_t)~0ull), ckLoad(buf));
  __m128i v1, v2, v3;
  buf += 16;
  size -= 16;
  if (size >= 48) {
    v1 = ckLoad(buf);
    v2 = ckLoad(buf + 16);
    v3 = ckLoad(buf + 32);
    buf += 48;
    size -= 48;
    while (size >= 64) {
      v0 = ckFoldXor(v0, fold512, buf);
      v1 = ckFoldXor(v1, fold512, buf + 16);
      v2 = ckFoldXor(v2, fold512, buf + 32);
      v3 = ckFoldXor(v3, fold512, buf + 48);
      buf += 64;
      size -= 64;
    }
    v0 = _mm_xor_si128(v1, ckFold(v0, fold128));
    v0 = _mm_xor_si128(v2, ckFold(v0, fold128));
    v0 = _mm_xor_si128(v3, ckFold(v0, fold128));
  }
  while (size >= 16) {
    v0 = ckFoldXor(v0, fold128, buf);
    buf += 16;
    size -= 16;
  }
  if (size > 0) {
    /* The last `size` bytes into the high end of v1, the high bytes of v0 below them. */
    v1 = _mm_and_si128(ckLoad(ckMasks + size), ckLoad(buf + size - 16));
    v1 = _mm_or_si128(v1, _mm_shuffle_epi8(v0, ckLoad(ckMasks + 32 + size)));
    v0 = _mm_shuffle_epi8(v0, ckLoad(ckMasks + 32 - (16 - size)));
    v0 = _mm_xor_si128(v1, ckFold(v0, fold128));
  }
  v1 = _mm_srli_si128(v0, 8);
  v0 = _mm_clmulepi64_si128(v0, fold128, 0x10);
  v0 = _mm_xor_si128(v0, v1);
  /* Barrett reduction; P has 65 bits, so the second product's top bit comes in as a shift. */
  v1 = _mm_clmulepi64_si128(v0, muP, 0x10);
  v2 = _mm_slli_si128(v1, 8);
  v1 = _mm_clmulepi64_si128(v1, muP, 0x00);
  v0 = _mm_xor_si128(v0, v2);
  v0 = _mm_xor_si128(v0, v1);
  return ~(uint64_t)_mm_extract_epi64(v0, 1);
}

/* CLMUL, SSSE3 and SSE4.1 (CPUID leaf 1, ecx bits 1, 9 and 19). */
static int clmulSupported(void) {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
  const unsigned need = (1u << 1) | (1u << 9) | (1u << 19);
  return (c & need) == need;
}

/* Whether the CLMUL code gives the portable code's value on every length around the fold steps. */
static int clmulAgrees(void) {
  unsigned char buf[8192 + 64]; /* on this thread's stack: two threads may load the extension at once */
  uint64_t x = 0x9E3779B97F4A7C15ull;
  for (size_t i = 0; i < sizeof buf; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    buf[i] = (unsigned char)x;
  }
  for (size_t n = 16; n <= 300; n++)
    for (size_t at = 0; at < 3; at++)
      if (crc64Clmul(buf + at, n) != crc64Portable(buf + at, n)) return 0;
  const size_t pages[] = {504, 1016, 2040, 4088, 8184};
  for (size_t i = 0; i < sizeof pages / sizeof pages[0]; i++) {
    if (crc64Clmul(buf, pages[i]) != crc64Portable(buf, pages[i])) return 0;
    memset(buf + 100, 0, 64); /* runs of zeros, as empty page space has */
    if (crc64Clmul(buf + 1, pages[i]) != crc64Portable(buf + 1, pages[i])) return 0;
  }
  return 1;
}
#endif

static int useClmul = 0;

static void crcInit(void) {
  crcTables();
#ifdef CK_HAVE_CLMUL
  const char *portable = getenv("STEMEDB_CKSM_PORTABLE");
  const int forcePortable = portable != 0 && portable[0] != 0 && strcmp(portable, "0") != 0;
  useClmul = !forcePortable && clmulSupported() && clmulAgrees();
#endif
}

static uint64_t crc64(const unsigned char *p, size_t n) {
#ifdef CK_HAVE_CLMUL
  if (useClmul && n >= 16) return crc64Clmul(p, n);
#endif
  return crc64Portable(p, n);
}

/* Whether the last 8 bytes of a page hold the CRC-64 of the rest. */
static int pageVerifies(const unsigned char *page, int bytes) {
  uint64_t stored;
  memcpy(&stored, page + bytes - CK_RESERVE_BYTES, 8);
  return stored == crc64(page, (size_t)(bytes - CK_RESERVE_BYTES));
}

static void pageSeal(unsigned char *page, int bytes) {
  uint64_t crc = crc64(page, (size_t)(bytes - CK_RESERVE_BYTES));
  memcpy(page + bytes - CK_RESERVE_BYTES, &crc, 8);
}

/* A read or write of one whole page: SQLite pages are powers of two from 512 to 65536. */
static int isPageIo(int bytes, sqlite3_int64 offset) {
  return bytes >= 512 && bytes <= 65536 && (bytes & (bytes - 1)) == 0 && offset % bytes == 0;
}

/* The page size page 1's header states (bytes 16-17, big-endian; 1 means 65536). */
static int headerPageBytes(const unsigned char *page1) {
  int v = (page1[16] << 8) | page1[17];
  return v == 1 ? 65536 : v;
}

/* ---- the wrapped file ------------------------------------------------------------------ */

typedef struct CkFile {
  sqlite3_file base; /* first: SQLite sees a CkFile as a sqlite3_file */
  sqlite3_file *real; /* the default VFS's file, stored right after this struct */
  const char *name;
  int layoutKnown; /* page 1 has been seen (read and verified, or written) */
  int layoutOk;    /* …and it says 8 reserved bytes at the page size it was read with */
  unsigned char *scratch; /* a page-sized copy for writes (SQLite's buffer is const) */
  int scratchBytes;
} CkFile;

static sqlite3_vfs *origVfs;

#define REAL(f) (((CkFile *)(f))->real)
#define REALM(f) (REAL(f)->pMethods)

static void noteLayout(CkFile *p, const unsigned char *page1, int bytes) {
  p->layoutKnown = 1;
  p->layoutOk = page1[20] == CK_RESERVE_BYTES && headerPageBytes(page1) == bytes;
}

static int ckClose(sqlite3_file *f) {
  CkFile *p = (CkFile *)f;
  int rc = REALM(f)->xClose(REAL(f));
  sqlite3_free(p->scratch);
  p->scratch = 0;
  return rc;
}

static int ckRead(sqlite3_file *f, void *buf, int bytes, sqlite3_int64 offset) {
  CkFile *p = (CkFile *)f;
  int rc = REALM(f)->xRead(REAL(f), buf, bytes, offset);
  if (rc != SQLITE_OK || !isPageIo(bytes, offset)) return rc;
  if (!pageVerifies((const unsigned char *)buf, bytes)) {
    sqlite3_log(SQLITE_IOERR_DATA, "stemedb_cksm: checksum mismatch on page %lld of %s", offset / bytes + 1, p->name);
    return SQLITE_IOERR_DATA;
  }
  if (offset == 0) noteLayout(p, (const unsigned char *)buf, bytes);
  return SQLITE_OK;
}

/* Learns page 1's layout from the file itself (a checkpoint may write page N without SQLite
 * having read page 1 from this file: it may have come from the WAL). */
static int learnLayout(CkFile *p, int bytes) {
  unsigned char *page1 = sqlite3_malloc(bytes);
  if (!page1) return SQLITE_NOMEM;
  int rc = ckRead(&p->base, page1, bytes, 0);
  sqlite3_free(page1);
  return rc;
}

static int ckWrite(sqlite3_file *f, const void *buf, int bytes, sqlite3_int64 offset) {
  CkFile *p = (CkFile *)f;
  if (!isPageIo(bytes, offset)) return REALM(f)->xWrite(REAL(f), buf, bytes, offset);
  if (offset == 0) {
    noteLayout(p, (const unsigned char *)buf, bytes);
  } else if (!p->layoutKnown) {
    int rc = learnLayout(p, bytes);
    if (rc != SQLITE_OK) return rc; /* page 1 unreadable or damaged: write nothing */
  }
  if (!p->layoutOk) {
    sqlite3_log(SQLITE_IOERR_WRITE, "stemedb_cksm: %s has no room for page checksums (reserve bytes must be 8)", p->name);
    return SQLITE_IOERR_WRITE;
  }
  if (p->scratchBytes < bytes) {
    unsigned char *grown = sqlite3_realloc(p->scratch, bytes);
    if (!grown) return SQLITE_NOMEM;
    p->scratch = grown;
    p->scratchBytes = bytes;
  }
  memcpy(p->scratch, buf, (size_t)bytes);
  pageSeal(p->scratch, bytes);
  return REALM(f)->xWrite(REAL(f), p->scratch, bytes, offset);
}

/* Reads every page of the file and counts those that do not verify. out[0] pages read,
 * out[1] pages that failed, out[2] the first failing page number (0 when none). */
static int scanFile(CkFile *p, sqlite3_int64 *out) {
  unsigned char header[100];
  sqlite3_int64 size = 0;
  out[0] = out[1] = out[2] = 0;
  int rc = REALM(p)->xFileSize(REAL(p), &size);
  if (rc != SQLITE_OK || size == 0) return rc;
  if (size < 100) {
    out[1] = 1, out[2] = 1;
    return SQLITE_OK;
  }
  rc = REALM(p)->xRead(REAL(p), header, 100, 0);
  if (rc != SQLITE_OK) return rc;
  int bytes = headerPageBytes(header);
  if (!isPageIo(bytes, 0)) bytes = 4096; /* a damaged size field: page 1 will not verify */
  unsigned char *page = sqlite3_malloc(bytes);
  if (!page) return SQLITE_NOMEM;
  for (sqlite3_int64 at = 0; at + bytes <= size; at += bytes) {
    if (at <= CK_PENDING_BYTE && CK_PENDING_BYTE < at + bytes) continue;
    rc = REALM(p)->xRead(REAL(p), page, bytes, at);
    if (rc != SQLITE_OK) break;
    out[0]++;
    if (!pageVerifies(page, bytes)) {
      if (out[1]++ == 0) out[2] = at / bytes + 1;
    }
  }
  if (rc == SQLITE_OK && size % bytes != 0 && out[1]++ == 0) out[2] = size / bytes + 1; /* a torn last page */
  sqlite3_free(page);
  return rc;
}

static int ckFileControl(sqlite3_file *f, int op, void *arg) {
  if (op == STEMEDB_CKSM_FCNTL_SCAN) return scanFile((CkFile *)f, (sqlite3_int64 *)arg);
  if (op == STEMEDB_CKSM_FCNTL_IMPL) {
    *(sqlite3_int64 *)arg = useClmul;
    return SQLITE_OK;
  }
  return REALM(f)->xFileControl(REAL(f), op, arg);
}

static int ckFetch(sqlite3_file *f, sqlite3_int64 offset, int bytes, void **pp) {
  (void)f, (void)offset, (void)bytes;
  *pp = 0; /* no mapping: every page comes through ckRead and is verified */
  return SQLITE_OK;
}

/* Plain forwarding for everything else. */
static int ckTruncate(sqlite3_file *f, sqlite3_int64 size) { return REALM(f)->xTruncate(REAL(f), size); }
static int ckSync(sqlite3_file *f, int flags) { return REALM(f)->xSync(REAL(f), flags); }
static int ckFileSize(sqlite3_file *f, sqlite3_int64 *size) { return REALM(f)->xFileSize(REAL(f), size); }
static int ckLock(sqlite3_file *f, int level) { return REALM(f)->xLock(REAL(f), level); }
static int ckUnlock(sqlite3_file *f, int level) { return REALM(f)->xUnlock(REAL(f), level); }
static int ckCheckReservedLock(sqlite3_file *f, int *out) { return REALM(f)->xCheckReservedLock(REAL(f), out); }
static int ckSectorSize(sqlite3_file *f) { return REALM(f)->xSectorSize(REAL(f)); }
static int ckDeviceCharacteristics(sqlite3_file *f) { return REALM(f)->xDeviceCharacteristics(REAL(f)); }
static int ckShmMap(sqlite3_file *f, int region, int bytes, int extend, void volatile **pp) {
  return REALM(f)->xShmMap(REAL(f), region, bytes, extend, pp);
}
static int ckShmLock(sqlite3_file *f, int offset, int n, int flags) { return REALM(f)->xShmLock(REAL(f), offset, n, flags); }
static void ckShmBarrier(sqlite3_file *f) { REALM(f)->xShmBarrier(REAL(f)); }
static int ckShmUnmap(sqlite3_file *f, int deleteFlag) { return REALM(f)->xShmUnmap(REAL(f), deleteFlag); }
static int ckUnfetch(sqlite3_file *f, sqlite3_int64 offset, void *mapped) {
  (void)offset;
  /* Nothing was mapped by us; a NULL "unmap all" is passed on so the real file drops any map. */
  return mapped == 0 && REALM(f)->iVersion >= 3 ? REALM(f)->xUnfetch(REAL(f), 0, 0) : SQLITE_OK;
}

static const sqlite3_io_methods ckIoMethods = {
    3,           ckClose,    ckRead,          ckWrite,        ckTruncate,   ckSync,      ckFileSize,
    ckLock,      ckUnlock,   ckCheckReservedLock, ckFileControl, ckSectorSize, ckDeviceCharacteristics,
    ckShmMap,    ckShmLock,  ckShmBarrier,    ckShmUnmap,     ckFetch,      ckUnfetch,
};

/* ---- the VFS --------------------------------------------------------------------------- */

static int ckOpen(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *f, int flags, int *outFlags) {
  (void)vfs;
  if (!(flags & SQLITE_OPEN_MAIN_DB) || name == 0 || !sqlite3_uri_boolean(name, CK_URI_PARAM, 0)) {
    /* Not ours: the default VFS opens it in place (our file size is larger than its). */
    return origVfs->xOpen(origVfs, name, f, flags, outFlags);
  }
  CkFile *p = (CkFile *)f;
  memset(p, 0, sizeof(*p));
  p->real = (sqlite3_file *)&p[1];
  p->name = name;
  int rc = origVfs->xOpen(origVfs, name, p->real, flags, outFlags);
  if (rc == SQLITE_OK && p->real->pMethods->iVersion < 2) {
    p->real->pMethods->xClose(p->real);
    rc = SQLITE_CANTOPEN; /* WAL needs shared memory (io methods version 2 or later) */
  }
  p->base.pMethods = rc == SQLITE_OK ? &ckIoMethods : 0;
  return rc;
}

static int ckDelete(sqlite3_vfs *v, const char *name, int syncDir) {
  (void)v;
  return origVfs->xDelete(origVfs, name, syncDir);
}
static int ckAccess(sqlite3_vfs *v, const char *name, int flags, int *out) {
  (void)v;
  return origVfs->xAccess(origVfs, name, flags, out);
}
static int ckFullPathname(sqlite3_vfs *v, const char *name, int n, char *out) {
  (void)v;
  return origVfs->xFullPathname(origVfs, name, n, out);
}
static void *ckDlOpen(sqlite3_vfs *v, const char *path) {
  (void)v;
  return origVfs->xDlOpen(origVfs, path);
}
static void ckDlError(sqlite3_vfs *v, int n, char *out) {
  (void)v;
  origVfs->xDlError(origVfs, n, out);
}
static void (*ckDlSym(sqlite3_vfs *v, void *h, const char *sym))(void) {
  (void)v;
  return origVfs->xDlSym(origVfs, h, sym);
}
static void ckDlClose(sqlite3_vfs *v, void *h) {
  (void)v;
  origVfs->xDlClose(origVfs, h);
}
static int ckRandomness(sqlite3_vfs *v, int n, char *out) {
  (void)v;
  return origVfs->xRandomness(origVfs, n, out);
}
static int ckSleep(sqlite3_vfs *v, int us) {
  (void)v;
  return origVfs->xSleep(origVfs, us);
}
static int ckCurrentTime(sqlite3_vfs *v, double *out) {
  (void)v;
  return origVfs->xCurrentTime(origVfs, out);
}
static int ckGetLastError(sqlite3_vfs *v, int n, char *out) {
  (void)v;
  return origVfs->xGetLastError ? origVfs->xGetLastError(origVfs, n, out) : 0;
}
static int ckCurrentTimeInt64(sqlite3_vfs *v, sqlite3_int64 *out) {
  (void)v;
  return origVfs->xCurrentTimeInt64(origVfs, out);
}
static int ckSetSystemCall(sqlite3_vfs *v, const char *name, sqlite3_syscall_ptr call) {
  (void)v;
  return origVfs->xSetSystemCall(origVfs, name, call);
}
static sqlite3_syscall_ptr ckGetSystemCall(sqlite3_vfs *v, const char *name) {
  (void)v;
  return origVfs->xGetSystemCall(origVfs, name);
}
static const char *ckNextSystemCall(sqlite3_vfs *v, const char *name) {
  (void)v;
  return origVfs->xNextSystemCall(origVfs, name);
}

static sqlite3_vfs ckVfs = {
    3, 0, 0, 0, CK_VFS_NAME, 0, ckOpen, ckDelete, ckAccess, ckFullPathname, ckDlOpen, ckDlError, ckDlSym,
    ckDlClose, ckRandomness, ckSleep, ckCurrentTime, ckGetLastError, ckCurrentTimeInt64, ckSetSystemCall,
    ckGetSystemCall, ckNextSystemCall,
};

/* The entry point (named explicitly by the loader: the file on disk carries a content hash). */
int sqlite3_stemedbcksm_init(sqlite3 *db, char **errOut, const sqlite3_api_routines *api) {
  (void)db;
  SQLITE_EXTENSION_INIT2(api);
  if (sqlite3_vfs_find(CK_VFS_NAME) != 0) return SQLITE_OK_LOAD_PERMANENTLY;
  origVfs = sqlite3_vfs_find(0);
  if (origVfs == 0 || origVfs->iVersion < 3) {
    if (errOut) *errOut = sqlite3_mprintf("stemedb_cksm: no default VFS of version 3");
    return SQLITE_ERROR;
  }
  crcInit();
  ckVfs.szOsFile = (int)sizeof(CkFile) + origVfs->szOsFile;
  ckVfs.mxPathname = origVfs->mxPathname;
  int rc = sqlite3_vfs_register(&ckVfs, 0);
  return rc == SQLITE_OK ? SQLITE_OK_LOAD_PERMANENTLY : rc;
}
