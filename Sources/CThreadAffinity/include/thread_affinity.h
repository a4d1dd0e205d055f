// Thin shim: the Linux CPU-affinity calls, which glibc declares only under _GNU_SOURCE (so Swift's Glibc
// module does not see them). No logic beyond the cpu_set_t macros.
#ifndef STREAMD_THREAD_AFFINITY_H
#define STREAMD_THREAD_AFFINITY_H

/// Writes the calling thread's allowed CPUs (ascending) to `out` (at most `capacity`); returns how many, or -1.
int streamd_allowed_cpus(int *out, int capacity);

/// Restricts the calling thread to the `count` CPUs in `cpus`; returns 0 or -1 (errno set).
int streamd_pin_current_thread(const int *cpus, int count);

#endif
