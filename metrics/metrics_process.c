/* metrics/metrics_process.c - build info, process and allocator gauges, read at scrape time.
 *
 * All are callback families (metrics_callback_register), so this may be called before or
 * after the registry is sealed. Sources: /proc/self/{stat,statm,fd}, CLOCK_BOOTTIME,
 * getrusage, getrlimit; with METRICS_WITH_JEMALLOC, jemalloc's mallctl after refreshing the
 * "epoch" (without it the stats are a snapshot from the last refresh). A source that cannot
 * be read gives NaN, which Prometheus accepts, rather than a made-up number. */
#include "metrics/metrics.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#ifdef METRICS_WITH_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* one_cb - greyspf_build_info is always 1 */
static double one_cb(void *arg, size_t series)
{
    return 1.0;
}

/* statm_cb - resident (arg "rss") or virtual size in bytes from /proc/self/statm */
static double statm_cb(void *arg, size_t series)
{
    FILE *fp = fopen("/proc/self/statm", "re");
    unsigned long vsz = 0, rss = 0;
    int n = fp ? fscanf(fp, "%lu %lu", &vsz, &rss) : 0;
    if (fp)
        fclose(fp);
    if (n != 2)
        return NAN;
    double page = (double)sysconf(_SC_PAGESIZE);
    return (strcmp((const char *)arg, "rss") == 0 ? (double)rss : (double)vsz) * page;
}

/* open_fds_cb - entries of /proc/self/fd, not counting the one reading it */
static double open_fds_cb(void *arg, size_t series)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return NAN;
    double n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n > 0 ? n - 1 : 0;
}

static double max_fds_cb(void *arg, size_t series)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return NAN;
    return rl.rlim_cur == RLIM_INFINITY ? INFINITY : (double)rl.rlim_cur;
}

static double cpu_cb(void *arg, size_t series)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) < 0)
        return NAN;
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* start_time_cb - boot time + field 22 of /proc/self/stat (start, in clock ticks) */
static double start_time_cb(void *arg, size_t series)
{
    char buf[1024];
    FILE *fp = fopen("/proc/self/stat", "re");
    size_t n = fp ? fread(buf, 1, sizeof(buf) - 1, fp) : 0;
    if (fp)
        fclose(fp);
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* comm may hold spaces and parentheses */
    if (!p)
        return NAN;
    unsigned long long ticks = 0;
    /* after ") ": state(3) ppid(4) ... starttime(22): skip 19 fields */
    for (int field = 3; field < 22 && p; field++)
        p = strchr(p + 1, ' ');
    if (!p || sscanf(p + 1, "%llu", &ticks) != 1)
        return NAN;

    /* boot time as CLOCK_REALTIME - CLOCK_BOOTTIME, not /proc/stat: systemd's
     * ProcSubset=pid hides /proc/stat from the hardened unit */
    struct timespec rt, bt;
    long hz = sysconf(_SC_CLK_TCK);
    if (clock_gettime(CLOCK_REALTIME, &rt) < 0 || clock_gettime(CLOCK_BOOTTIME, &bt) < 0 ||
        hz <= 0)
        return NAN;
    double boot = (double)(rt.tv_sec - bt.tv_sec) + (double)(rt.tv_nsec - bt.tv_nsec) / 1e9;
    return boot + (double)ticks / (double)hz;
}

#ifdef METRICS_WITH_JEMALLOC
/* jemalloc_cb - arg is the mallctl name ("stats.allocated" ...) */
static double jemalloc_cb(void *arg, size_t series)
{
    uint64_t epoch = 1;
    size_t sz = sizeof(epoch);
    if (mallctl("epoch", &epoch, &sz, &epoch, sz) != 0)
        return NAN;
    size_t v = 0;
    sz = sizeof(v);
    if (mallctl((const char *)arg, &v, &sz, NULL, 0) != 0)
        return NAN;
    return (double)v;
}
#endif

struct process_family {
    const char *name, *help;
    enum metrics_type type;
    metrics_value_cb cb;
    const char *arg;
};

static const struct process_family process_families[] = {
    {"process_start_time_seconds", "Start time of the process since the epoch, in seconds.",
     METRICS_GAUGE, start_time_cb, NULL},
    {"process_cpu_seconds_total", "User and system CPU time spent, in seconds.", METRICS_COUNTER,
     cpu_cb, NULL},
    {"process_open_fds", "Number of open file descriptors.", METRICS_GAUGE, open_fds_cb, NULL},
    {"process_max_fds", "Maximum number of open file descriptors (soft limit).", METRICS_GAUGE,
     max_fds_cb, NULL},
    {"process_resident_memory_bytes", "Resident memory size, in bytes.", METRICS_GAUGE, statm_cb,
     "rss"},
    {"process_virtual_memory_bytes", "Virtual memory size, in bytes.", METRICS_GAUGE, statm_cb,
     "vsz"},
#ifdef METRICS_WITH_JEMALLOC
    {"greyspf_jemalloc_allocated_bytes", "Bytes allocated by the application (jemalloc).",
     METRICS_GAUGE, jemalloc_cb, "stats.allocated"},
    {"greyspf_jemalloc_active_bytes", "Bytes in active pages (jemalloc).", METRICS_GAUGE,
     jemalloc_cb, "stats.active"},
    {"greyspf_jemalloc_resident_bytes", "Bytes in physically resident data pages (jemalloc).",
     METRICS_GAUGE, jemalloc_cb, "stats.resident"},
#endif
};

int metrics_process_register(struct metrics_registry *reg, const char *version)
{
    const char *values[1] = {version};
    const struct metrics_label label = {"version", values, 1};
    const struct metrics_family_desc info = {
        "greyspf_build_info", "Build information; the value is always 1.", &label, 1};
    int err = metrics_callback_register(reg, &info, METRICS_GAUGE, one_cb, NULL);
    for (size_t i = 0; i < N(process_families) && !err; i++) {
        const struct process_family *p = &process_families[i];
        const struct metrics_family_desc d = {p->name, p->help, NULL, 0};
        err = metrics_callback_register(reg, &d, p->type, p->cb, (void *)p->arg);
    }
    return err;
}
