/* The machine calls real programs need: sysinfo, sched_{get,set}affinity
 * and getcpu, get/set_mempolicy (one node), sethostname/setdomainname
 * (the native run is confined with unshare --uts), prlimit64 on a child,
 * mincore, memfd_create with seals. Prints only what native Linux and
 * the sandbox share. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#define MPOL_DEFAULT 0
#define MPOL_BIND 2
#define MPOL_F_MEMS_ALLOWED 4

static const char *err(long r)
{
    return r < 0 ? strerror(errno) : "ok";
}

static void memory_and_cpus(void)
{
    struct sysinfo si;
    const char *result = err(sysinfo(&si));
    printf("sysinfo: %s, mem_unit %u, totalram >= freeram %d, procs >= 1 %d\n",
           result, si.mem_unit, si.totalram >= si.freeram, si.procs >= 1);
    printf("_SC_PHYS_PAGES * page size = sysinfo totalram: %d\n",
           (unsigned long)sysconf(_SC_PHYS_PAGES) * sysconf(_SC_PAGESIZE) ==
           si.totalram * si.mem_unit);
    printf("sysinfo(NULL): %s\n", err(sysinfo(NULL)));
    cpu_set_t set;
    CPU_ZERO(&set);
    sched_getaffinity(0, sizeof set, &set);
    printf("affinity CPUs = nprocs: %d\n", CPU_COUNT(&set) == get_nprocs());
    CPU_ZERO(&set);
    CPU_SET(0, &set);
    printf("pin to CPU 0: %s\n", err(sched_setaffinity(0, sizeof set, &set)));
    unsigned cpu = 99, node = 99;
    syscall(SYS_getcpu, &cpu, &node, NULL);
    CPU_ZERO(&set);
    sched_getaffinity(0, sizeof set, &set);
    printf("now on cpu %u node %u, affinity count %d\n", cpu, node, CPU_COUNT(&set));
    CPU_ZERO(&set);
    CPU_SET(1000, &set);
    printf("pin to no CPU: %s\n", err(sched_setaffinity(0, sizeof set, &set)));
    printf("affinity of a missing pid: %s\n",
           err(sched_getaffinity(99999999, sizeof set, &set)));
}

static void numa(void)
{
    int mode = -1;
    unsigned long mask = 0;
    long r = syscall(SYS_get_mempolicy, &mode, &mask, 64, NULL, 0);
    printf("get_mempolicy: %s mode %d mask %lu\n", err(r), mode, mask);
    r = syscall(SYS_get_mempolicy, NULL, &mask, 64, NULL, MPOL_F_MEMS_ALLOWED);
    printf("mems allowed: %s mask %lu\n", err(r), mask);
    mask = 1;
    printf("bind to node 0: %s\n", err(syscall(SYS_set_mempolicy, MPOL_BIND, &mask, 64)));
    r = syscall(SYS_get_mempolicy, &mode, &mask, 64, NULL, 0);
    printf("after bind: mode %d mask %lu\n", mode, mask);
    mask = 2;
    printf("bind to node 1: %s\n", err(syscall(SYS_set_mempolicy, MPOL_BIND, &mask, 64)));
    printf("back to default: %s\n", err(syscall(SYS_set_mempolicy, MPOL_DEFAULT, NULL, 0)));
    printf("bad flags: %s\n", err(syscall(SYS_get_mempolicy, &mode, NULL, 0, NULL, 0x100)));
}

static void names(void)
{
    struct utsname u;
    printf("sethostname: %s\n", err(sethostname("box.example", 11)));
    printf("setdomainname: %s\n", err(setdomainname("example.org", 11)));
    uname(&u);
    printf("uname: %s %s\n", u.nodename, u.domainname);
    char text[80] = {0};
    int fd = open("/proc/sys/kernel/hostname", O_RDONLY);
    read(fd, text, sizeof text - 1);
    close(fd);
    printf("/proc/sys/kernel/hostname: %s", text);
    char big[100];
    memset(big, 'x', sizeof big);
    printf("too long: %s\n", err(sethostname(big, sizeof big)));
}

static void limits_of_a_child(void)
{
    int go[2];
    pipe(go);
    pid_t child = fork();
    if (child == 0) {
        char c;
        read(go[0], &c, 1);
        struct rlimit rl;
        getrlimit(RLIMIT_NOFILE, &rl);
        _exit(rl.rlim_cur == 77 ? 0 : 1);
    }
    struct rlimit new = {77, 77}, old;
    printf("prlimit64 on the child: %s\n", err(prlimit(child, RLIMIT_NOFILE, &new, &old)));
    printf("prlimit64 on a missing pid: %s\n", err(prlimit(99999999, RLIMIT_NOFILE, NULL, &old)));
    write(go[1], "x", 1);
    int status;
    waitpid(child, &status, 0);
    printf("child saw the limit: %d\n", WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void pages_and_memfd(void)
{
    unsigned char vec[4];
    char *m = mmap(NULL, 4 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    m[0] = 1;
    long r = mincore(m, 4 * 4096, vec);
    printf("mincore: %s first page %d\n", err(r), vec[0] & 1);
    printf("mincore unaligned: %s\n", err(mincore(m + 1, 4096, vec)));
    munmap(m + 4096, 4096);
    printf("mincore over a hole: %s\n", err(mincore(m, 4 * 4096, vec)));

    int fd = memfd_create("sealed", MFD_ALLOW_SEALING);
    printf("memfd write: %zd\n", write(fd, "12345678", 8));
    printf("seals: %d\n", fcntl(fd, F_GET_SEALS));
    printf("add shrink+grow: %s\n", err(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW)));
    printf("truncate smaller: %s\n", err(ftruncate(fd, 4)));
    printf("write past the end: %s\n", err(pwrite(fd, "x", 1, 8)));
    printf("overwrite inside: %s\n", err(pwrite(fd, "x", 1, 0)));
    printf("add seal+write: %s\n", err(fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_WRITE)));
    printf("overwrite now: %s\n", err(pwrite(fd, "x", 1, 0)));
    char again[64];
    snprintf(again, sizeof again, "/proc/self/fd/%d", fd);
    int reopened = open(again, O_RDWR);
    printf("write through a reopen: %s\n", err(pwrite(reopened, "x", 1, 0)));
    printf("truncate through a reopen: %s\n", err(ftruncate(reopened, 0)));
    close(reopened);
    void *w = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    printf("shared writable map: %s\n", w == MAP_FAILED ? strerror(errno) : "ok");
    void *ro = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
    printf("shared read-only map: %s\n", ro == MAP_FAILED ? strerror(errno) : "ok");
    printf("add after F_SEAL_SEAL: %s\n", err(fcntl(fd, F_ADD_SEALS, F_SEAL_GROW)));
    printf("seals: %#x\n", fcntl(fd, F_GET_SEALS));
    int plain = memfd_create("plain", 0);
    printf("no sealing: %#x, add %s\n", fcntl(plain, F_GET_SEALS),
           err(fcntl(plain, F_ADD_SEALS, F_SEAL_WRITE)));
    printf("seals of a pipe: %s\n", err(fcntl(0, F_GET_SEALS)));
    printf("bad memfd flags: %s\n", err(memfd_create("x", 0x1000)));
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    memory_and_cpus();
    numa();
    names();
    limits_of_a_child();
    pages_and_memfd();
    return 0;
}
