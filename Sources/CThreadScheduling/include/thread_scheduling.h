// Thin shim: the Linux thread-scheduling calls that glibc declares only under _GNU_SOURCE (so Swift's Glibc
// module does not see them) or that take a thread id rather than a pthread_t. No logic beyond the cpu_set_t
// macros and a walk over /proc/self/task.
#ifndef STREAMD_THREAD_SCHEDULING_H
#define STREAMD_THREAD_SCHEDULING_H

/// Writes the calling thread's allowed CPUs (ascending) to `out` (at most `capacity`); returns how many, or -1.
int streamd_allowed_cpus(int *out, int capacity);

/// Restricts the calling thread to the `count` CPUs in `cpus`; returns 0 or -1 (errno set).
int streamd_pin_current_thread(const int *cpus, int count);

/// The calling thread's scheduling policy (SCHED_OTHER, SCHED_FIFO, …, without SCHED_RESET_ON_FORK) and
/// static priority; returns 0 or -1 (errno set).
int streamd_current_thread_policy(int *policy, int *priority);

/// Sets every thread of this process that runs a real-time policy (SCHED_FIFO or SCHED_RR) with another
/// policy or priority than `policy`/`priority` to `policy`/`priority`. Returns how many threads it changed, or
/// -1 (errno set) when /proc/self/task cannot be read or a thread refuses the change.
int streamd_reset_realtime_threads(int policy, int priority);

#endif
