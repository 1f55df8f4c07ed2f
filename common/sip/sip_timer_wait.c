/* The loop sleeps until its next timer is due instead of spinning on it.
 *
 * su_root's loop waits in epoll_wait() for the time su_timer_expire() gives it: su_duration()
 * from now to the next timer, in milliseconds, truncated. A timer due in 0.9 ms gives 0, so the
 * loop polls without sleeping, again and again, until the timer is due: up to a millisecond of
 * busy turns before every timer. nta sets its timers at every transaction's deadlines and
 * admission ticks every 10 ms, so at 500 registrations/s this was 65 epoll_wait() calls per
 * registration in the pcscf and 81 in the scscf, for about 8 real events (docs/BENCHMARKS.md,
 * eleventh run): a tenth to a quarter of each program's CPU here, where a system call is dear.
 *
 * As with su_getmsgsize() (sip_stream_read.c), the programs define the function that
 * libsofia-sip-ua calls through its PLT, here with the remainder rounded up: the loop then sleeps
 * until the timer is due and fires it at most a millisecond late (epoll's resolution), which no
 * SIP timer notices (T1 is 500 ms). sofia's other callers measure elapsed time (nta's load
 * sampling, su_root_sleep()'s accrued time, a debug line): a sub-millisecond remainder counted
 * as a millisecond changes none of them in a way that matters.
 * tests/unit/test_sip_core.c pins the rounding and an idle loop's wake-ups. */
#include <sofia-sip/su_time.h>

#include "common/sip/sip_core_internal.h"

su_duration_t su_duration(su_time_t const t1, su_time_t const t2)
{
    /* long long: the microseconds of SU_DURATION_MAX's seconds do not fit in 32 bits */
    long long us = ((long long)t1.tv_sec - (long long)t2.tv_sec) * 1000000LL +
                   ((long long)t1.tv_usec - (long long)t2.tv_usec);
    long long ms = us > 0 ? (us + 999) / 1000 : us / 1000;
    if (ms > SU_DURATION_MAX)
        return SU_DURATION_MAX;
    if (ms < -SU_DURATION_MAX)
        return -SU_DURATION_MAX;
    return (su_duration_t)ms;
}

/* sip_core_new() calls it, so the archive's member holding su_duration() is linked into every
 * program (nothing else refers to this file). */
int sip_timer_wait_rounded(void)
{
    return su_duration((su_time_t){0, 1}, (su_time_t){0, 0}) == 1;
}
