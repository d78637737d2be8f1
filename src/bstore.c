/* bstore.c - the btrfs store: subvolumes, snapshots, qgroup limits and
 * usage through the ioctls of <linux/btrfs.h> (contract in bstore.h). The
 * quota tree is read with BTRFS_IOC_TREE_SEARCH: one item per qgroup,
 * (0, QGROUP_INFO, qgroupid) and (0, QGROUP_LIMIT, qgroupid). */
#include "bstore.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <endian.h>
#include <linux/btrfs.h>
#include <linux/btrfs_tree.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

static const char *const kind_names[BSTORE_NKINDS] = {
#define BSTORE_KIND_NAME(id, name) name,
    BSTORE_KINDS(BSTORE_KIND_NAME)
#undef BSTORE_KIND_NAME
};

/* A qgroup id is level << 48 | subvolid; subvolumes are level 0. */
#define QGROUP_LEVEL_SHIFT 48

const char *bstore_kind_name(enum bstore_kind k)
{
	if ((int)k < 0 || k >= BSTORE_NKINDS) {
		return NULL;
	}
	return kind_names[k];
}

int bstore_id_ok(const char *id)
{
	size_t i;

	if (id == NULL || id[0] == '\0') {
		return 0;
	}
	for (i = 0; id[i] != '\0'; i++) {
		char c = id[i];
		int alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			    (c >= '0' && c <= '9');

		if (i >= BSTORE_ID_MAX) {
			return 0;
		}
		if (!alnum && (i == 0 || (c != '_' && c != '-'))) {
			return 0;
		}
	}
	return 1;
}

/* The kind directory's fd, or -1 after checking k and id. */
static int kind_dir(const struct bstore *b, enum bstore_kind k, const char *id)
{
	if (bstore_kind_name(k) == NULL || !bstore_id_ok(id)) {
		return -1;
	}
	return b->kind_fd[k];
}

static int open_beneath(int dirfd, const char *name, int flags)
{
	struct open_how how = {
	    .flags = (uint64_t)(flags | O_CLOEXEC | O_NOFOLLOW),
	    .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
		       RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
	};
	long fd = syscall(SYS_openat2, dirfd, name, &how, sizeof(how));

	if (fd < 0 && errno == ENOSYS) {
		/* No openat2 (before 5.6, or under valgrind): name is one
		 * checked component, so O_NOFOLLOW is the same guard. */
		fd = openat(dirfd, name, flags | O_CLOEXEC | O_NOFOLLOW);
	}
	return fd < 0 ? -errno : (int)fd;
}

/* The subvolume id of the tree an fd is in, and whether the fd is that
 * tree's root directory. */
static int subvol_of(int fd, uint64_t *id, int *is_root)
{
	struct btrfs_ioctl_ino_lookup_args a;
	struct stat st;

	if (fstat(fd, &st) < 0) {
		return -errno;
	}
	memset(&a, 0, sizeof(a));
	a.treeid = 0;
	a.objectid = BTRFS_FIRST_FREE_OBJECTID;
	if (ioctl(fd, BTRFS_IOC_INO_LOOKUP, &a) < 0) {
		return -errno;
	}
	*id = a.treeid;
	*is_root = st.st_ino == BTRFS_FIRST_FREE_OBJECTID;
	return 0;
}

/* Open kind/id and check it is a subvolume's root: its fd, or -errno. */
static int open_subvol(const struct bstore *b, enum bstore_kind k,
		       const char *id, uint64_t *subvolid)
{
	int dfd = kind_dir(b, k, id);
	uint64_t sid;
	int is_root;
	int fd;
	int rc;

	if (dfd < 0) {
		return -EINVAL;
	}
	fd = open_beneath(dfd, id, O_RDONLY | O_DIRECTORY);
	if (fd < 0) {
		return fd == -ELOOP ? -ENOENT : fd;
	}
	rc = subvol_of(fd, &sid, &is_root);
	if (rc == 0 && !is_root) {
		rc = -ENOENT; /* a plain directory of that name */
	}
	if (rc < 0) {
		close(fd);
		return rc;
	}
	if (subvolid != NULL) {
		*subvolid = sid;
	}
	return fd;
}

/* One item of the tree search: key (objectid, type, offset) exactly in
 * tree tree_id; copies at most cap bytes of it to out. 0, -ENOENT, -errno.
 */
static int tree_item(int fd, uint64_t tree_id, uint64_t objectid, uint32_t type,
		     uint64_t offset, void *out, size_t cap)
{
	struct btrfs_ioctl_search_args a;
	struct btrfs_ioctl_search_header h;

	memset(&a, 0, sizeof(a));
	a.key.tree_id = tree_id;
	a.key.min_objectid = a.key.max_objectid = objectid;
	a.key.min_type = a.key.max_type = type;
	a.key.min_offset = a.key.max_offset = offset;
	a.key.min_transid = 0;
	a.key.max_transid = (uint64_t)-1;
	a.key.nr_items = 1;
	if (ioctl(fd, BTRFS_IOC_TREE_SEARCH, &a) < 0) {
		return -errno;
	}
	if (a.key.nr_items == 0) {
		return -ENOENT;
	}
	memcpy(&h, a.buf, sizeof(h));
	if (h.objectid != objectid || h.type != type || h.offset != offset) {
		return -ENOENT;
	}
	if (out != NULL) {
		size_t n = h.len < cap ? h.len : cap;

		memset(out, 0, cap);
		memcpy(out, a.buf + sizeof(h), n);
	}
	return 0;
}

/* The flags of the quota tree's status item (BTRFS_QGROUP_STATUS_FLAG_*);
 * -ENODATA when quotas are off (no status item), -errno. */
static int quota_status(int fd, uint64_t *flags)
{
	struct btrfs_qgroup_status_item st;
	int rc = tree_item(fd, BTRFS_QUOTA_TREE_OBJECTID, 0,
			   BTRFS_QGROUP_STATUS_KEY, 0, &st, sizeof(st));

	if (rc == -ENOENT) {
		return -ENODATA;
	}
	if (rc == 0) {
		*flags = le64toh(st.flags);
	}
	return rc;
}

int bstore_quota_check(struct bstore *b)
{
	struct btrfs_ioctl_quota_rescan_args a;
	uint64_t flags = 0;
	int rc = quota_status(b->root_fd, &flags);

	if (rc < 0) {
		return rc;
	}
	if (flags & BTRFS_QGROUP_STATUS_FLAG_RESCAN) {
		return 1;
	}
	if (!(flags & BTRFS_QGROUP_STATUS_FLAG_INCONSISTENT)) {
		return 0;
	}
	memset(&a, 0, sizeof(a));
	if (ioctl(b->root_fd, BTRFS_IOC_QUOTA_RESCAN, &a) < 0 &&
	    errno != EINPROGRESS) {
		return -errno;
	}
	log_warn("bstore: qgroup numbers of %s were inconsistent: rescan "
		 "started",
		 b->root);
	return 1;
}

void bstore_init(struct bstore *b)
{
	int i;

	memset(b, 0, sizeof(*b));
	b->root_fd = -1;
	for (i = 0; i < BSTORE_NKINDS; i++) {
		b->kind_fd[i] = -1;
	}
}

int bstore_ready(const struct bstore *b)
{
	return b->root_fd >= 0;
}

void bstore_close(struct bstore *b)
{
	int i;

	for (i = 0; i < BSTORE_NKINDS; i++) {
		if (b->kind_fd[i] >= 0) {
			close(b->kind_fd[i]);
		}
		b->kind_fd[i] = -1;
	}
	if (b->root_fd >= 0) {
		close(b->root_fd);
	}
	b->root_fd = -1;
	free(b->root);
	b->root = NULL;
}

int bstore_open(struct bstore *b, const char *root, int64_t reserve_bytes,
		struct isobox_err *err)
{
	uint64_t qflags = 0;
	struct statfs sf;
	int i;
	int rc;

	bstore_init(b);
	b->root = xstrdup(root);
	b->reserve_bytes = reserve_bytes;
	b->root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (b->root_fd < 0) {
		rc = errno;
		err_set(err, 503, "storage_unavailable", "store_root %s: %s",
			root, strerror(rc));
		goto fail;
	}
	if (fstatfs(b->root_fd, &sf) < 0 || sf.f_type != BTRFS_SUPER_MAGIC) {
		err_set(err, 503, "storage_unavailable",
			"store_root %s is not a btrfs filesystem (run "
			"scripts/setup-host)",
			root);
		goto fail;
	}
	rc = quota_status(b->root_fd, &qflags);
	if (rc < 0) {
		err_set(err, 503, "storage_unavailable",
			"store_root %s: quotas are not enabled (btrfs quota "
			"enable %s): %s",
			root, root, strerror(-rc));
		goto fail;
	}
	for (i = 0; i < BSTORE_NKINDS; i++) {
		if (mkdirat(b->root_fd, kind_names[i], 0700) < 0 &&
		    errno != EEXIST) {
			rc = errno;
			err_set(err, 503, "storage_unavailable",
				"cannot create %s/%s: %s", root, kind_names[i],
				strerror(rc));
			goto fail;
		}
		rc = open_beneath(b->root_fd, kind_names[i],
				  O_RDONLY | O_DIRECTORY);
		if (rc < 0) {
			err_set(err, 503, "storage_unavailable",
				"cannot open %s/%s: %s", root, kind_names[i],
				strerror(-rc));
			goto fail;
		}
		b->kind_fd[i] = rc;
	}
	bstore_quota_check(b); /* starts a rescan if needed; logs */
	return 0;
fail:
	bstore_close(b);
	return -1;
}

/* Write the limit of qgroup 0/subvolid: an exclusive cap of bytes (> 0) or
 * none, and never a referenced cap (clears what a stale qgroup held). */
static int qgroup_limit(int fd, uint64_t subvolid, int64_t bytes)
{
	struct btrfs_ioctl_qgroup_limit_args a;

	memset(&a, 0, sizeof(a));
	a.qgroupid = subvolid;
	a.lim.flags = BTRFS_QGROUP_LIMIT_MAX_RFER | BTRFS_QGROUP_LIMIT_MAX_EXCL;
	a.lim.max_rfer = (uint64_t)-1; /* -1 clears the flag */
	a.lim.max_excl = bytes > 0 ? (uint64_t)bytes : (uint64_t)-1;
	if (ioctl(fd, BTRFS_IOC_QGROUP_LIMIT, &a) < 0) {
		return -errno;
	}
	return 0;
}

static int destroy_by_name(int dfd, const char *id)
{
	struct btrfs_ioctl_vol_args_v2 a;

	memset(&a, 0, sizeof(a));
	snprintf(a.name, sizeof(a.name), "%s", id);
	if (ioctl(dfd, BTRFS_IOC_SNAP_DESTROY_V2, &a) == 0) {
		return 0;
	}
	if (errno == ENOTTY || errno == EOPNOTSUPP) {
		/* Before 5.7: the first version of the call. */
		struct btrfs_ioctl_vol_args v;

		memset(&v, 0, sizeof(v));
		snprintf(v.name, sizeof(v.name), "%s", id);
		if (ioctl(dfd, BTRFS_IOC_SNAP_DESTROY, &v) == 0) {
			return 0;
		}
	}
	return -errno;
}

/* After a subvolume appeared as kind/id: owner, mode and limit. */
static int finish_new(struct bstore *b, enum bstore_kind k, const char *id,
		      unsigned mode, int64_t limit_bytes, int set_owner)
{
	uint64_t sid;
	int fd = open_subvol(b, k, id, &sid);
	int rc = 0;

	if (fd < 0) {
		return fd;
	}
	if (set_owner && (fchown(fd, BSTORE_UID, BSTORE_GID) < 0 ||
			  fchmod(fd, mode & 0777) < 0)) {
		rc = -errno;
	}
	if (rc == 0) {
		rc = qgroup_limit(fd, sid, limit_bytes);
	}
	close(fd);
	if (rc < 0) {
		destroy_by_name(b->kind_fd[k], id);
	}
	return rc;
}

int bstore_create(struct bstore *b, enum bstore_kind k, const char *id,
		  unsigned mode, int64_t limit_bytes)
{
	struct btrfs_ioctl_vol_args_v2 a;
	int dfd = kind_dir(b, k, id);

	if (dfd < 0) {
		return -EINVAL;
	}
	memset(&a, 0, sizeof(a));
	snprintf(a.name, sizeof(a.name), "%s", id);
	if (ioctl(dfd, BTRFS_IOC_SUBVOL_CREATE_V2, &a) < 0) {
		return -errno;
	}
	return finish_new(b, k, id, mode, limit_bytes, 1);
}

int bstore_snapshot(struct bstore *b, enum bstore_kind src_kind,
		    const char *src_id, enum bstore_kind dst_kind,
		    const char *dst_id, int64_t limit_bytes)
{
	struct btrfs_ioctl_vol_args_v2 a;
	int dfd = kind_dir(b, dst_kind, dst_id);
	int sfd;
	int rc = 0;

	if (dfd < 0) {
		return -EINVAL;
	}
	sfd = open_subvol(b, src_kind, src_id, NULL);
	if (sfd < 0) {
		return sfd;
	}
	memset(&a, 0, sizeof(a));
	a.fd = sfd;
	a.flags = 0; /* writable */
	snprintf(a.name, sizeof(a.name), "%s", dst_id);
	if (ioctl(dfd, BTRFS_IOC_SNAP_CREATE_V2, &a) < 0) {
		rc = -errno;
	}
	close(sfd);
	if (rc < 0) {
		return rc;
	}
	/* The snapshot keeps the source's root owner and mode. */
	return finish_new(b, dst_kind, dst_id, 0, limit_bytes, 0);
}

static int qgroup_destroy(int fd, uint64_t qgroupid)
{
	struct btrfs_ioctl_qgroup_create_args a;

	memset(&a, 0, sizeof(a));
	a.create = 0;
	a.qgroupid = qgroupid;
	if (ioctl(fd, BTRFS_IOC_QGROUP_CREATE, &a) < 0) {
		return -errno;
	}
	return 0;
}

int bstore_delete(struct bstore *b, enum bstore_kind k, const char *id)
{
	uint64_t sid;
	int fd = open_subvol(b, k, id, &sid);
	int rc;

	if (fd < 0) {
		return fd;
	}
	close(fd);
	rc = destroy_by_name(b->kind_fd[k], id);
	if (rc < 0) {
		return rc;
	}
	/* Refused (-EBUSY) while the kernel still frees the tree; the
	 * kernel or bstore_qgroup_sweep removes it later. */
	qgroup_destroy(b->root_fd, sid);
	return 0;
}

int bstore_limit_set(struct bstore *b, enum bstore_kind k, const char *id,
		     int64_t bytes)
{
	uint64_t sid;
	int fd = open_subvol(b, k, id, &sid);
	int rc;

	if (fd < 0) {
		return fd;
	}
	rc = qgroup_limit(fd, sid, bytes);
	close(fd);
	return rc;
}

static int64_t clamp64(uint64_t v)
{
	return v > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v;
}

int bstore_usage(struct bstore *b, enum bstore_kind k, const char *id,
		 struct bstore_usage *u)
{
	struct btrfs_qgroup_info_item info;
	struct btrfs_qgroup_limit_item lim;
	uint64_t qflags = 0;
	uint64_t sid;
	int fd = open_subvol(b, k, id, &sid);
	int rc;

	memset(u, 0, sizeof(*u));
	if (fd < 0) {
		return fd;
	}
	rc = quota_status(fd, &qflags);
	if (rc == 0) {
		u->inconsistent =
		    (qflags & (BTRFS_QGROUP_STATUS_FLAG_RESCAN |
			       BTRFS_QGROUP_STATUS_FLAG_INCONSISTENT)) != 0;
		rc = tree_item(fd, BTRFS_QUOTA_TREE_OBJECTID, 0,
			       BTRFS_QGROUP_INFO_KEY, sid, &info, sizeof(info));
	}
	if (rc == 0) {
		rc = tree_item(fd, BTRFS_QUOTA_TREE_OBJECTID, 0,
			       BTRFS_QGROUP_LIMIT_KEY, sid, &lim, sizeof(lim));
		if (rc == -ENOENT) {
			memset(&lim, 0, sizeof(lim));
			rc = 0;
		}
	}
	close(fd);
	if (rc < 0) {
		return rc;
	}
	/* On-disk items are little endian (le64toh is a no-op here, but
	 * keeps the code right on a big-endian host). */
	u->subvolid = sid;
	u->referenced = clamp64(le64toh(info.rfer));
	u->exclusive = clamp64(le64toh(info.excl));
	if (le64toh(lim.flags) & BTRFS_QGROUP_LIMIT_MAX_EXCL) {
		u->limit = clamp64(le64toh(lim.max_excl));
	}
	return 0;
}

int bstore_sync(struct bstore *b)
{
	if (ioctl(b->root_fd, BTRFS_IOC_SYNC) < 0) {
		return -errno;
	}
	return 0;
}

int bstore_space(struct bstore *b, struct bstore_space *s)
{
	struct statfs sf;

	memset(s, 0, sizeof(*s));
	if (fstatfs(b->root_fd, &sf) < 0) {
		return -errno;
	}
	s->total = clamp64((uint64_t)sf.f_blocks * (uint64_t)sf.f_bsize);
	s->avail = clamp64((uint64_t)sf.f_bavail * (uint64_t)sf.f_bsize);
	return 0;
}

int bstore_space_check(struct bstore *b, int64_t need, struct isobox_err *err)
{
	struct bstore_space s;
	int rc = bstore_space(b, &s);

	if (need < 0) {
		need = 0;
	}
	if (rc < 0) {
		return err_set(err, 507, "storage_full",
			       "cannot read the store's free space: %s",
			       strerror(-rc));
	}
	if (s.avail - b->reserve_bytes < need) {
		return err_set(err, 507, "storage_full",
			       "the store has %lld bytes free, %lld are kept "
			       "in reserve",
			       (long long)s.avail, (long long)b->reserve_bytes);
	}
	return 0;
}

int bstore_list(struct bstore *b, enum bstore_kind k,
		int (*fn)(const char *id, void *ctx), void *ctx)
{
	DIR *d;
	struct dirent *e;
	int fd;
	int n = 0;
	int rc = 0;

	if (bstore_kind_name(k) == NULL) {
		return -EINVAL;
	}
	fd = open_beneath(b->kind_fd[k], ".", O_RDONLY | O_DIRECTORY);
	if (fd < 0) {
		return fd;
	}
	d = fdopendir(fd);
	if (d == NULL) {
		rc = -errno;
		close(fd);
		return rc;
	}
	while ((e = readdir(d)) != NULL) {
		struct stat st;

		/* A subvolume's root has inode 256 (in its own tree; the
		 * entry's d_ino is the subvolume id instead). */
		if (e->d_type != DT_DIR || !bstore_id_ok(e->d_name) ||
		    fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) <
			0 ||
		    !S_ISDIR(st.st_mode) ||
		    st.st_ino != BTRFS_FIRST_FREE_OBJECTID) {
			continue;
		}
		n++;
		rc = fn(e->d_name, ctx);
		if (rc < 0) {
			break;
		}
	}
	closedir(d);
	return rc < 0 ? rc : n;
}

/* 1 when the root tree holds a root item of subvolume id (a live one, or
 * one the kernel is still freeing), 0 when none, -errno. The key's offset
 * is 0 or the snapshot's generation: any. */
static int root_exists(int fd, uint64_t id)
{
	struct btrfs_ioctl_search_args a;

	memset(&a, 0, sizeof(a));
	a.key.tree_id = BTRFS_ROOT_TREE_OBJECTID;
	a.key.min_objectid = a.key.max_objectid = id;
	a.key.min_type = a.key.max_type = BTRFS_ROOT_ITEM_KEY;
	a.key.min_offset = 0;
	a.key.max_offset = (uint64_t)-1;
	a.key.max_transid = (uint64_t)-1;
	a.key.nr_items = 1;
	if (ioctl(fd, BTRFS_IOC_TREE_SEARCH, &a) < 0) {
		return -errno;
	}
	return a.key.nr_items > 0;
}

/* 1 when qgroup 0/id has no usage recorded (its info item says 0 bytes),
 * 0 when it has some or is gone, -errno. */
static int qgroup_empty(int fd, uint64_t id)
{
	struct btrfs_qgroup_info_item info;
	int rc = tree_item(fd, BTRFS_QUOTA_TREE_OBJECTID, 0,
			   BTRFS_QGROUP_INFO_KEY, id, &info, sizeof(info));

	if (rc < 0) {
		return rc == -ENOENT ? 0 : rc;
	}
	return info.rfer == 0 && info.excl == 0;
}

/* A stale qgroup: no root item (the subvolume is gone and freed) and no
 * usage (the kernel has accounted the freeing; removing a qgroup that is
 * still charged would leave every number inconsistent). */
static int qgroup_stale(int fd, uint64_t id)
{
	return qgroup_empty(fd, id) == 1 && root_exists(fd, id) == 0;
}

/* Up to SWEEP_MAX stale level-0 qgroup ids into out. Returns how many, or
 * -errno. */
#define SWEEP_MAX 1024
static int sweep_candidates(int fd, uint64_t *out)
{
	struct btrfs_ioctl_search_args a;
	uint64_t next = BTRFS_FIRST_FREE_OBJECTID;
	int n = 0;

	for (;;) {
		size_t off = 0;
		uint32_t i;
		uint64_t last = 0;

		memset(&a, 0, sizeof(a));
		a.key.tree_id = BTRFS_QUOTA_TREE_OBJECTID;
		a.key.min_objectid = a.key.max_objectid = 0;
		a.key.min_type = a.key.max_type = BTRFS_QGROUP_INFO_KEY;
		a.key.min_offset = next;
		a.key.max_offset = ((uint64_t)1 << QGROUP_LEVEL_SHIFT) - 1;
		a.key.max_transid = (uint64_t)-1;
		a.key.nr_items = 4096;
		if (ioctl(fd, BTRFS_IOC_TREE_SEARCH, &a) < 0) {
			return -errno;
		}
		if (a.key.nr_items == 0) {
			break;
		}
		for (i = 0; i < a.key.nr_items; i++) {
			struct btrfs_ioctl_search_header h;

			if (off + sizeof(h) > sizeof(a.buf)) {
				break;
			}
			memcpy(&h, a.buf + off, sizeof(h));
			off += sizeof(h) + h.len;
			last = h.offset;
			if (h.type == BTRFS_QGROUP_INFO_KEY && n < SWEEP_MAX &&
			    qgroup_stale(fd, h.offset)) {
				out[n++] = h.offset;
			}
		}
		if (n == SWEEP_MAX || last + 1 <= next) {
			break;
		}
		next = last + 1;
	}
	return n;
}

int bstore_qgroup_sweep(struct bstore *b)
{
	uint64_t *ids = xmalloc(SWEEP_MAX * sizeof(*ids));
	int removed = 0;
	int n;
	int i;

	n = sweep_candidates(b->root_fd, ids);
	if (n > 0) {
		/* A subvolume being created has its qgroup before its root
		 * item is visible: after a commit it is (the commit waits
		 * for the creating transaction), so look again then. Ids are
		 * never reused while mounted, so a stale one stays stale. */
		n = bstore_sync(b) < 0 ? 0 : n;
	}
	for (i = 0; i < n; i++) {
		if (qgroup_stale(b->root_fd, ids[i]) &&
		    qgroup_destroy(b->root_fd, ids[i]) == 0) {
			removed++;
		}
	}
	free(ids);
	return n < 0 ? n : removed;
}

int bstore_open_root(struct bstore *b, enum bstore_kind k, const char *id)
{
	return open_subvol(b, k, id, NULL);
}

char *bstore_path(const struct bstore *b, enum bstore_kind k, const char *id)
{
	if (bstore_kind_name(k) == NULL || !bstore_id_ok(id)) {
		return NULL;
	}
	return xasprintf("%s/%s/%s", b->root, kind_names[k], id);
}
