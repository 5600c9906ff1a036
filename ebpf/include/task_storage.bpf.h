/* Task-local storage for what a syscall's entry hands to its exit (open's arguments,
 * the entry time syscalls times from). Tools that keep such state are built twice from
 * one source: `<tool>.task_storage.bpf.c` defines TRACEJOB_TASK_STORAGE and includes
 * `<tool>.bpf.c`. Two objects rather than one with both maps: aya creates every map of
 * an object before any program loads, and 5.10 cannot create a task storage map at
 * all, so a single object could not load there. The engine tries the task storage
 * build first and falls back to the plain one, which keys a hash by thread id. */
#pragma once

#include "common.bpf.h"

#ifdef TRACEJOB_TASK_STORAGE

/* One value per task, allocated on first use and freed with the task: no entries to
 * size, insert, delete or evict, and no hash to find the thread in. */
#define TASK_STORAGE_MAP(name, value_type)                     \
	struct {                                               \
		__uint(type, BPF_MAP_TYPE_TASK_STORAGE);       \
		__uint(map_flags, BPF_F_NO_PREALLOC);          \
		__type(key, int);                              \
		__type(value, value_type);                     \
	} name SEC(".maps")

/* The current thread's value in `map`: created zeroed when `create`, else NULL until
 * the thread has one. */
static __always_inline void *current_task_value(void *map, bool create)
{
	return bpf_task_storage_get(map, bpf_get_current_task_btf(), NULL,
				    create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
}

#endif
