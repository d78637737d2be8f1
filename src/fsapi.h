/* fsapi.h - safe file access beneath a root directory: stat, list, read,
 * write and delete of paths a client names, inside a tree a sandbox writes
 * (a session workspace, a volume). The host never follows anything the
 * sandbox wrote: every lookup is openat2(root_fd, path, RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV) with
 * O_NOFOLLOW, or a *at() call relative to a directory fd opened that way.
 * A symlink anywhere on the path is an error (400 symlink), whoever swaps
 * it in and whenever; nothing outside the root is ever opened, written or
 * deleted (tests/unit/test_fsapi.c attacks it, docs/THREAT_MODEL.md).
 *
 * Paths are data: relative, '/'-separated, given as bytes with a length
 * (so an embedded NUL is seen and refused). fsapi_path_check says what is
 * valid; every call checks its path first. The empty path is the root
 * itself (stat and list only). Names are bytes: they need not be UTF-8.
 *
 * Streaming: read and write move the data through one bounded buffer
 * (FSAPI_BUF bytes); a file is never held in memory, whatever its size. A
 * listing holds at most `max` names in memory to sort them.
 *
 * Errors: every call that can fail takes a struct isobox_err and returns
 * -1 after filling it, with the HTTP status already set (util.h). The
 * stable codes:
 *
 *   400 invalid_path      '..', '.', absolute, NUL, empty component, a
 *                         component over 255 bytes, over 4096 bytes, over
 *                         FSAPI_DEPTH_MAX components; the root where a
 *                         file is needed (write, delete); a mount point
 *   400 symlink           the path names or crosses a symbolic link (the
 *                         host does not follow links; the sandbox can)
 *   404 not_found         a component is missing
 *   400 not_a_directory   a component before the last is not a directory,
 *                         or list of a file
 *   400 is_a_directory    read or write of a directory
 *   400 not_regular       read of a FIFO, socket or device (never opened)
 *   413 too_large         a write longer than its max_bytes
 *   413 quota_exceeded    the subvolume's qgroup limit (EDQUOT) was hit
 *   507 storage_full      the filesystem itself is full (ENOSPC)
 *   409 too_many_entries  a delete of more than FSAPI_DELETE_MAX entries
 *                         or FSAPI_DELETE_DEPTH levels (what was reached
 *                         is deleted; the rest stays)
 *   409 busy              a directory kept filling while it was deleted
 *   499 aborted           the caller's callback stopped the transfer
 *   500 fs_failed         anything else (logged with the errno)
 *
 * Thread-safety: no state; any number of calls at once, on the same root
 * too. Concurrent writers of one path: the last rename wins, each file is
 * whole. A sandbox changing the tree during a call can make the call fail
 * (not_found, symlink, busy), never make it touch anything outside. */
#ifndef ISOBOX_FSAPI_H
#define ISOBOX_FSAPI_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "util.h"

#define FSAPI_NAME_MAX	   255	  /* bytes of one component */
#define FSAPI_PATH_MAX	   4096	  /* bytes of a whole path */
#define FSAPI_DEPTH_MAX	   128	  /* components of a path */
#define FSAPI_LIST_MAX	   10000  /* default bound of one listing */
#define FSAPI_LIST_CEIL	   100000 /* a larger max is clamped to this */
#define FSAPI_DELETE_MAX   100000 /* entries one delete removes at most */
#define FSAPI_DELETE_DEPTH 256	  /* levels one delete descends at most */
#define FSAPI_BUF	   65536  /* the streaming buffer */
/* Files the host creates belong to the sandbox's user. */
#define FSAPI_UID 65534
#define FSAPI_GID 65534

enum fsapi_type { FSAPI_FILE, FSAPI_DIR, FSAPI_SYMLINK, FSAPI_OTHER };

struct fsapi_stat {
	enum fsapi_type type;
	unsigned mode;	       /* permission bits (07777) */
	int64_t size;	       /* bytes (apparent size: sparse files too) */
	struct timespec mtime; /* last modification */
};

/* "file", "dir", "symlink", "other". */
const char *fsapi_type_name(enum fsapi_type t);

/* Check path (n bytes) as described above; allow_root: the empty path is
 * valid (it names the root). 0, or -1 with 400 invalid_path. */
int fsapi_path_check(const char *path, size_t n, int allow_root,
		     struct isobox_err *err);

/* lstat of path beneath root: a symlink as the last component is reported
 * as FSAPI_SYMLINK, not followed. The empty path is the root. */
int fsapi_stat(int root, const char *path, size_t n, struct fsapi_stat *st,
	       struct isobox_err *err);

/* One directory entry given to a list callback; valid during the call. */
struct fsapi_entry {
	const char *name; /* raw bytes, NUL-terminated, no '/' nor NUL */
	size_t name_len;
	int utf8; /* 1 when name is valid UTF-8: else the caller
		   * escapes it (JSON must not carry it raw) */
	struct fsapi_stat st;
};
/* List the directory at path (empty: the root): fn is called once per
 * entry ('.' and '..' left out) in byte order of the names (memcmp), with
 * the entry's lstat (a symlink is FSAPI_SYMLINK, not followed). At most
 * max entries (0: FSAPI_LIST_MAX; at most FSAPI_LIST_CEIL) are read: when the
 * directory holds more, the ones listed are the first max in directory order
 * (sorted among themselves) and *truncated is set. Sorting holds those max
 * names in memory (at most max * 256 bytes). An entry removed while listing is
 * left out. fn returns 0 to go on, < 0 to stop (499 aborted). Returns the
 * number of entries given to fn, or -1 with err. */
int fsapi_list(int root, const char *path, size_t n, size_t max,
	       int (*fn)(const struct fsapi_entry *e, void *ctx), void *ctx,
	       int *truncated, struct isobox_err *err);

/* Open the regular file at path for reading: the last component is first
 * opened with O_PATH (a FIFO, socket or device is never opened for I/O:
 * 400 not_regular), checked with fstat, then reopened O_RDONLY|O_NONBLOCK.
 * Fills st (size and mtime, for Content-Length, Range and ETag). Returns
 * an fd the caller closes, or -1 with err. */
int fsapi_open_read(int root, const char *path, size_t n, struct fsapi_stat *st,
		    struct isobox_err *err);
/* Stream bytes [offset, offset + length) of fd to sink (length < 0: to the
 * end), FSAPI_BUF at a time with pread. Stops early at end of file (a file
 * the sandbox shortens meanwhile gives fewer bytes: the caller that sent a
 * Content-Length must then cut the connection). sink returns 0 to go on, <
 * 0 to stop (499 aborted). Returns the bytes given to sink (>= 0), or -1
 * with err. */
int64_t fsapi_stream(int fd, int64_t offset, int64_t length,
		     int (*sink)(void *ctx, const char *p, size_t n), void *ctx,
		     struct isobox_err *err);
/* fsapi_open_read + fsapi_stream + close. */
int64_t fsapi_read(int root, const char *path, size_t n, int64_t offset,
		   int64_t length,
		   int (*sink)(void *ctx, const char *p, size_t n), void *ctx,
		   struct isobox_err *err);

/* What a write stored. */
struct fsapi_written {
	int64_t bytes;
	char sha256[65]; /* lower-case hex of the content */
};
/* Write a regular file at path with the bytes src gives: src fills up to
 * cap bytes of buf and returns how many (> 0), 0 at the end of the body,
 * or < 0 when the body cannot be had (a cut upload: 499 aborted, the
 * caller may answer its own error instead). Missing parent directories are
 * created (0755, owned FSAPI_UID), each opened again beneath its parent
 * without following. The content goes to an anonymous O_TMPFILE in the
 * target directory, owned FSAPI_UID:FSAPI_GID with mode & 0777, and is
 * linked into place (a rename over an existing symlink, or an exchange
 * with an existing regular file, which is then unlinked: replacing the
 * name, never following it) only when the whole body
 * arrived: a failed or cut write leaves no file and no temporary name
 * (except for directories it created). More than max_bytes (> 0) is 413
 * too_large. Atomic for readers; not fsynced (a host crash within the
 * filesystem's commit interval may lose it). 0, or -1 with err. */
int fsapi_write(int root, const char *path, size_t n, unsigned mode,
		int64_t max_bytes,
		ssize_t (*src)(void *ctx, char *buf, size_t cap), void *ctx,
		struct fsapi_written *out, struct isobox_err *err);

/* Create the directory at path and missing parents (0755, owned
 * FSAPI_UID); an existing directory is fine. 0, or -1 with err. */
int fsapi_mkdir(int root, const char *path, size_t n, struct isobox_err *err);

/* Delete what path names: a file, a symlink (the link itself, never its
 * target), another non-directory, or a directory with everything beneath
 * it (never following a symlink, at most FSAPI_DELETE_MAX entries and
 * FSAPI_DELETE_DEPTH levels). The root itself is 400 invalid_path; a
 * missing path is 404 not_found (callers whose API says a DELETE of a
 * missing path succeeds test for that code). 0, or -1 with err. */
int fsapi_delete(int root, const char *path, size_t n, struct isobox_err *err);

#endif
