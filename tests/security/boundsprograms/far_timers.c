/* Timers armed as far in the future as the ABI allows (found by the
 * syscall fuzzer: the sentry's timer thread died of an OverflowError). */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
int main(void){
  struct itimerval v = {{0, 0}, {0x7fffffffffffffffLL, 999999}};
  int r = setitimer(ITIMER_REAL, &v, NULL); printf("setitimer %d %s\n", r, r ? strerrorname_np(errno) : "");
  timer_t t; struct sigevent ev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR1};
  r = timer_create(CLOCK_MONOTONIC, &ev, &t); printf("timer_create %d\n", r);
  struct itimerspec s = {{0, 0}, {0x7fffffffffffffffLL, 999999999}};
  r = timer_settime(t, 0, &s, NULL); printf("timer_settime %d %s\n", r, r ? strerrorname_np(errno) : "");
  struct itimerspec s2 = {{0, 0}, {0x7fffffffffffffffLL, 0}};
  r = timer_settime(t, TIMER_ABSTIME, &s2, NULL); printf("timer_settime abs %d %s\n", r, r ? strerrorname_np(errno) : "");
  struct timespec short_ = {0, 200000000}; nanosleep(&short_, NULL);
  struct itimerval back; getitimer(ITIMER_REAL, &back); printf("itimer pending %s\n", back.it_value.tv_sec > 1000000 ? "far" : "near");
  return 0; }
