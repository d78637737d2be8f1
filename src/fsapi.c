/* fsapi.c - safe file access beneath a root directory (contract in
 * fsapi.h). Every lookup goes through resolve(): openat2 with the four
 * RESOLVE_* restrictions and O_NOFOLLOW, relative to the root or to a
 * directory fd that was itself opened that way, so the kernel, not a
 * string check, keeps each step beneath the root and off symlinks. */
#include "fsapi.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define RESOLVE_FLAGS                                                          \
	(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS |       \
	 RESOLVE_NO_XDEV)
/* getdents64 buffer of one directory level. */
#define DENTS_BUF 8192
/* Rounds of emptying a directory the sandbox keeps filling. */
#define DELETE_ROUNDS 4

struct linux_dirent64 {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

const char *fsapi_type_name(enum fsapi_type t)
{
	switch (t) {
	case FSAPI_FILE:
		return "file";
	case FSAPI_DIR:
		return "dir";
	case FSAPI_SYMLINK:
		return "symlink";
	case FSAPI_OTHER:
		break;
	}
	return "other";
}

/* ENOTDIR from opening name in dirfd with O_DIRECTORY|O_NOFOLLOW: ELOOP
 * when name is a symlink (so that the caller names the link), else
 * ENOTDIR. Classification only. */
static int notdir_or_link(int dirfd, const char *name)
{
	struct stat st;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISLNK(st.st_mode)) {
		return ELOOP;
	}
	return ENOTDIR;
}

/* Where openat2 is missing (kernels before 5.6; valgrind's syscall
 * table): the same walk by hand, one component at a time, each opened
 * O_NOFOLLOW relative to the directory fd of the one before. Safe for the
 * paths this module walks (checked: no '..', no empty component, so no
 * step can climb); it does not refuse mount points (RESOLVE_NO_XDEV),
 * which a sandbox cannot make on the host. fd or -errno. */
static int resolve_walk(int dirfd, const char *path, int flags)
{
	char buf[FSAPI_PATH_MAX + 1];
	char *comp = buf;
	int cur = dirfd;
	int fd;
	int e;

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf)) {
		return -ENAMETOOLONG;
	}
	for (;;) {
		char *slash = strchr(comp, '/');

		if (slash == NULL) {
			break;
		}
		*slash = '\0';
		fd = openat(cur, comp,
			    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		e = fd < 0 ? errno : 0;
		if (e == ENOTDIR) {
			e = notdir_or_link(cur, comp);
		}
		if (cur != dirfd) {
			close(cur);
		}
		if (fd < 0) {
			return -e;
		}
		cur = fd;
		comp = slash + 1;
	}
	fd = openat(cur, comp, flags | O_NOFOLLOW | O_CLOEXEC);
	e = fd < 0 ? errno : 0;
	if (e == ENOTDIR && (flags & O_DIRECTORY)) {
		e = notdir_or_link(cur, comp);
	}
	if (cur != dirfd) {
		close(cur);
	}
	return fd < 0 ? -e : fd;
}

/* openat2(dirfd, path) beneath dirfd, following nothing: fd or -errno.
 * -EAGAIN (a concurrent rename the kernel could not rule out) is retried. */
static int resolve(int dirfd, const char *path, int flags)
{
	struct open_how how = {
	    .flags = (uint64_t)(flags | O_NOFOLLOW | O_CLOEXEC),
	    .resolve = RESOLVE_FLAGS,
	};
	int i;

	/* openat2 refuses O_PATH with any flag O_PATH ignores. */
	if (!(flags & O_PATH)) {
		how.flags |= O_NOCTTY;
	}

	for (i = 0; i < 16; i++) {
		long fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));

		if (fd >= 0) {
			return (int)fd;
		}
		if (errno != EAGAIN && errno != EINTR) {
			break;
		}
	}
	if (errno == ENOSYS) {
		return resolve_walk(dirfd, path, flags);
	}
	if (errno == ENOTDIR && (flags & O_DIRECTORY)) {
		/* O_DIRECTORY on a symlink says ENOTDIR: name it ELOOP so
		 * that the caller reports the link (classification only). */
		int e = errno;
		struct stat st;
		long fd;

		how.flags = O_PATH | O_NOFOLLOW | O_CLOEXEC;
		fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
		if (fd >= 0) {
			e = fstat((int)fd, &st) == 0 && S_ISLNK(st.st_mode)
				? ELOOP
				: ENOTDIR;
			close((int)fd);
		}
		return -e;
	}
	return -errno;
}

/* Fill err for a failed system call (e = errno value); what says which
 * step, for the log of unexpected ones. Returns -1. */
static int fs_err(struct isobox_err *err, int e, const char *what)
{
	switch (e) {
	case ENOENT:
		return err_set(err, 404, "not_found",
			       "no such file or directory");
	case ENOTDIR:
		return err_set(err, 400, "not_a_directory",
			       "a component of the path is not a directory");
	case EISDIR:
		return err_set(err, 400, "is_a_directory",
			       "the path names a directory");
	case ELOOP:
		return err_set(err, 400, "symlink",
			       "the path names or crosses a symbolic link, "
			       "which the host does not follow");
	case EXDEV:
	case ENAMETOOLONG:
		return err_set(err, 400, "invalid_path",
			       "the path crosses a mount point or is too long");
	case EDQUOT:
		return err_set(err, 413, "quota_exceeded",
			       "the storage quota is exhausted");
	case ENOSPC:
		return err_set(err, 507, "storage_full", "the storage is full");
	case ENOTEMPTY:
	case EEXIST:
		return err_set(err, 409, "busy",
			       "the directory changed while it was deleted");
	default:
		break;
	}
	log_error("fsapi: %s: %s", what, strerror(e));
	return err_set(err, 500, "fs_failed", "%s failed: %s", what,
		       strerror(e));
}

int fsapi_path_check(const char *path, size_t n, int allow_root,
		     struct isobox_err *err)
{
	size_t i = 0;
	size_t depth = 0;

	if (n == 0) {
		if (allow_root) {
			return 0;
		}
		return err_set(err, 400, "invalid_path",
			       "the path names the root, a file is needed");
	}
	if (path == NULL || n > FSAPI_PATH_MAX) {
		return err_set(err, 400, "invalid_path",
			       "the path is longer than %d bytes",
			       FSAPI_PATH_MAX);
	}
	if (memchr(path, '\0', n) != NULL) {
		return err_set(err, 400, "invalid_path",
			       "the path contains a NUL byte");
	}
	if (path[0] == '/') {
		return err_set(err, 400, "invalid_path",
			       "the path must be relative (no leading '/')");
	}
	while (i <= n) {
		const char *c = path + i;
		const char *slash = memchr(c, '/', n - i);
		size_t len = slash ? (size_t)(slash - c) : n - i;

		if (len == 0) {
			return err_set(err, 400, "invalid_path",
				       "the path has an empty component "
				       "('//' or a trailing '/')");
		}
		if (len > FSAPI_NAME_MAX) {
			return err_set(err, 400, "invalid_path",
				       "a path component is longer than %d "
				       "bytes",
				       FSAPI_NAME_MAX);
		}
		if ((len == 1 && c[0] == '.') ||
		    (len == 2 && c[0] == '.' && c[1] == '.')) {
			return err_set(err, 400, "invalid_path",
				       "'.' and '..' are not allowed in a "
				       "path");
		}
		if (++depth > FSAPI_DEPTH_MAX) {
			return err_set(err, 400, "invalid_path",
				       "the path has more than %d components",
				       FSAPI_DEPTH_MAX);
		}
		i += len + 1;
	}
	return 0;
}

/* A checked path as a C string, split at its last '/'. */
struct fpath {
	char buf[FSAPI_PATH_MAX + 1]; /* the whole path */
	char dir[FSAPI_PATH_MAX + 1]; /* its parent part */
	const char *parent; /* "." when the last component is at the root */
	const char *last;   /* the last component (in buf); "" for the root */
};

static int fpath_init(struct fpath *p, const char *path, size_t n,
		      int allow_root, struct isobox_err *err)
{
	char *slash;

	if (fsapi_path_check(path, n, allow_root, err) < 0) {
		return -1;
	}
	memcpy(p->buf, path, n);
	p->buf[n] = '\0';
	memcpy(p->dir, path, n);
	p->dir[n] = '\0';
	slash = strrchr(p->dir, '/');
	if (slash == NULL) {
		p->parent = ".";
		p->last = p->buf;
	} else {
		*slash = '\0';
		p->parent = p->dir;
		p->last = p->buf + (slash - p->dir) + 1;
	}
	return 0;
}

static void stat_fill(const struct stat *s, struct fsapi_stat *st)
{
	memset(st, 0, sizeof(*st));
	if (S_ISREG(s->st_mode)) {
		st->type = FSAPI_FILE;
	} else if (S_ISDIR(s->st_mode)) {
		st->type = FSAPI_DIR;
	} else if (S_ISLNK(s->st_mode)) {
		st->type = FSAPI_SYMLINK;
	} else {
		st->type = FSAPI_OTHER;
	}
	st->mode = (unsigned)(s->st_mode & 07777);
	st->size = (int64_t)s->st_size;
	st->mtime = s->st_mtim;
}

/* The directory fd of p->parent (not created). -1 with err. */
static int open_parent(int root, const struct fpath *p, struct isobox_err *err)
{
	int fd = resolve(root, p->parent, O_RDONLY | O_DIRECTORY);

	if (fd < 0) {
		return fs_err(err, -fd, "opening the parent directory");
	}
	return fd;
}

/* Open directory name beneath dirfd, creating it (0755, FSAPI_UID) when
 * missing. fd, or -errno. */
static int open_or_mkdir(int dirfd, const char *name)
{
	int fd = resolve(dirfd, name, O_RDONLY | O_DIRECTORY);
	int made = 0;

	if (fd != -ENOENT) {
		return fd;
	}
	if (mkdirat(dirfd, name, 0700) == 0) {
		made = 1;
	} else if (errno != EEXIST) {
		return -errno;
	}
	/* Opened again without following: whatever is there now (the
	 * sandbox may have put a symlink in its place) is checked. */
	fd = resolve(dirfd, name, O_RDONLY | O_DIRECTORY);
	if (fd >= 0 && made &&
	    (fchown(fd, FSAPI_UID, FSAPI_GID) < 0 || fchmod(fd, 0755) < 0)) {
		int e = errno;

		close(fd);
		return -e;
	}
	return fd;
}

/* Walk p->parent from root one component at a time, creating what is
 * missing. The directory fd, or -1 with err. */
static int open_parent_create(int root, struct fpath *p, struct isobox_err *err)
{
	char *s;
	char *save = NULL;
	char walk[FSAPI_PATH_MAX + 1];
	int cur;

	cur = fcntl(root, F_DUPFD_CLOEXEC, 0);
	if (cur < 0) {
		return fs_err(err, errno, "dup");
	}
	if (strcmp(p->parent, ".") == 0) {
		return cur;
	}
	snprintf(walk, sizeof(walk), "%s", p->parent);
	for (s = strtok_r(walk, "/", &save); s != NULL;
	     s = strtok_r(NULL, "/", &save)) {
		int fd = open_or_mkdir(cur, s);

		close(cur);
		if (fd < 0) {
			return fs_err(err, -fd, "creating a parent directory");
		}
		cur = fd;
	}
	return cur;
}

int fsapi_stat(int root, const char *path, size_t n, struct fsapi_stat *st,
	       struct isobox_err *err)
{
	struct fpath p;
	struct stat s;
	int fd;
	int rc;

	if (fpath_init(&p, path, n, 1, err) < 0) {
		return -1;
	}
	/* O_PATH|O_NOFOLLOW: a symlink as the last component is opened
	 * itself (openat2 allows exactly that under RESOLVE_NO_SYMLINKS). */
	fd = resolve(root, n == 0 ? "." : p.buf, O_PATH);
	if (fd < 0) {
		return fs_err(err, -fd, "stat");
	}
	rc = fstat(fd, &s);
	close(fd);
	if (rc < 0) {
		return fs_err(err, errno, "fstat");
	}
	stat_fill(&s, st);
	return 0;
}

struct name {
	char *s;
	size_t len;
};

static int name_cmp(const void *a, const void *b)
{
	const struct name *x = a;
	const struct name *y = b;
	size_t m = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->s, y->s, m);

	if (c != 0) {
		return c;
	}
	return (x->len > y->len) - (x->len < y->len);
}

static int is_dot(const char *s)
{
	return s[0] == '.' && (s[1] == '\0' || (s[1] == '.' && s[2] == '\0'));
}

int fsapi_list(int root, const char *path, size_t n, size_t max,
	       int (*fn)(const struct fsapi_entry *e, void *ctx), void *ctx,
	       int *truncated, struct isobox_err *err)
{
	struct fpath p;
	struct name *names = NULL;
	size_t count = 0;
	size_t cap = 0;
	size_t i;
	char *dents = NULL;
	int fd;
	int given = 0;
	int rc = -1;

	*truncated = 0;
	if (max == 0) {
		max = FSAPI_LIST_MAX;
	}
	if (fpath_init(&p, path, n, 1, err) < 0) {
		return -1;
	}
	fd = resolve(root, n == 0 ? "." : p.buf, O_RDONLY | O_DIRECTORY);
	if (fd < 0) {
		return fs_err(err, -fd, "opening the directory");
	}
	if (max > FSAPI_LIST_CEIL) {
		max = FSAPI_LIST_CEIL;
	}
	dents = xmalloc(DENTS_BUF);
	for (;;) {
		long got = syscall(SYS_getdents64, fd, dents, DENTS_BUF);
		long off = 0;

		if (got < 0) {
			fs_err(err, errno, "reading the directory");
			goto out;
		}
		if (got == 0) {
			break;
		}
		while (off < got) {
			struct linux_dirent64 *d =
			    (struct linux_dirent64 *)(void *)(dents + off);

			off += d->d_reclen;
			if (is_dot(d->d_name)) {
				continue;
			}
			if (count == max) {
				*truncated = 1;
				goto sorted;
			}
			if (count == cap) {
				cap = cap ? cap * 2 : 64;
				names = xrealloc(names, cap * sizeof(*names));
			}
			names[count].len = strlen(d->d_name);
			names[count].s = xstrndup(d->d_name, names[count].len);
			count++;
		}
	}
sorted:
	if (count > 0) {
		qsort(names, count, sizeof(*names), name_cmp);
	}
	for (i = 0; i < count; i++) {
		struct fsapi_entry e;
		struct stat s;

		if (fstatat(fd, names[i].s, &s, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT) {
				continue; /* removed meanwhile */
			}
			fs_err(err, errno, "fstatat");
			goto out;
		}
		e.name = names[i].s;
		e.name_len = names[i].len;
		e.utf8 = utf8_valid(names[i].s, names[i].len);
		stat_fill(&s, &e.st);
		if (fn(&e, ctx) < 0) {
			err_set(err, 499, "aborted", "the listing was stopped");
			goto out;
		}
		given++;
	}
	rc = given;
out:
	for (i = 0; i < count; i++) {
		free(names[i].s);
	}
	free(names);
	free(dents);
	close(fd);
	return rc;
}

int fsapi_open_read(int root, const char *path, size_t n, struct fsapi_stat *st,
		    struct isobox_err *err)
{
	struct fpath p;
	struct stat s;
	struct stat s2;
	char proc[64];
	int pfd;
	int fd;

	if (fpath_init(&p, path, n, 1, err) < 0) {
		return -1;
	}
	pfd = resolve(root, n == 0 ? "." : p.buf, O_PATH);
	if (pfd < 0) {
		return fs_err(err, -pfd, "opening the file");
	}
	if (fstat(pfd, &s) < 0) {
		int e = errno;

		close(pfd);
		return fs_err(err, e, "fstat");
	}
	if (!S_ISREG(s.st_mode)) {
		close(pfd);
		if (S_ISDIR(s.st_mode)) {
			return fs_err(err, EISDIR, "open");
		}
		if (S_ISLNK(s.st_mode)) {
			return fs_err(err, ELOOP, "open");
		}
		return err_set(err, 400, "not_regular",
			       "the path names a FIFO, socket or device, "
			       "which is not read");
	}
	/* Reopen the very inode that was checked: an O_PATH fd is upgraded
	 * through its /proc/self/fd entry (our own magic link, not one the
	 * sandbox made). A regular file never blocks; O_NONBLOCK all the
	 * same. */
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pfd);
	fd = open(proc, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	close(pfd);
	if (fd < 0) {
		return fs_err(err, errno, "reopening the file");
	}
	if (fstat(fd, &s2) < 0 || s2.st_ino != s.st_ino ||
	    s2.st_dev != s.st_dev || !S_ISREG(s2.st_mode)) {
		close(fd);
		return err_set(err, 500, "fs_failed",
			       "the file changed while it was opened");
	}
	if (st != NULL) {
		stat_fill(&s2, st);
	}
	return fd;
}

int64_t fsapi_stream(int fd, int64_t offset, int64_t length,
		     int (*sink)(void *ctx, const char *p, size_t n), void *ctx,
		     struct isobox_err *err)
{
	char *buf;
	int64_t done = 0;

	if (offset < 0) {
		return err_set(err, 400, "invalid_range", "a negative offset");
	}
	buf = xmalloc(FSAPI_BUF);
	while (length < 0 || done < length) {
		size_t want = FSAPI_BUF;
		ssize_t got;

		if (length >= 0 && (int64_t)want > length - done) {
			want = (size_t)(length - done);
		}
		got = pread(fd, buf, want, (off_t)(offset + done));
		if (got < 0) {
			if (errno == EINTR) {
				continue;
			}
			fs_err(err, errno, "reading the file");
			free(buf);
			return -1;
		}
		if (got == 0) {
			break; /* end of file */
		}
		if (sink(ctx, buf, (size_t)got) < 0) {
			free(buf);
			return err_set(err, 499, "aborted",
				       "the download was stopped");
		}
		done += got;
	}
	free(buf);
	return done;
}

int64_t fsapi_read(int root, const char *path, size_t n, int64_t offset,
		   int64_t length,
		   int (*sink)(void *ctx, const char *p, size_t n), void *ctx,
		   struct isobox_err *err)
{
	int fd = fsapi_open_read(root, path, n, NULL, err);
	int64_t rc;

	if (fd < 0) {
		return -1;
	}
	rc = fsapi_stream(fd, offset, length, sink, ctx, err);
	close(fd);
	return rc;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR) {
				continue;
			}
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* A fresh hidden name in the target directory for the link step. */
static void temp_name(char out[40])
{
	char hex[17];

	random_hex(hex, 8);
	snprintf(out, 40, ".isobox-tmp-%s", hex);
}

/* An unnamed file in dfd (O_TMPFILE); where the filesystem has none, a
 * hidden name created O_EXCL (*named is then set). fd or -errno. */
static int open_temp(int dfd, char tmp[40], int *named)
{
	int fd = openat(dfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
	int i;

	*named = 0;
	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR)) {
		return fd >= 0 ? fd : -errno;
	}
	for (i = 0; i < 8; i++) {
		temp_name(tmp);
		fd = openat(
		    dfd, tmp,
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0) {
			*named = 1;
			return fd;
		}
		if (errno != EEXIST) {
			break;
		}
	}
	return -errno;
}

/* Link the unnamed file fd as name in dfd. AT_EMPTY_PATH needs
 * CAP_DAC_READ_SEARCH (the service runs as root); without it, the same
 * through our own /proc/self/fd link. 0 or -1 with errno. */
static int link_fd(int fd, int dfd, const char *name)
{
	char proc[64];

	if (linkat(fd, "", dfd, name, AT_EMPTY_PATH) == 0) {
		return 0;
	}
	if (errno != ENOENT) {
		return -1;
	}
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	return linkat(AT_FDCWD, proc, dfd, name, AT_SYMLINK_FOLLOW);
}

/* Where last is a regular file, put the finished file named tmp in its
 * place by swapping the two names (RENAME_EXCHANGE, atomic for readers as
 * a rename is) and unlinking the old file, now named tmp. A rename that
 * replaces a regular file makes btrfs start writeback of the new file's
 * data at once, in the caller (filemap_flush in btrfs_rename): about 35 ms
 * of a 64 MiB upload's 150 ms; an exchange does not. 0 when done (the
 * name tmp is gone), 1 when the caller should rename instead (last is
 * missing, not a regular file, or the filesystem cannot exchange: tmp is
 * untouched), -EISDIR when a directory raced into last (tmp is gone).
 * Nothing is followed: the names are swapped, not resolved. */
static int swap_in(int dfd, const char *tmp, const char *last)
{
	struct stat s;

	if (fstatat(dfd, last, &s, AT_SYMLINK_NOFOLLOW) < 0 ||
	    !S_ISREG(s.st_mode) ||
	    renameat2(dfd, tmp, dfd, last, RENAME_EXCHANGE) < 0) {
		return 1;
	}
	/* Whatever was at last now is tmp, never followed. A directory
	 * swapped in since the fstatat goes back (as a rename onto it would
	 * have failed), and the new file goes with tmp; when even that
	 * fails (raced again), the new file is in place: done. */
	if (fstatat(dfd, tmp, &s, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISDIR(s.st_mode)) {
		if (renameat2(dfd, tmp, dfd, last, RENAME_EXCHANGE) < 0) {
			return 0;
		}
		unlinkat(dfd, tmp, 0);
		return -EISDIR;
	}
	if (unlinkat(dfd, tmp, 0) < 0) {
		log_warn("fsapi: the replaced file stays as %s: %s", tmp,
			 strerror(errno));
	}
	return 0;
}

/* Give the finished temp file (fd, or the name tmp when named) the name
 * last in dfd. 0 or -errno; nothing is left behind on failure. */
static int publish(int dfd, int fd, char tmp[40], int named, const char *last)
{
	int i;
	int e;

	if (!named) {
		for (i = 0; i < 8; i++) {
			temp_name(tmp);
			if (link_fd(fd, dfd, tmp) == 0) {
				break;
			}
			if (errno != EEXIST) {
				return -errno;
			}
		}
		if (i == 8) {
			return -EEXIST;
		}
	}
	e = swap_in(dfd, tmp, last);
	if (e <= 0) {
		return e;
	}
	/* rename replaces a file or a symlink by name, never following;
	 * onto a directory it fails with EISDIR. */
	if (renameat(dfd, tmp, dfd, last) == 0) {
		return 0;
	}
	e = errno;
	unlinkat(dfd, tmp, 0);
	return -e;
}

/* An upload is hashed on a second thread while the first reads it and
 * writes it: on this path the hash costs about as much CPU as the reads
 * and writes together (SHA-256 at ~1.6 GB/s against page-cache writes and
 * 8 KiB FastCGI reads), so doing both at once nearly halves a large
 * upload's time in the app when a core is free. The chunks pass through
 * HASH_SLOTS buffers of HASH_SLOT_BYTES: memory stays bounded, the reader waits
 * when the hasher is that far behind. A body that fits one buffer never
 * starts the thread; a failed pthread_create hashes in line. */
#define HASH_SLOTS 4
/* One slot: several reads of the source, written with one write(2) and
 * handed over at once (fewer calls and wake-ups than a slot per read). */
#define HASH_SLOT_BYTES (4 * FSAPI_BUF)

struct hasher {
	struct sha256 h;
	char *buf; /* HASH_SLOTS * HASH_SLOT_BYTES */
	size_t len[HASH_SLOTS];
	unsigned given;	 /* chunks handed to the thread */
	unsigned hashed; /* chunks it is done with */
	int done;	 /* no more chunks will come */
	int threaded;
	pthread_t t;
	pthread_mutex_t mu;
	pthread_cond_t cv;
};

static void *hasher_main(void *arg)
{
	struct hasher *hz = arg;
	unsigned i;

	pthread_mutex_lock(&hz->mu);
	for (;;) {
		while (hz->hashed == hz->given && !hz->done) {
			pthread_cond_wait(&hz->cv, &hz->mu);
		}
		if (hz->hashed == hz->given) {
			break;
		}
		i = hz->hashed % HASH_SLOTS;
		pthread_mutex_unlock(&hz->mu);
		sha256_update(&hz->h, hz->buf + (size_t)i * HASH_SLOT_BYTES,
			      hz->len[i]);
		pthread_mutex_lock(&hz->mu);
		hz->hashed++;
		pthread_cond_broadcast(&hz->cv);
	}
	pthread_mutex_unlock(&hz->mu);
	return NULL;
}

static void hasher_init(struct hasher *hz)
{
	memset(hz, 0, sizeof(*hz));
	sha256_init(&hz->h);
	hz->buf = xmalloc((size_t)HASH_SLOTS * HASH_SLOT_BYTES);
	pthread_mutex_init(&hz->mu, NULL);
	pthread_cond_init(&hz->cv, NULL);
}

/* The buffer the next chunk is read into: one the thread is done with. */
static char *hasher_slot(struct hasher *hz)
{
	if (hz->threaded) {
		pthread_mutex_lock(&hz->mu);
		while (hz->given - hz->hashed >= HASH_SLOTS) {
			pthread_cond_wait(&hz->cv, &hz->mu);
		}
		pthread_mutex_unlock(&hz->mu);
	}
	return hz->buf + (size_t)(hz->given % HASH_SLOTS) * HASH_SLOT_BYTES;
}

/* Hash the n bytes just read into hasher_slot(): hand them to the thread,
 * starting it at the first full buffer (more is likely to follow). */
static void hasher_give(struct hasher *hz, size_t n)
{
	unsigned i = hz->given % HASH_SLOTS;

	if (!hz->threaded && n == HASH_SLOT_BYTES &&
	    pthread_create(&hz->t, NULL, hasher_main, hz) == 0) {
		hz->threaded = 1;
	}
	if (!hz->threaded) {
		sha256_update(&hz->h, hz->buf + (size_t)i * HASH_SLOT_BYTES, n);
		hz->given++;
		hz->hashed++;
		return;
	}
	pthread_mutex_lock(&hz->mu);
	hz->len[i] = n;
	hz->given++;
	pthread_cond_broadcast(&hz->cv);
	pthread_mutex_unlock(&hz->mu);
}

/* Wait for the thread to hash what it was given, and end it. */
static void hasher_stop(struct hasher *hz)
{
	if (hz->threaded) {
		pthread_mutex_lock(&hz->mu);
		hz->done = 1;
		pthread_cond_broadcast(&hz->cv);
		pthread_mutex_unlock(&hz->mu);
		pthread_join(hz->t, NULL);
		hz->threaded = 0;
	}
}

static void hasher_free(struct hasher *hz)
{
	hasher_stop(hz);
	sha256_free(&hz->h);
	free(hz->buf);
	pthread_mutex_destroy(&hz->mu);
	pthread_cond_destroy(&hz->cv);
}

/* Read from src into buf until cap bytes or the end: the bytes read, -1
 * when the source failed, -2 when it gave more than it was asked for. */
static ssize_t fill_slot(ssize_t (*src)(void *ctx, char *buf, size_t cap),
			 void *ctx, char *buf, size_t cap)
{
	size_t have = 0;

	while (have < cap) {
		size_t want = cap - have < FSAPI_BUF ? cap - have : FSAPI_BUF;
		ssize_t got = src(ctx, buf + have, want);

		if (got < 0) {
			return -1;
		}
		if (got == 0) {
			break;
		}
		if ((size_t)got > want) {
			return -2;
		}
		have += (size_t)got;
	}
	return (ssize_t)have;
}

int fsapi_write(int root, const char *path, size_t n, unsigned mode,
		int64_t max_bytes,
		ssize_t (*src)(void *ctx, char *buf, size_t cap), void *ctx,
		struct fsapi_written *out, struct isobox_err *err)
{
	struct fpath p;
	struct stat s;
	struct hasher hz;
	uint8_t digest[32];
	char tmp[40] = "";
	int hashing = 0;
	int64_t total = 0;
	int named = 0;
	int dfd;
	int fd = -1;
	int rc = -1;
	int e;

	memset(out, 0, sizeof(*out));
	if (fpath_init(&p, path, n, 0, err) < 0) {
		return -1;
	}
	dfd = open_parent_create(root, &p, err);
	if (dfd < 0) {
		return -1;
	}
	/* Refuse a directory before reading any of the body. */
	if (fstatat(dfd, p.last, &s, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISDIR(s.st_mode)) {
		fs_err(err, EISDIR, "write");
		goto out;
	}
	fd = open_temp(dfd, tmp, &named);
	if (fd < 0) {
		fs_err(err, -fd, "creating the file");
		goto out;
	}
	if (fchown(fd, FSAPI_UID, FSAPI_GID) < 0 ||
	    fchmod(fd, mode & 0777) < 0) {
		fs_err(err, errno, "fchown");
		goto out;
	}
	hasher_init(&hz);
	hashing = 1;
	for (;;) {
		char *buf = hasher_slot(&hz);
		ssize_t got = fill_slot(src, ctx, buf, HASH_SLOT_BYTES);

		if (got == -1) {
			err_set(err, 499, "aborted",
				"the upload ended before its body");
			goto out;
		}
		if (got < 0) {
			err_set(err, 500, "fs_failed",
				"the body source overran its buffer");
			goto out;
		}
		if (got == 0) {
			break;
		}
		if (max_bytes > 0 && total + got > max_bytes) {
			err_set(err, 413, "too_large",
				"the file is larger than %lld bytes",
				(long long)max_bytes);
			goto out;
		}
		e = write_all(fd, buf, (size_t)got);
		if (e < 0) {
			fs_err(err, -e, "writing the file");
			goto out;
		}
		hasher_give(&hz, (size_t)got);
		total += got;
		if (got < HASH_SLOT_BYTES) {
			break; /* fill_slot stopped at the end */
		}
	}
	hasher_stop(&hz);
	e = publish(dfd, fd, tmp, named, p.last);
	named = 0; /* publish removed or renamed it */
	if (e < 0) {
		fs_err(err, -e, "linking the file into place");
		goto out;
	}
	sha256_final(&hz.h, digest);
	sha256_tohex(digest, out->sha256);
	out->bytes = total;
	rc = 0;
out:
	if (named) {
		unlinkat(dfd, tmp, 0);
	}
	if (hashing) {
		hasher_free(&hz);
	}
	if (fd >= 0) {
		close(fd); /* an unnamed O_TMPFILE vanishes here */
	}
	close(dfd);
	return rc;
}

int fsapi_mkdir(int root, const char *path, size_t n, struct isobox_err *err)
{
	struct fpath p;
	int dfd;
	int fd;

	if (fpath_init(&p, path, n, 0, err) < 0) {
		return -1;
	}
	dfd = open_parent_create(root, &p, err);
	if (dfd < 0) {
		return -1;
	}
	fd = open_or_mkdir(dfd, p.last);
	close(dfd);
	if (fd < 0) {
		return fs_err(err, -fd, "creating the directory");
	}
	close(fd);
	return 0;
}

struct rm_budget {
	long entries;
	struct isobox_err *err;
};

static int rm_entry(int dfd, const char *name, int depth, struct rm_budget *b);

/* Empty the directory dfd (depth levels below the path's target). 0, or
 * -1 with b->err. */
static int rm_contents(int dfd, int depth, struct rm_budget *b)
{
	char *dents;
	int rc = 0;

	if (depth > FSAPI_DELETE_DEPTH) {
		return err_set(b->err, 409, "too_many_entries",
			       "the tree is deeper than %d levels",
			       FSAPI_DELETE_DEPTH);
	}
	dents = xmalloc(DENTS_BUF);
	if (lseek(dfd, 0, SEEK_SET) < 0) {
		rc = fs_err(b->err, errno, "lseek");
		goto out;
	}
	for (;;) {
		long got = syscall(SYS_getdents64, dfd, dents, DENTS_BUF);
		long off = 0;

		if (got < 0) {
			rc = fs_err(b->err, errno, "reading a directory");
			goto out;
		}
		if (got == 0) {
			break;
		}
		while (off < got) {
			struct linux_dirent64 *d =
			    (struct linux_dirent64 *)(void *)(dents + off);

			off += d->d_reclen;
			if (is_dot(d->d_name)) {
				continue;
			}
			if (rm_entry(dfd, d->d_name, depth, b) < 0) {
				rc = -1;
				goto out;
			}
		}
	}
out:
	free(dents);
	return rc;
}

/* Remove name in dfd, whatever it is, never following it. */
static int rm_entry(int dfd, const char *name, int depth, struct rm_budget *b)
{
	int round;

	if (--b->entries < 0) {
		return err_set(b->err, 409, "too_many_entries",
			       "more than %d entries to delete",
			       FSAPI_DELETE_MAX);
	}
	for (round = 0; round < DELETE_ROUNDS; round++) {
		int fd;
		int rc;

		/* A file, a symlink (the link itself), a FIFO ...: gone. */
		if (unlinkat(dfd, name, 0) == 0) {
			return 0;
		}
		if (errno == ENOENT) {
			return 0; /* removed meanwhile */
		}
		if (errno != EISDIR && errno != EPERM) {
			return fs_err(b->err, errno, "unlinkat");
		}
		fd = resolve(dfd, name, O_RDONLY | O_DIRECTORY);
		if (fd == -ENOENT) {
			return 0;
		}
		if (fd == -ENOTDIR || fd == -ELOOP) {
			continue; /* swapped for a file or a link: again */
		}
		if (fd < 0) {
			return fs_err(b->err, -fd, "opening a directory");
		}
		rc = rm_contents(fd, depth + 1, b);
		close(fd);
		if (rc < 0) {
			return -1;
		}
		if (unlinkat(dfd, name, AT_REMOVEDIR) == 0 || errno == ENOENT) {
			return 0;
		}
		if (errno != ENOTEMPTY && errno != ENOTDIR) {
			return fs_err(b->err, errno, "rmdir");
		}
		/* Refilled (or swapped) while we emptied it: again. */
	}
	return fs_err(b->err, ENOTEMPTY, "delete");
}

int fsapi_delete(int root, const char *path, size_t n, struct isobox_err *err)
{
	struct fpath p;
	struct rm_budget b = {FSAPI_DELETE_MAX, err};
	struct stat s;
	int dfd;
	int rc;

	if (fpath_init(&p, path, n, 0, err) < 0) {
		return -1;
	}
	dfd = open_parent(root, &p, err);
	if (dfd < 0) {
		return -1;
	}
	if (fstatat(dfd, p.last, &s, AT_SYMLINK_NOFOLLOW) < 0) {
		rc = fs_err(err, errno, "stat");
	} else {
		/* The target counts as an entry: a budget of N removes N. */
		b.entries++;
		rc = rm_entry(dfd, p.last, 0, &b);
	}
	close(dfd);
	return rc;
}
