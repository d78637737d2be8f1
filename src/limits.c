/* limits.c - the resource limits of one run: the field table shared by the
 * request parser, the catalogue and the config, overlaying partial limits
 * and clamping into the configured [floor, ceiling] range. */
#include "limits.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

struct limits_def {
	unsigned bit;
	const char *camel;
	const char *snake;
	size_t off;
	int is_double;
};

static const struct limits_def defs[] = {
    {LIM_MEMORY, "memoryBytes", "memory_bytes",
     offsetof(struct limits, memory_bytes), 0},
    {LIM_CPUS, "cpus", "cpus", offsetof(struct limits, cpus), 1},
    {LIM_PIDS, "pids", "pids", offsetof(struct limits, pids), 0},
    {LIM_OUTPUT, "outputBytes", "output_bytes",
     offsetof(struct limits, output_bytes), 0},
    {LIM_WALL, "wallTimeMs", "wall_time_ms",
     offsetof(struct limits, wall_time_ms), 0},
    {LIM_COMPILE_WALL, "compileWallTimeMs", "compile_wall_time_ms",
     offsetof(struct limits, compile_wall_time_ms), 0},
    {LIM_COMPILE_MEMORY, "compileMemoryBytes", "compile_memory_bytes",
     offsetof(struct limits, compile_memory_bytes), 0},
    {LIM_TMPFS, "tmpfsBytes", "tmpfs_bytes",
     offsetof(struct limits, tmpfs_bytes), 0},
};

#define NDEFS (sizeof(defs) / sizeof(defs[0]))

static const struct limits_def *def_of(unsigned bit)
{
	size_t i;

	for (i = 0; i < NDEFS; i++) {
		if (defs[i].bit == bit) {
			return &defs[i];
		}
	}
	return NULL;
}

static int64_t *int_field(struct limits *l, const struct limits_def *d)
{
	return (int64_t *)(void *)((char *)l + d->off);
}

static const int64_t *int_field_c(const struct limits *l,
				  const struct limits_def *d)
{
	return (const int64_t *)(const void *)((const char *)l + d->off);
}

void limits_overlay(struct limits *dst, const struct limits_partial *p)
{
	size_t i;

	for (i = 0; i < NDEFS; i++) {
		const struct limits_def *d = &defs[i];

		if (!(p->set & d->bit)) {
			continue;
		}
		if (d->is_double) {
			dst->cpus = p->v.cpus;
		} else {
			*int_field(dst, d) = *int_field_c(&p->v, d);
		}
	}
}

void limits_clamp(struct limits *l, const struct limits *lo,
		  const struct limits *hi)
{
	size_t i;

	for (i = 0; i < NDEFS; i++) {
		const struct limits_def *d = &defs[i];

		if (d->is_double) {
			/* Written so a NaN ends up at the floor. */
			if (!(l->cpus >= lo->cpus)) {
				l->cpus = lo->cpus;
			}
			if (l->cpus > hi->cpus) {
				l->cpus = hi->cpus;
			}
		} else {
			int64_t *v = int_field(l, d);

			if (*v < *int_field_c(lo, d)) {
				*v = *int_field_c(lo, d);
			}
			if (*v > *int_field_c(hi, d)) {
				*v = *int_field_c(hi, d);
			}
		}
	}
}

unsigned limits_field(const char *name)
{
	size_t i;

	if (name == NULL) {
		return 0;
	}
	for (i = 0; i < NDEFS; i++) {
		if (strcmp(name, defs[i].camel) == 0 ||
		    strcmp(name, defs[i].snake) == 0) {
			return defs[i].bit;
		}
	}
	return 0;
}

int limits_set(struct limits_partial *p, unsigned bit, double v)
{
	const struct limits_def *d = def_of(bit);

	if (d == NULL || !isfinite(v) || v < 0) {
		return -1;
	}
	if (d->is_double) {
		p->v.cpus = v;
	} else {
		/* 2^63 is exact as a double; anything at or past it would
		 * overflow the conversion. Below it, the round trip through
		 * int64_t tells whole numbers (without needing libm). */
		if (v >= 9223372036854775808.0 || (double)(int64_t)v != v) {
			return -1;
		}
		*int_field(&p->v, d) = (int64_t)v;
	}
	p->set |= bit;
	return 0;
}

const char *limits_name(unsigned bit)
{
	const struct limits_def *d = def_of(bit);

	return d ? d->camel : NULL;
}

double limits_get(const struct limits *l, unsigned bit)
{
	const struct limits_def *d = def_of(bit);

	if (d == NULL) {
		return 0;
	}
	if (d->is_double) {
		return l->cpus;
	}
	return (double)*int_field_c(l, d);
}
