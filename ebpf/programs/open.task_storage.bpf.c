/* open, built with task-local storage for the open in flight (see task_storage.bpf.h):
 * the engine loads it where the kernel allows, else the plain open.bpf.c. */
#define TRACEJOB_TASK_STORAGE 1
#include "open.bpf.c"
