/* Linux native AIO (io_setup family) as gVisor's aio_test uses it: the
 * context is a ring in the process's memory (header, events at head/tail),
 * writes and reads through it, errors at submission versus errors in the
 * event, the ring moved by mremap, made unreadable, not expandable, the
 * eventfd of IOCB_FLAG_RESFD, and a forked child that cannot use it. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct ring { unsigned id, nr, head, tail, magic, compat, incompat, header_length; };

#define SHOW(label, expr) do { long r_ = (long)(expr); \
    printf("%-44s %ld %s\n", label, r_, r_ < 0 ? strerror(errno) : ""); } while (0)

static long setup(unsigned nr, aio_context_t *ctx) { return syscall(__NR_io_setup, nr, ctx); }
static long destroy(aio_context_t ctx) { return syscall(__NR_io_destroy, ctx); }
static long submit(aio_context_t ctx, long nr, struct iocb **cbs)
{ return syscall(__NR_io_submit, ctx, nr, cbs); }
static long getevents(aio_context_t ctx, long min, long nr, struct io_event *ev, struct timespec *t)
{ return syscall(__NR_io_getevents, ctx, min, nr, ev, t); }

static size_t vma_size(uintptr_t addr)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    size_t size = 0;
    while (fgets(line, sizeof(line), f)) {
        unsigned long s, e;
        if (sscanf(line, "%lx-%lx", &s, &e) == 2 && s <= addr && addr < e) {
            size = e - s;
            printf("ring mapping: %s", strchr(line, '/') ? strchr(line, '/') : "(no name)\n");
        }
    }
    fclose(f);
    return size;
}

static struct iocb cb_for(int op, int fd, void *buf, size_t n, long long off)
{
    struct iocb cb;
    memset(&cb, 0, sizeof(cb));
    cb.aio_data = 0x1234;
    cb.aio_lio_opcode = op;
    cb.aio_fildes = fd;
    cb.aio_buf = (uintptr_t)buf;
    cb.aio_nbytes = n;
    cb.aio_offset = off;
    return cb;
}

static void show_event(const char *label, struct io_event *ev, struct iocb *cb)
{
    printf("%-44s data %llx obj-ok %d res %lld res2 %lld\n", label,
           (unsigned long long)ev->data, ev->obj == (uintptr_t)cb,
           (long long)ev->res, (long long)ev->res2);
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    signal(SIGPIPE, SIG_IGN);
    int fd = open("f", O_RDWR | O_CREAT | O_TRUNC, 0644);
    aio_context_t ctx = 0, bad = 1;
    struct io_event ev[4];
    struct timespec zero = {0, 0}, short_wait = {0, 1000};

    SHOW("io_setup(0)", setup(0, &ctx));
    SHOW("io_setup with *ctxp set", setup(4, &bad));
    SHOW("io_setup to a bad pointer", setup(4, (void *)8));
    SHOW("io_setup(128)", setup(128, &ctx));
    struct ring *r = (struct ring *)ctx;
    printf("ring: nr %u head %u tail %u magic %x compat %u incompat %u header %u\n",
           r->nr, r->head, r->tail, r->magic, r->compat, r->incompat, r->header_length);
    size_t size = vma_size(ctx);
    printf("ring size %zu\n", size);

    /* A write, then its event through the syscall. */
    char data[] = "hello world!", back[16] = {0};
    struct iocb w = cb_for(IOCB_CMD_PWRITE, fd, data, 12, 0), *cbs[2] = {&w};
    SHOW("submit a write", submit(ctx, 1, cbs));
    printf("tail after one completion: %u\n", r->tail);
    SHOW("getevents", getevents(ctx, 1, 4, ev, NULL));
    show_event("the write's event", &ev[0], &w);
    printf("head after reaping: %u\n", r->head);
    SHOW("getevents, nothing left, zero timeout", getevents(ctx, 1, 4, ev, &zero));
    SHOW("getevents, nothing left, short timeout", getevents(ctx, 1, 4, ev, &short_wait));
    SHOW("getevents min > nr", getevents(ctx, 2, 1, ev, &zero));
    SHOW("getevents min < 0", getevents(ctx, -1, 1, ev, &zero));

    /* A vectored read, reaped in user space as libaio does. */
    struct iovec iov[2] = {{back, 5}, {back + 5, 7}};
    struct iocb rd = cb_for(IOCB_CMD_PREADV, fd, iov, 2, 0);
    cbs[0] = &rd;
    SHOW("submit a readv", submit(ctx, 1, cbs));
    struct io_event *events = (struct io_event *)(r + 1);
    printf("user-space reap: %u events\n", (r->tail - r->head) % r->nr);
    show_event("the readv's event (from the ring)", &events[r->head], &rd);
    r->head = (r->head + 1) % r->nr;
    printf("read back: %s\n", back);
    SHOW("getevents after the user-space reap", getevents(ctx, 0, 4, ev, &zero));

    /* Errors at submission, and in the event. */
    struct iocb b = cb_for(IOCB_CMD_PWRITE, fd, data, 12, -1);
    cbs[0] = &b;
    SHOW("negative offset", submit(ctx, 1, cbs));
    b = cb_for(IOCB_CMD_PREAD, 999, back, 1, 0);
    SHOW("bad fd", submit(ctx, 1, cbs));
    int ro = open("f", O_RDONLY);
    b = cb_for(IOCB_CMD_PWRITE, ro, data, 1, 0);
    SHOW("write to a read-only fd", submit(ctx, 1, cbs));
    struct iovec kernel = {(void *)0xFFFFFFFF00000000ul, 1};
    b = cb_for(IOCB_CMD_PWRITEV, fd, &kernel, 1, 0);
    SHOW("pwritev from a kernel address", submit(ctx, 1, cbs));
    b = cb_for(IOCB_CMD_PREADV, fd, &kernel, 1, 0);
    SHOW("preadv to a kernel address", submit(ctx, 1, cbs));
    b = cb_for(IOCB_CMD_PREAD, fd, (void *)0xFFFFFFFF00000000ul, 1, 0);
    SHOW("pread to a kernel address", submit(ctx, 1, cbs));
    b = cb_for(99, fd, data, 1, 0);
    SHOW("unknown opcode", submit(ctx, 1, cbs));
    b = cb_for(IOCB_CMD_FSYNC, fd, data, 1, 0);
    SHOW("fsync with a buffer", submit(ctx, 1, cbs));
    b = cb_for(IOCB_CMD_PWRITE, fd, data, 1, 0);
    b.aio_reserved2 = 1;
    SHOW("reserved2 set", submit(ctx, 1, cbs));
    SHOW("negative count", submit(ctx, -1, cbs));
    SHOW("zero count", submit(ctx, 0, cbs));
    SHOW("bad iocb array", submit(ctx, 1, (void *)8));
    struct iocb good = cb_for(IOCB_CMD_FDSYNC, fd, NULL, 0, 0), *two[2] = {&good, (void *)8};
    SHOW("one good iocb, then a bad pointer", submit(ctx, 2, two));
    SHOW("its event", getevents(ctx, 1, 4, ev, NULL));
    show_event("the fdsync's event", &ev[0], &good);
    int p[2];
    pipe(p);
    close(p[0]);
    b = cb_for(IOCB_CMD_PWRITE, p[1], data, 1, 0);
    SHOW("write to a pipe without a reader", submit(ctx, 1, cbs));
    SHOW("getevents", getevents(ctx, 1, 4, ev, NULL));
    show_event("the pipe write's event", &ev[0], &b);
    SHOW("io_cancel of a completed request", syscall(__NR_io_cancel, ctx, &b, ev));

    /* IOCB_FLAG_RESFD: the eventfd counts completions. */
    int efd = eventfd(0, 0);
    struct iocb e1 = cb_for(IOCB_CMD_PREAD, fd, back, 4, 0), e2 = e1, *ecbs[2] = {&e1, &e2};
    e1.aio_flags = e2.aio_flags = IOCB_FLAG_RESFD;
    e1.aio_resfd = e2.aio_resfd = efd;
    SHOW("two reads with an eventfd", submit(ctx, 2, ecbs));
    uint64_t count = 0;
    read(efd, &count, 8);
    printf("eventfd count %llu\n", (unsigned long long)count);
    SHOW("getevents", getevents(ctx, 2, 4, ev, NULL));
    e1.aio_resfd = fd;
    SHOW("resfd not an eventfd", submit(ctx, 1, ecbs));

    /* A forked child has the ring mapped but not the context. */
    pid_t pid = fork();
    if (pid == 0) {
        cbs[0] = &w;
        printf("child: submit %ld %s\n", submit(ctx, 1, cbs), strerror(errno));
        _exit(0);
    }
    waitpid(pid, NULL, 0);

    /* mremap moves the context with its ring; it cannot grow. */
    void *dst = mmap(NULL, size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    void *moved = mremap((void *)ctx, size, size, MREMAP_FIXED | MREMAP_MAYMOVE, dst);
    printf("moved to the new place: %d\n", moved == dst);
    cbs[0] = &w;
    SHOW("submit to the old address", submit(ctx, 1, cbs));
    aio_context_t old = ctx;
    ctx = (aio_context_t)moved;
    SHOW("submit to the new address", submit(ctx, 1, cbs));
    SHOW("getevents there", getevents(ctx, 1, 4, ev, NULL));
    show_event("its event", &ev[0], &w);
    void *big = mmap(NULL, size + 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    void *grown = mremap((void *)ctx, size, size + 4096, MREMAP_FIXED | MREMAP_MAYMOVE, big);
    printf("grow: %s\n", grown == MAP_FAILED ? strerror(errno) : "moved");
    SHOW("io_destroy at the old address", destroy(old));

    /* An unreadable ring names no context. */
    SHOW("mprotect the ring PROT_NONE", mprotect((void *)ctx, 4096, PROT_NONE));
    SHOW("submit", submit(ctx, 1, cbs));
    SHOW("getevents", getevents(ctx, 1, 1, ev, NULL));
    SHOW("io_destroy", destroy(ctx));
    SHOW("mprotect it back", mprotect((void *)ctx, 4096, PROT_READ | PROT_WRITE));
    SHOW("io_destroy", destroy(ctx));
    printf("ring still mapped: %d\n", vma_size(ctx) != 0);
    SHOW("io_destroy again", destroy(ctx));

    /* A second context sits apart from the first. */
    aio_context_t a = 0, c = 0;
    SHOW("io_setup(1)", setup(1, &a));
    SHOW("io_setup(1) again", setup(1, &c));
    printf("distinct: %d\n", a != c);
    SHOW("io_destroy", destroy(a));
    SHOW("io_destroy", destroy(c));
    return 0;
}
