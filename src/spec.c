/* spec.c - the container's shape, built in one place; see spec.h. */
#include "spec.h"

#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "wire.h"

/* The container's pids cap, for the host threads of the Sentry, its gofer
 * and the ptrace platform's stub processes. Every stub gets a host thread
 * for each Sentry thread that ever ran in it, so a program that keeps
 * forking and exiting within its RLIMIT_NPROC (the real limit on the
 * user's processes) still multiplies them: measured on runsc 20221219, a
 * python fork bomb peaked at 365 host tasks with pids 16 over 5 s, 566
 * over 20 s, 1246 with pids 64 over 5 s. When the cap refuses a thread
 * the Sentry panics; relay_judge_end reports that as the program's
 * SIGKILL (docs/THREAT_MODEL.md section 8.8). The cap keeps a sandbox from
 * taking the slice's whole pids budget from its neighbours. */
#define SENTRY_PIDS_BASE     512
#define SENTRY_PIDS_PER_TASK 16

static json_object *str_array(const char *const *v)
{
	json_object *a = json_object_new_array();

	for (; v && *v; v++) {
		json_object_array_add(a, json_object_new_string(*v));
	}
	return a;
}

/* The seccomp profile runsc --oci-seccomp enforces inside the sandbox,
 * in front of the Sentry (docs/THREAT_MODEL.md section 4.7). Not Docker's
 * default: runsc 20221219 answers every refusal with EPERM whatever its
 * errnoRet, so the default's clone3 -> ENOSYS (which glibc >= 2.34 needs
 * to fall back to clone) breaks pthread_create in every JVM, node, Go and
 * rust program. This profile allows by default and refuses what a
 * program without capabilities has no business calling; clone3 stays
 * allowed because gVisor itself answers it ENOSYS (so no namespace flags
 * can hide in its struct). ptrace stays allowed like Docker's default
 * (own children only: the guest is non-dumpable). */
static const char *const seccomp_refused[] = {"acct",
					      "add_key",
					      "bpf",
					      "chroot",
					      "clock_adjtime",
					      "clock_settime",
					      "create_module",
					      "delete_module",
					      "fanotify_init",
					      "finit_module",
					      "fsconfig",
					      "fsmount",
					      "fsopen",
					      "fspick",
					      "get_kernel_syms",
					      "init_module",
					      "ioperm",
					      "iopl",
					      "kcmp",
					      "kexec_file_load",
					      "kexec_load",
					      "keyctl",
					      "lookup_dcookie",
					      "mbind",
					      "migrate_pages",
					      "mount",
					      "mount_setattr",
					      "move_mount",
					      "move_pages",
					      "name_to_handle_at",
					      "nfsservctl",
					      "open_by_handle_at",
					      "open_tree",
					      "perf_event_open",
					      "pivot_root",
					      "process_vm_readv",
					      "process_vm_writev",
					      "query_module",
					      "quotactl",
					      "quotactl_fd",
					      "reboot",
					      "request_key",
					      "set_mempolicy",
					      "setdomainname",
					      "sethostname",
					      "setns",
					      "settimeofday",
					      "stime",
					      "swapoff",
					      "swapon",
					      "syslog",
					      "_sysctl",
					      "umount",
					      "umount2",
					      "unshare",
					      "uselib",
					      "userfaultfd",
					      "ustat",
					      "vhangup",
					      "vm86",
					      "vm86old",
					      NULL};

/* clone(2) flags that make a namespace: refused one rule each (a default-
 * allow profile cannot say "allowed only when all are clear"). */
static const uint64_t seccomp_clone_ns[] = {0x00020000, 0x02000000, 0x04000000,
					    0x08000000, 0x10000000, 0x20000000,
					    0x40000000};

/* personality(2) flags that weaken the address space (READ_IMPLIES_EXEC,
 * ADDR_NO_RANDOMIZE, MMAP_PAGE_ZERO, ...). Bit 31 in the mask keeps the
 * query personality(0xffffffff) allowed. */
static const uint64_t seccomp_persona[] = {
    0x0040000, 0x0080000, 0x0100000, 0x0200000, 0x0400000,
    0x0800000, 0x1000000, 0x2000000, 0x4000000, 0x8000000};

static json_object *seccomp_masked_rule(const char *name, uint64_t mask,
					uint64_t want)
{
	json_object *rule = json_object_new_object();
	json_object *names = json_object_new_array();
	json_object *args = json_object_new_array();
	json_object *arg = json_object_new_object();

	json_object_array_add(names, json_object_new_string(name));
	json_object_object_add(rule, "names", names);
	json_object_object_add(rule, "action",
			       json_object_new_string("SCMP_ACT_ERRNO"));
	json_object_object_add(arg, "index", json_object_new_int(0));
	json_object_object_add(arg, "value",
			       json_object_new_int64((int64_t)mask));
	json_object_object_add(arg, "valueTwo",
			       json_object_new_int64((int64_t)want));
	json_object_object_add(arg, "op",
			       json_object_new_string("SCMP_CMP_MASKED_EQ"));
	json_object_array_add(args, arg);
	json_object_object_add(rule, "args", args);
	return rule;
}

char *spec_seccomp_profile(void)
{
	static const char *const arches[] = {"SCMP_ARCH_X86_64", NULL};
	json_object *p = json_object_new_object();
	json_object *rules = json_object_new_array();
	json_object *deny = json_object_new_object();
	json_object *names = json_object_new_array();
	const char *const *n;
	char *out;
	size_t i;

	for (n = seccomp_refused; *n; n++) {
		json_object_array_add(names, json_object_new_string(*n));
	}
	json_object_object_add(deny, "names", names);
	json_object_object_add(deny, "action",
			       json_object_new_string("SCMP_ACT_ERRNO"));
	json_object_array_add(rules, deny);
	for (i = 0; i < sizeof(seccomp_clone_ns) / sizeof(*seccomp_clone_ns);
	     i++) {
		json_object_array_add(
		    rules, seccomp_masked_rule("clone", seccomp_clone_ns[i],
					       seccomp_clone_ns[i]));
	}
	for (i = 0; i < sizeof(seccomp_persona) / sizeof(*seccomp_persona);
	     i++) {
		json_object_array_add(
		    rules, seccomp_masked_rule("personality",
					       seccomp_persona[i] | 0x80000000u,
					       seccomp_persona[i]));
	}
	json_object_object_add(p, "defaultAction",
			       json_object_new_string("SCMP_ACT_ALLOW"));
	json_object_object_add(p, "architectures", str_array(arches));
	json_object_object_add(p, "syscalls", rules);
	out =
	    xstrdup(json_object_to_json_string_ext(p, JSON_C_TO_STRING_PLAIN));
	json_object_put(p);
	return out;
}

int64_t spec_memory(const struct lang *lang, const struct limits *lim)
{
	int64_t mem = lim->memory_bytes;

	if (lang->compile && lim->compile_memory_bytes > mem) {
		mem = lim->compile_memory_bytes;
	}
	return mem + SPEC_MEMORY_OVERHEAD;
}

/* Whether the sandbox starts the language's "prestart" bootstrap. A
 * compiler server ("prestartStage: compile") serves one compile, so only
 * a warm sandbox (one job) starts one: a session compiles at every step. */
static int spec_prestarts(const struct spec_desc *d)
{
	const struct lang *l = d->lang;

	if (l->prestart == NULL) {
		return 0;
	}
	if (l->prestart_compile) {
		return strcmp(d->kind, "pool") == 0 && l->compile != NULL;
	}
	return (strcmp(d->kind, "pool") == 0 ||
		strcmp(d->kind, "session") == 0) &&
	       l->compile == NULL;
}

/* The guest's command: a warm or session sandbox of a language with a
 * "prestart" bootstrap starts it at once with the language's env and the
 * rlimits a job of this shape gets (see sandbox_job_encode). */
static json_object *guest_cmd(const struct spec_desc *d)
{
	const struct lang *lang = d->lang;
	const struct limits *lim = d->lim;
	json_object *a = json_object_new_array();
	const char *const *g;
	char *s;
	size_t i;

	json_object_array_add(a, json_object_new_string("/.isobox/guest"));
	for (g = d->guest_args; g && *g; g++) {
		json_object_array_add(a, json_object_new_string(*g));
	}
	if (!spec_prestarts(d)) {
		return a;
	}
	for (i = 0; lang->env && lang->env[i]; i++) {
		json_object_array_add(a,
				      json_object_new_string("--prestart-env"));
		json_object_array_add(a, json_object_new_string(lang->env[i]));
	}
	s = xasprintf("%s=%lld", WIRE_LIMIT_PIDS, (long long)lim->pids);
	json_object_array_add(a, json_object_new_string("--prestart-limit"));
	json_object_array_add(a, json_object_new_string(s));
	free(s);
	s = xasprintf("%s=%lld", WIRE_LIMIT_FSIZE,
		      (long long)(d->fsize_bytes > 0 ? d->fsize_bytes
						     : lim->tmpfs_bytes));
	json_object_array_add(a, json_object_new_string("--prestart-limit"));
	json_object_array_add(a, json_object_new_string(s));
	free(s);
	s = xasprintf("%s=%d", WIRE_LIMIT_NOFILE, LIMITS_USER_NOFILE);
	json_object_array_add(a, json_object_new_string("--prestart-limit"));
	json_object_array_add(a, json_object_new_string(s));
	free(s);
	if (lang->prestart_compile) {
		json_object_array_add(
		    a, json_object_new_string("--prestart-stage"));
		json_object_array_add(a, json_object_new_string("compile"));
	}
	if (lang->prestart_fifo != NULL) {
		json_object_array_add(
		    a, json_object_new_string("--prestart-fifo"));
		json_object_array_add(
		    a, json_object_new_string(lang->prestart_fifo));
	}
	for (i = 0; lang->run_prestart && lang->run_prestart[i]; i++) {
		json_object_array_add(a,
				      json_object_new_string("--prestart-run"));
		json_object_array_add(
		    a, json_object_new_string(lang->run_prestart[i]));
	}
	json_object_array_add(a, json_object_new_string("--prestart"));
	for (i = 0; lang->prestart[i]; i++) {
		json_object_array_add(
		    a, json_object_new_string(lang->prestart[i]));
	}
	return a;
}

json_object *spec_container(struct service *svc, const struct spec_desc *d)
{
	static const char *const caps[] = {"SETUID", "SETGID", "KILL", NULL};
	static const char *const drop[] = {"ALL", NULL};
	json_object *spec = json_object_new_object();
	json_object *host = json_object_new_object();
	json_object *labels = json_object_new_object();
	json_object *tmpfs = json_object_new_object();
	json_object *binds = json_object_new_array();
	json_object *logcfg = json_object_new_object();
	const struct lang *lang = d->lang;
	const struct limits *lim = d->lim;
	int network = d->network;
	int64_t mem = spec_memory(lang, lim);
	size_t i;
	char *s;

	json_object_object_add(spec, "Image",
			       json_object_new_string(lang->image_ref));
	json_object_object_add(spec, "Cmd", guest_cmd(d));
	json_object_object_add(spec, "Entrypoint", json_object_new_array());
	json_object_object_add(spec, "Env", json_object_new_array());
	json_object_object_add(spec, "User", json_object_new_string("0:0"));
	json_object_object_add(spec, "WorkingDir",
			       json_object_new_string("/box"));
	json_object_object_add(spec, "Hostname",
			       json_object_new_string("sandbox"));
	json_object_object_add(spec, "AttachStdin", json_object_new_boolean(1));
	json_object_object_add(spec, "AttachStdout",
			       json_object_new_boolean(1));
	json_object_object_add(spec, "AttachStderr",
			       json_object_new_boolean(1));
	json_object_object_add(spec, "OpenStdin", json_object_new_boolean(1));
	json_object_object_add(spec, "StdinOnce",
			       json_object_new_boolean(d->session_id == NULL));
	json_object_object_add(spec, "Tty", json_object_new_boolean(0));
	json_object_object_add(spec, "NetworkDisabled",
			       json_object_new_boolean(!network));

	json_object_object_add(labels, "isobox.managed",
			       json_object_new_string("1"));
	json_object_object_add(labels, "isobox.owner",
			       json_object_new_string(svc->owner));
	s = xasprintf("%lld", (long long)d->deadline_wall_ms);
	json_object_object_add(labels, "isobox.deadline",
			       json_object_new_string(s));
	free(s);
	json_object_object_add(labels, "isobox.kind",
			       json_object_new_string(d->kind));
	/* Which deployment (shared state) it belongs to: several deployments
	 * may share one engine, and each manages only its own pool. */
	json_object_object_add(labels, "isobox.deployment",
			       json_object_new_string(svc->deployment));
	json_object_object_add(labels, "isobox.request",
			       json_object_new_string(d->request_id));
	json_object_object_add(labels, "isobox.language",
			       json_object_new_string(lang->name));
	json_object_object_add(labels, "isobox.network",
			       json_object_new_string(network ? "1" : "0"));
	if (d->session_id) {
		json_object_object_add(labels, "isobox.session",
				       json_object_new_string(d->session_id));
	}
	json_object_object_add(spec, "Labels", labels);

	if (network) {
		/* The egress network (its firewall was verified by the
		 * caller) and runsc with the container's own network
		 * namespace; names resolve only through egress_dns. */
		char dns[CONFIG_MAX_DNS][16];
		json_object *a = json_object_new_array();
		int j;
		int n =
		    config_dns_list(svc->cfg.egress_dns, dns, CONFIG_MAX_DNS);

		for (j = 0; j < n; j++) {
			json_object_array_add(a,
					      json_object_new_string(dns[j]));
		}
		json_object_object_add(
		    host, "Runtime",
		    json_object_new_string(svc->cfg.network_runtime));
		json_object_object_add(
		    host, "NetworkMode",
		    json_object_new_string(svc->cfg.egress_network));
		json_object_object_add(host, "Dns", a);
		json_object_object_add(host, "DnsSearch",
				       json_object_new_array());
	} else {
		json_object_object_add(
		    host, "Runtime", json_object_new_string(svc->cfg.runtime));
		json_object_object_add(host, "NetworkMode",
				       json_object_new_string("none"));
	}
	json_object_object_add(host, "ReadonlyRootfs",
			       json_object_new_boolean(1));
	json_object_object_add(host, "CapDrop", str_array(drop));
	json_object_object_add(host, "CapAdd", str_array(caps));
	/* no-new-privileges, and our seccomp profile instead of Docker's
	 * default (see seccomp_refused); runsc's --oci-seccomp
	 * (scripts/setup-host) enforces it inside the sandbox. Never
	 * seccomp=unconfined: test_spec pins this list. */
	{
		json_object *secopt = json_object_new_array();
		char *prof = spec_seccomp_profile();

		json_object_array_add(
		    secopt, json_object_new_string("no-new-privileges"));
		s = xasprintf("seccomp=%s", prof);
		json_object_array_add(secopt, json_object_new_string(s));
		free(s);
		free(prof);
		json_object_object_add(host, "SecurityOpt", secopt);
	}
	json_object_object_add(host, "Memory", json_object_new_int64(mem));
	json_object_object_add(host, "MemorySwap", json_object_new_int64(mem));
	json_object_object_add(host, "MemorySwappiness",
			       json_object_new_int64(0));
	json_object_object_add(
	    host, "PidsLimit",
	    json_object_new_int64(SENTRY_PIDS_BASE +
				  SENTRY_PIDS_PER_TASK * lim->pids));
	json_object_object_add(
	    host, "NanoCpus",
	    json_object_new_int64((int64_t)(lim->cpus * 1e9)));
	json_object_object_add(
	    host, "CgroupParent",
	    json_object_new_string(service_cgroup_parent(svc)));
	/* /box belongs to the user: the guest has no CAP_CHOWN, so the mount
	 * itself carries the owner. */
	s = xasprintf("rw,size=%lld,mode=0755,uid=65534,gid=65534,nosuid,"
		      "nodev,%s",
		      (long long)lim->tmpfs_bytes,
		      lang->tmpfs_exec ? "exec" : "noexec");
	json_object_object_add(tmpfs, "/box", json_object_new_string(s));
	free(s);
	s = xasprintf("rw,size=%lld,mode=1777,nosuid,nodev,%s",
		      (long long)lim->tmpfs_bytes,
		      lang->tmpfs_exec ? "exec" : "noexec");
	json_object_object_add(tmpfs, "/tmp", json_object_new_string(s));
	free(s);
	json_object_object_add(host, "Tmpfs", tmpfs);
	s = xasprintf("%s:/.isobox/guest:ro", svc->cfg.guest_path);
	json_object_array_add(binds, json_object_new_string(s));
	free(s);
	if (spec_prestarts(d)) {
		/* The bootstraps that are files (Makefile.am, "prestart"),
		 * installed beside the guest. */
		const char *g = svc->cfg.guest_path;
		const char *slash = strrchr(g, '/');

		s = slash ? xasprintf("%.*s/prestart:/.isobox/prestart:ro",
				      (int)(slash - g), g)
			  : xstrdup("prestart:/.isobox/prestart:ro");
		json_object_array_add(binds, json_object_new_string(s));
		free(s);
	}
	for (i = 0; i < d->nmounts; i++) {
		const struct spec_mount *m = &d->mounts[i];

		s = xasprintf("%s:%s:%s", m->host, m->target,
			      m->read_only ? "ro" : "rw");
		json_object_array_add(binds, json_object_new_string(s));
		free(s);
	}
	json_object_object_add(host, "Binds", binds);
	/* Output goes to the caller, not to the engine's log files. */
	json_object_object_add(logcfg, "Type", json_object_new_string("none"));
	json_object_object_add(host, "LogConfig", logcfg);
	json_object_object_add(host, "AutoRemove", json_object_new_boolean(0));
	json_object_object_add(host, "Privileged", json_object_new_boolean(0));
	json_object_object_add(host, "IpcMode",
			       json_object_new_string("private"));
	json_object_object_add(spec, "HostConfig", host);
	return spec;
}
