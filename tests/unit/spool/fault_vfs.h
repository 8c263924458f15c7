/* A test VFS that wraps SQLite's default one and fails writes or syncs on demand, so that
 * tests can see exactly how the spool reports a full disk or a failing one. */
#ifndef CT_TEST_FAULT_VFS_H
#define CT_TEST_FAULT_VFS_H

/* Registers the wrapper as the default VFS (once); connections opened afterwards use it.
 * Returns 0 or an SQLite error code. */
int fault_vfs_install(void);

/* From now on, every xWrite returns `write_rc` and every xSync `sync_rc` (SQLITE_OK: pass
 * through). fault_vfs_arm(SQLITE_OK, SQLITE_OK) disarms. */
void fault_vfs_arm(int write_rc, int sync_rc);

/* Number of writes and syncs refused since the last arm. */
long fault_vfs_refused(void);

#endif
