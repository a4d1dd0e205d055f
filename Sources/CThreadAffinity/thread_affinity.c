#define _GNU_SOURCE
#include "thread_affinity.h"
#include <errno.h>

#ifdef __linux__
#include <sched.h>

int streamd_allowed_cpus(int *out, int capacity) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) != 0) return -1;
    int n = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE && n < capacity; cpu++) {
        if (CPU_ISSET(cpu, &set)) out[n++] = cpu;
    }
    return n;
}

int streamd_pin_current_thread(const int *cpus, int count) {
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int i = 0; i < count; i++) {
        if (cpus[i] >= 0 && cpus[i] < CPU_SETSIZE) CPU_SET(cpus[i], &set);
    }
    return sched_setaffinity(0, sizeof(set), &set);
}
#else
int streamd_allowed_cpus(int *out, int capacity) { (void)out; (void)capacity; errno = ENOSYS; return -1; }
int streamd_pin_current_thread(const int *cpus, int count) { (void)cpus; (void)count; errno = ENOSYS; return -1; }
#endif
