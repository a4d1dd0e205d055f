#define _GNU_SOURCE
#include "thread_scheduling.h"
#include <errno.h>

#ifdef __linux__
#include <dirent.h>
#include <sched.h>
#include <stdlib.h>

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

int streamd_current_thread_policy(int *policy, int *priority) {
    int p = sched_getscheduler(0);
    struct sched_param param;
    if (p < 0 || sched_getparam(0, &param) != 0) return -1;
    *policy = p & ~SCHED_RESET_ON_FORK;
    *priority = param.sched_priority;
    return 0;
}

int streamd_reset_realtime_threads(int policy, int priority) {
    DIR *tasks = opendir("/proc/self/task");
    if (!tasks) return -1;
    int changed = 0, failed = 0, error = 0;
    struct dirent *entry;
    while ((entry = readdir(tasks)) != NULL) {
        if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
        pid_t tid = (pid_t)atoi(entry->d_name);
        int p = sched_getscheduler(tid);
        if (p < 0) continue;  // the thread ended meanwhile
        p &= ~SCHED_RESET_ON_FORK;
        if (p != SCHED_FIFO && p != SCHED_RR) continue;
        struct sched_param current;
        if (sched_getparam(tid, &current) != 0) continue;
        if (p == policy && current.sched_priority == priority) continue;
        struct sched_param wanted = { .sched_priority = priority };
        if (sched_setscheduler(tid, policy, &wanted) == 0) {
            changed++;
        } else if (errno != ESRCH) {
            failed++;
            error = errno;
        }
    }
    closedir(tasks);
    if (failed) { errno = error; return -1; }
    return changed;
}
#else
int streamd_allowed_cpus(int *out, int capacity) { (void)out; (void)capacity; errno = ENOSYS; return -1; }
int streamd_pin_current_thread(const int *cpus, int count) { (void)cpus; (void)count; errno = ENOSYS; return -1; }
int streamd_current_thread_policy(int *policy, int *priority) { *policy = 0; *priority = 0; return 0; }
int streamd_reset_realtime_threads(int policy, int priority) { (void)policy; (void)priority; return 0; }
#endif
