/* statx-compat.c - preloaded into every isobox image (/etc/ld.so.preload).
 *
 * gVisor releases before 2023 (Debian bookworm ships runsc 20221219) reject
 * statx(2) with AT_NO_AUTOMOUNT with EINVAL. coreutils 9 passes that flag,
 * so `ls -l`, `ls DIR`, `stat` and friends fail with "Invalid argument"
 * inside the sandbox. This wrapper retries without the flag, which only
 * matters for automount points, and there are none in a sandbox. On kernels
 * and runtimes that accept the flag the first call succeeds and nothing
 * changes. Built by scripts/build-images. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

int statx(int dirfd, const char *path, int flags, unsigned int mask,
	  struct statx *buf)
{
	long r = syscall(SYS_statx, dirfd, path, flags, mask, buf);

	if (r < 0 && errno == EINVAL && (flags & AT_NO_AUTOMOUNT))
		r = syscall(SYS_statx, dirfd, path, flags & ~AT_NO_AUTOMOUNT,
			    mask, buf);
	return (int)r;
}
