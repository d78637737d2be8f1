/* limits.h - the resource limits of one run, and how requested values are
 * clamped into the [floor, ceiling] range that the config sets. */
#ifndef ISOBOX_LIMITS_H
#define ISOBOX_LIMITS_H

/* RLIMIT_NOFILE of user code (not a request limit: fixed). */
#define LIMITS_USER_NOFILE 256

#include <stdint.h>

struct limits {
	int64_t memory_bytes;	      /* run stage sandbox memory (no swap) */
	double cpus;		      /* CPU share, NanoCpus = cpus * 1e9 */
	int64_t pids;		      /* processes/threads of user code */
	int64_t output_bytes;	      /* stdout+stderr cap per stage */
	int64_t wall_time_ms;	      /* run stage wall time */
	int64_t compile_wall_time_ms; /* compile stage wall time */
	int64_t compile_memory_bytes; /* sandbox memory when compiling */
	int64_t tmpfs_bytes;	      /* size of the writable /box and /tmp */
};

/* Field presence mask for partial limits (a request or a catalogue entry
 * may name only some fields). */
enum {
	LIM_MEMORY = 1 << 0,
	LIM_CPUS = 1 << 1,
	LIM_PIDS = 1 << 2,
	LIM_OUTPUT = 1 << 3,
	LIM_WALL = 1 << 4,
	LIM_COMPILE_WALL = 1 << 5,
	LIM_COMPILE_MEMORY = 1 << 6,
	LIM_TMPFS = 1 << 7,
	LIM_ALL = (1 << 8) - 1,
};

struct limits_partial {
	unsigned set; /* LIM_* bits of the fields that carry a value */
	struct limits v;
};

/* Overlay the fields of p that are set onto dst. */
void limits_overlay(struct limits *dst, const struct limits_partial *p);
/* Clamp every field of l into [floor, ceil] (field by field). */
void limits_clamp(struct limits *l, const struct limits *floor,
		  const struct limits *ceil);

/* Look up a limit by its JSON/YAML name ("memoryBytes", "cpus", "pids",
 * "outputBytes", "wallTimeMs", "compileWallTimeMs", "compileMemoryBytes",
 * "tmpfsBytes"; snake_case spellings "memory_bytes" ... are accepted too).
 * Returns the LIM_* bit, or 0 when the name is unknown. */
unsigned limits_field(const char *name);
/* Set field `bit` of p from a number. Returns 0, or -1 if v is negative,
 * not finite, or (for integer fields) not a whole number or past 2^63; also
 * -1 when bit is not exactly one LIM_* bit. */
int limits_set(struct limits_partial *p, unsigned bit, double v);
/* The camelCase name of field `bit` ("memoryBytes"...), or NULL when bit is
 * not exactly one LIM_* bit. */
const char *limits_name(unsigned bit);
/* The value of field `bit` of l as a double (0 when bit is unknown). */
double limits_get(const struct limits *l, unsigned bit);

#endif
