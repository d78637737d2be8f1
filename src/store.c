/* store.c - the shared LMDB environment; see store.h. */
#include "store.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

int store_err(struct isobox_err *err, int rc, const char *what)
{
	if (rc == MDB_MAP_FULL) {
		return err_set(err, 507, "store_full",
			       "the state database is full (%s)", what);
	}
	return err_set(err, 500, "store_failed", "%s: %s", what,
		       mdb_strerror(rc));
}

int store_open(struct store *s, const char *dir, int64_t map_bytes,
	       struct isobox_err *err)
{
	MDB_txn *txn = NULL;
	int dead = 0;
	int rc;

	memset(s, 0, sizeof(*s));
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		return err_set(err, 500, "store_unavailable",
			       "cannot create %s: %s", dir, strerror(errno));
	}
	rc = mdb_env_create(&s->env);
	if (rc == 0) {
		rc = mdb_env_set_maxdbs(s->env, 16);
	}
	if (rc == 0) {
		rc = mdb_env_set_mapsize(s->env, (size_t)map_bytes);
	}
	if (rc == 0) {
		rc = mdb_env_set_maxreaders(s->env, 1024);
	}
	/* NOTLS: read transactions are not tied to threads. NOSYNC: this is
	 * runtime state that a crash may lose (LMDB stays consistent); no
	 * fsync on the request path. */
	if (rc == 0) {
		rc = mdb_env_open(s->env, dir, MDB_NOTLS | MDB_NOSYNC, 0600);
	}
	if (rc != 0) {
		goto fail;
	}
	mdb_reader_check(s->env, &dead);
	rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc == 0) {
		rc = mdb_dbi_open(txn, "pool", MDB_CREATE, &s->pool);
	}
	if (rc == 0) {
		rc = mdb_dbi_open(txn, "buckets", MDB_CREATE, &s->buckets);
	}
	if (rc == 0) {
		rc = mdb_dbi_open(txn, "admit", MDB_CREATE, &s->admit);
	}
	if (rc == 0) {
		rc = mdb_txn_commit(txn);
		txn = NULL;
	}
	if (rc != 0) {
		goto fail;
	}
	return 0;
fail:
	if (txn) {
		mdb_txn_abort(txn);
	}
	err_set(err, 500, "store_unavailable", "LMDB at %s: %s", dir,
		mdb_strerror(rc));
	store_close(s);
	return -1;
}

void store_close(struct store *s)
{
	if (s->env) {
		mdb_env_close(s->env);
	}
	memset(s, 0, sizeof(*s));
}
