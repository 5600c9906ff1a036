/* The syscall numbers the event tools filter on. */
#pragma once

#if defined(__TARGET_ARCH_x86)
#define NR_open 2
#define NR_execve 59
#define NR_exit 60
#define NR_exit_group 231
#define NR_openat 257
#define NR_execveat 322
#define NR_openat2 437
#else
#error "tracejob's syscall tools support x86_64 only for now"
#endif
