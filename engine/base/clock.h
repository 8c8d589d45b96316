/* engine/base/clock.h - monotonic and wall clocks.
 * Read the clock once per loop turn and pass `now` down (STYLE.md). */
#ifndef GREYSPF_BASE_CLOCK_H
#define GREYSPF_BASE_CLOCK_H
#include <stdint.h>
#include <time.h>

/* clock_mono_us - microseconds on CLOCK_MONOTONIC */
static inline uint64_t clock_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static inline uint64_t clock_mono_ms(void)
{
    return clock_mono_us() / 1000u;
}

/* clock_wall_s - seconds since the epoch (for stored timestamps) */
static inline int64_t clock_wall_s(void)
{
    return (int64_t)time(NULL);
}

#endif
