/* btrfs_fixture.h - a btrfs filesystem of its own for a unit test: a
 * sparse image in a fresh temp dir, mkfs.btrfs, a loop mount (noatime,
 * nosuid, nodev, as setup-host mounts the store) and quotas enabled.
 * Needs root and btrfs-progs: without them the fixture fails loudly (the
 * test fails; it is never counted as skipped). */
#ifndef ISOBOX_TEST_BTRFS_FIXTURE_H
#define ISOBOX_TEST_BTRFS_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

struct btrfs_fixture {
	char dir[64];  /* the temp dir */
	char mnt[128]; /* dir/mnt: the btrfs mount */
	char img[128]; /* dir/img */
	int mounted;
};

static int btrfs_fixture_run(const char *cmd)
{
	int rc = system(cmd);

	if (rc != 0) {
		fprintf(stderr, "btrfs fixture: '%s' failed (%d)\n", cmd, rc);
		return -1;
	}
	return 0;
}

/* Make and mount a btrfs of size ("1G"); 0 or -1 (with a reason on
 * stderr). */
static int btrfs_fixture_up(struct btrfs_fixture *f, const char *name,
			    const char *size)
{
	char cmd[512];

	memset(f, 0, sizeof(*f));
	if (geteuid() != 0) {
		fprintf(stderr, "btrfs fixture: FAIL: this test needs root "
				"(it mounts a btrfs loop image)\n");
		return -1;
	}
	snprintf(f->dir, sizeof(f->dir), "/tmp/isobox-test-%s-XXXXXX", name);
	if (mkdtemp(f->dir) == NULL) {
		perror("mkdtemp");
		return -1;
	}
	snprintf(f->mnt, sizeof(f->mnt), "%s/mnt", f->dir);
	snprintf(f->img, sizeof(f->img), "%s/img", f->dir);
	snprintf(cmd, sizeof(cmd),
		 "mkdir -p '%s' && truncate -s %s '%s' && "
		 "mkfs.btrfs -q '%s' >/dev/null",
		 f->mnt, size, f->img, f->img);
	if (btrfs_fixture_run(cmd) < 0) {
		fprintf(stderr, "btrfs fixture: FAIL: mkfs.btrfs (Debian: "
				"btrfs-progs) is needed\n");
		return -1;
	}
	snprintf(cmd, sizeof(cmd),
		 "mount -o loop,noatime,nosuid,nodev '%s' '%s' && "
		 "btrfs quota enable '%s'",
		 f->img, f->mnt, f->mnt);
	if (btrfs_fixture_run(cmd) < 0) {
		return -1;
	}
	f->mounted = 1;
	return 0;
}

/* Unmount (which detaches the loop device) and remove the temp dir. */
static int btrfs_fixture_down(struct btrfs_fixture *f)
{
	char cmd[256];
	int rc = 0;

	if (f->dir[0] == '\0') {
		return 0;
	}
	if (f->mounted && umount2(f->mnt, 0) < 0) {
		perror("umount");
		rc = umount2(f->mnt, MNT_DETACH);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0) {
		rc = -1;
	}
	return rc;
}

#endif
