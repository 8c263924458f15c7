#include "fault_vfs.h"

#include <sqlite3.h>
#include <stddef.h>
#include <string.h>

/* Our file: the io-methods header, then the real VFS's file right behind it. */
typedef struct {
  sqlite3_file base;
  sqlite3_file *real;
} fault_file_t;

static sqlite3_vfs *real_vfs;
static sqlite3_vfs fault_vfs;
static sqlite3_io_methods fault_methods;
static int write_fault, sync_fault;
static long refused;

void fault_vfs_arm(int write_rc, int sync_rc) {
  write_fault = write_rc;
  sync_fault = sync_rc;
  refused = 0;
}

long fault_vfs_refused(void) { return refused; }

static sqlite3_file *real(sqlite3_file *f) { return ((fault_file_t *)f)->real; }

static int f_close(sqlite3_file *f) { return real(f)->pMethods->xClose(real(f)); }
static int f_read(sqlite3_file *f, void *buf, int amt, sqlite3_int64 off) {
  return real(f)->pMethods->xRead(real(f), buf, amt, off);
}
static int f_write(sqlite3_file *f, const void *buf, int amt, sqlite3_int64 off) {
  if (write_fault != SQLITE_OK) {
    refused++;
    return write_fault;
  }
  return real(f)->pMethods->xWrite(real(f), buf, amt, off);
}
static int f_truncate(sqlite3_file *f, sqlite3_int64 size) {
  return real(f)->pMethods->xTruncate(real(f), size);
}
static int f_sync(sqlite3_file *f, int flags) {
  if (sync_fault != SQLITE_OK) {
    refused++;
    return sync_fault;
  }
  return real(f)->pMethods->xSync(real(f), flags);
}
static int f_size(sqlite3_file *f, sqlite3_int64 *size) {
  return real(f)->pMethods->xFileSize(real(f), size);
}
static int f_lock(sqlite3_file *f, int l) { return real(f)->pMethods->xLock(real(f), l); }
static int f_unlock(sqlite3_file *f, int l) { return real(f)->pMethods->xUnlock(real(f), l); }
static int f_check(sqlite3_file *f, int *out) {
  return real(f)->pMethods->xCheckReservedLock(real(f), out);
}
static int f_control(sqlite3_file *f, int op, void *arg) {
  return real(f)->pMethods->xFileControl(real(f), op, arg);
}
static int f_sector(sqlite3_file *f) { return real(f)->pMethods->xSectorSize(real(f)); }
static int f_device(sqlite3_file *f) {
  return real(f)->pMethods->xDeviceCharacteristics(real(f));
}
static int f_shm_map(sqlite3_file *f, int pg, int pgsz, int extend, void volatile **pp) {
  return real(f)->pMethods->xShmMap(real(f), pg, pgsz, extend, pp);
}
static int f_shm_lock(sqlite3_file *f, int off, int n, int flags) {
  return real(f)->pMethods->xShmLock(real(f), off, n, flags);
}
static void f_shm_barrier(sqlite3_file *f) { real(f)->pMethods->xShmBarrier(real(f)); }
static int f_shm_unmap(sqlite3_file *f, int del) {
  return real(f)->pMethods->xShmUnmap(real(f), del);
}
/* No memory-mapped I/O: every page goes through f_read/f_write. */
static int f_fetch(sqlite3_file *f, sqlite3_int64 off, int amt, void **pp) {
  (void)f;
  (void)off;
  (void)amt;
  *pp = NULL;
  return SQLITE_OK;
}
static int f_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p) {
  (void)f;
  (void)off;
  (void)p;
  return SQLITE_OK;
}

static int f_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags,
                  int *out_flags) {
  (void)vfs;
  fault_file_t *ff = (fault_file_t *)file;
  ff->real = (sqlite3_file *)(ff + 1);
  int rc = real_vfs->xOpen(real_vfs, name, ff->real, flags, out_flags);
  /* SQLite calls xClose only when pMethods is set, which must match what the real open did. */
  ff->base.pMethods = ff->real->pMethods != NULL ? &fault_methods : NULL;
  return rc;
}

static int f_delete(sqlite3_vfs *vfs, const char *name, int sync_dir) {
  (void)vfs;
  return real_vfs->xDelete(real_vfs, name, sync_dir);
}
static int f_access(sqlite3_vfs *vfs, const char *name, int flags, int *out) {
  (void)vfs;
  return real_vfs->xAccess(real_vfs, name, flags, out);
}
static int f_full_path(sqlite3_vfs *vfs, const char *name, int n, char *out) {
  (void)vfs;
  return real_vfs->xFullPathname(real_vfs, name, n, out);
}

int fault_vfs_install(void) {
  if (real_vfs != NULL)
    return SQLITE_OK;
  sqlite3_vfs *def = sqlite3_vfs_find(NULL);
  if (def == NULL)
    return SQLITE_ERROR;
  real_vfs = def;
  fault_vfs = *def; /* randomness, sleep, time, dlopen and syscalls pass through */
  fault_vfs.szOsFile = (int)sizeof(fault_file_t) + def->szOsFile;
  fault_vfs.zName = "ct-fault";
  fault_vfs.pNext = NULL;
  fault_vfs.xOpen = f_open;
  fault_vfs.xDelete = f_delete;
  fault_vfs.xAccess = f_access;
  fault_vfs.xFullPathname = f_full_path;
  fault_methods = (sqlite3_io_methods){
      .iVersion = 3,
      .xClose = f_close,
      .xRead = f_read,
      .xWrite = f_write,
      .xTruncate = f_truncate,
      .xSync = f_sync,
      .xFileSize = f_size,
      .xLock = f_lock,
      .xUnlock = f_unlock,
      .xCheckReservedLock = f_check,
      .xFileControl = f_control,
      .xSectorSize = f_sector,
      .xDeviceCharacteristics = f_device,
      .xShmMap = f_shm_map,
      .xShmLock = f_shm_lock,
      .xShmBarrier = f_shm_barrier,
      .xShmUnmap = f_shm_unmap,
      .xFetch = f_fetch,
      .xUnfetch = f_unfetch,
  };
  return sqlite3_vfs_register(&fault_vfs, 1);
}
