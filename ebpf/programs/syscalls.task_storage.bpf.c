/* syscalls, built with task-local storage for the entry times (see task_storage.bpf.h):
 * the engine loads it where the kernel allows, else the plain syscalls.bpf.c. */
#define TRACEJOB_TASK_STORAGE 1
#include "syscalls.bpf.c"
