/* System V IPC, run natively (in a fresh IPC namespace) and in the
 * sandbox: shared memory, semaphores and message queues. Prints only what
 * must match: ids (deterministic in a fresh namespace), values, errnos. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SHOW(label, expr) do { errno = 0; long r_ = (long)(expr); \
    printf("%s = %ld%s%s\n", label, r_, r_ < 0 ? " " : "", r_ < 0 ? strerrorname_np(errno) : ""); \
    fflush(stdout); } while (0)

union semun { int val; struct semid_ds *buf; unsigned short *array; struct seminfo *__buf; };

static void wait_child(const char *what) {
    int st;
    wait(&st);
    if (WIFSIGNALED(st)) printf("%s: child killed by %d\n", what, WTERMSIG(st));
    else printf("%s: child exit %d\n", what, WEXITSTATUS(st));
    fflush(stdout);
}

/* A child says it is about to block; the parent then gives it 100 ms to
 * get there (a fork child of the sandbox can take longer than that to
 * start under load). */
static int handshake[2];
static void child_ready(void) { if (write(handshake[1], "r", 1) != 1) _exit(98); }
static void await_child(void) {
    char c;
    if (read(handshake[0], &c, 1) != 1) exit(97);
    usleep(100000);
}

static void as_nobody(void) {
    if (setgid(65534) || setuid(65534)) { perror("setuid"); _exit(99); }
}

/* --- shared memory ------------------------------------------------------ */
static int maps_has(const char *needle) {
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    int found = 0;
    while (fgets(line, sizeof line, f)) if (strstr(line, needle)) found++;
    fclose(f);
    return found;
}

static void shm_stat(int id) {
    struct shmid_ds ds;
    errno = 0;
    if (shmctl(id, IPC_STAT, &ds) < 0) { printf("IPC_STAT %s\n", strerrorname_np(errno)); return; }
    printf("stat: key=%#x mode=%o segsz=%zu nattch=%lu cpid_self=%d lpid_self=%d atime=%d dtime=%d ctime=%d uid=%u\n",
           ds.shm_perm.__key, ds.shm_perm.mode, ds.shm_segsz, (unsigned long)ds.shm_nattch,
           ds.shm_cpid == getpid(), ds.shm_lpid == getpid(), ds.shm_atime != 0,
           ds.shm_dtime != 0, ds.shm_ctime != 0, ds.shm_perm.uid);
}

static void test_shm(void) {
    SHOW("private", shmget(IPC_PRIVATE, 10000, 0600));
    int id = shmget(0x1234, 8192, IPC_CREAT | 0640);
    SHOW("keyed", id);
    SHOW("same key", shmget(0x1234, 4096, 0));
    SHOW("excl", shmget(0x1234, 4096, IPC_CREAT | IPC_EXCL | 0600));
    SHOW("too big for existing", shmget(0x1234, 9000, 0));
    SHOW("missing key", shmget(0x9999, 4096, 0));
    SHOW("size 0", shmget(0x9998, 0, IPC_CREAT | 0600));
    SHOW("hugetlb", shmget(IPC_PRIVATE, 4096, IPC_CREAT | SHM_HUGETLB | 0600) < 0 ? -1 : 0);
    shm_stat(id);
    char *p = shmat(id, NULL, 0);
    printf("attached: %d\n", p != (void *)-1);
    strcpy(p, "parent wrote this");
    shm_stat(id);
    printf("maps: %d\n", maps_has("SYSV00001234"));
    if (fork() == 0) {
        shm_stat(id);
        strcpy(p + 100, "child wrote this");
        shmdt(p);
        shm_stat(id);
        _exit(0);
    }
    wait_child("fork");
    printf("parent reads: %s / %s\n", p, p + 100);
    shm_stat(id);
    char *q = shmat(id, NULL, SHM_RDONLY);
    printf("second attach shares: %d\n", q != p && strcmp(q, p) == 0);
    shm_stat(id);
    if (fork() == 0) { q[0] = 'x'; _exit(0); }
    wait_child("write to SHM_RDONLY");
    SHOW("shmdt q", shmdt(q));
    SHOW("shmdt q again", shmdt(q));
    SHOW("shmdt unaligned", shmdt(p + 1));
    SHOW("shmdt p", shmdt(p));
    shm_stat(id);
    p = shmat(id, NULL, 0);
    printf("contents persist: %s\n", p);
    /* fixed addresses */
    char *area = mmap(NULL, 8 * 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    SHOW("at busy addr", (long)shmat(id, area, 0) == -1 ? -1 : 0);
    char *r = shmat(id, area + 4096 + 10, SHM_RND | SHM_REMAP);
    printf("SHM_RND|SHM_REMAP rounds: %d reads: %s\n", r == area + 4096, r == (void *)-1 ? "" : r);
    SHOW("unaligned no RND", (long)shmat(id, area + 10, 0) == -1 ? -1 : 0);
    SHOW("SHM_REMAP without addr", (long)shmat(id, NULL, SHM_REMAP) == -1 ? -1 : 0);
    SHOW("bad id", (long)shmat(12345, NULL, 0) == -1 ? -1 : 0);
    shm_stat(id);
    shmdt(r);
    /* IPC_SET, permissions */
    struct shmid_ds ds;
    shmctl(id, IPC_STAT, &ds);
    ds.shm_perm.mode = 0600;
    SHOW("IPC_SET", shmctl(id, IPC_SET, &ds));
    shm_stat(id);
    if (fork() == 0) {
        as_nobody();
        SHOW("nobody shmget", shmget(0x1234, 0, 0));
        SHOW("nobody shmat", (long)shmat(id, NULL, 0) == -1 ? -1 : 0);
        SHOW("nobody IPC_STAT", shmctl(id, IPC_STAT, &ds));
        SHOW("nobody SHM_STAT_ANY", shmctl(id % 32768, SHM_STAT_ANY, &ds) == id);
        SHOW("nobody IPC_RMID", shmctl(id, IPC_RMID, NULL));
        SHOW("nobody SHM_LOCK", shmctl(id, SHM_LOCK, NULL));
        _exit(0);
    }
    wait_child("nobody");
    SHOW("SHM_LOCK", shmctl(id, SHM_LOCK, NULL));
    shm_stat(id);
    SHOW("SHM_UNLOCK", shmctl(id, SHM_UNLOCK, NULL));
    /* info */
    struct shminfo info;
    SHOW("IPC_INFO", shmctl(0, IPC_INFO, (struct shmid_ds *)&info));
    printf("shminfo: max=%lu min=%lu mni=%lu seg=%lu all=%lu\n", info.shmmax, info.shmmin,
           info.shmmni, info.shmseg, info.shmall);
    struct shm_info usage;
    SHOW("SHM_INFO", shmctl(0, SHM_INFO, (struct shmid_ds *)&usage));
    printf("shm_info: used_ids=%d shm_tot=%lu\n", usage.used_ids, usage.shm_tot);
    SHOW("SHM_STAT index 1", shmctl(1, SHM_STAT, &ds));
    SHOW("SHM_STAT index 7", shmctl(7, SHM_STAT, &ds));
    SHOW("bad cmd", shmctl(id, 99, &ds));
    SHOW("bad id", shmctl(id + 1, IPC_STAT, &ds));
    /* removal is deferred until the last detach */
    SHOW("IPC_RMID attached", shmctl(id, IPC_RMID, NULL));
    shm_stat(id);
    SHOW("key gone", shmget(0x1234, 0, 0));
    printf("still usable: %s\n", p);
    SHOW("attach removed", (long)(q = shmat(id, NULL, 0)) == -1 ? -1 : 0);
    shmdt(q);
    SHOW("last shmdt", shmdt(p));
    shm_stat(id);
    SHOW("new after reuse", shmget(IPC_PRIVATE, 4096, 0600));
    SHOW("IPC_RMID 0", shmctl(0, IPC_RMID, NULL));
    SHOW("IPC_RMID 0 again", shmctl(0, IPC_RMID, NULL));
    SHOW("another", shmget(IPC_PRIVATE, 4096, 0600));
    /* exit detaches */
    int id2 = shmget(IPC_PRIVATE, 4096, 0600);
    if (fork() == 0) { shmat(id2, NULL, 0); shmat(id2, NULL, 0); shm_stat(id2); _exit(0); }
    wait_child("exit detaches");
    shm_stat(id2);
}

/* --- semaphores ---------------------------------------------------------- */
static void sem_show(int id, int n) {
    unsigned short v[8];
    union semun arg = {.array = v};
    semctl(id, 0, GETALL, arg);
    printf("values:");
    for (int i = 0; i < n; i++) printf(" %d", v[i]);
    printf("\n");
    fflush(stdout);
}

static void on_alarm(int sig) { (void)sig; }

static int wait_count(int id, int num, int cmd, int want) {
    for (int i = 0; i < 2000; i++) {
        if (semctl(id, num, cmd) == want) return 1;
        usleep(5000);
    }
    return 0;
}

static void test_sem(void) {
    SHOW("too many", semget(IPC_PRIVATE, 32001, 0600));
    SHOW("zero new", semget(0x55, 0, IPC_CREAT | 0600));
    int id = semget(0x55, 3, IPC_CREAT | 0600);
    SHOW("semget", id);
    SHOW("more than set", semget(0x55, 4, 0));
    SHOW("fewer ok", semget(0x55, 2, 0));
    union semun arg;
    arg.val = 5;
    SHOW("SETVAL", semctl(id, 0, SETVAL, arg));
    SHOW("GETVAL", semctl(id, 0, GETVAL));
    SHOW("GETPID self", semctl(id, 0, GETPID) == getpid());
    arg.val = 32768;
    SHOW("SETVAL too big", semctl(id, 0, SETVAL, arg));
    arg.val = 1;
    SHOW("SETVAL bad num", semctl(id, 3, SETVAL, arg));
    unsigned short all[3] = {1, 2, 3};
    arg.array = all;
    SHOW("SETALL", semctl(id, 0, SETALL, arg));
    sem_show(id, 3);
    struct sembuf ops[2] = {{0, 1, 0}, {1, -3, IPC_NOWAIT}};
    SHOW("not atomic -> EAGAIN", semop(id, ops, 2));
    sem_show(id, 3);
    ops[1].sem_op = -2;
    SHOW("both", semop(id, ops, 2));
    sem_show(id, 3);
    struct sembuf zero = {1, 0, IPC_NOWAIT};
    SHOW("wait for zero now", semop(id, &zero, 1));
    SHOW("nsops 0", semop(id, ops, 0));
    static struct sembuf many[501];
    SHOW("E2BIG", semop(id, many, 501));
    struct sembuf bad = {7, 1, 0};
    SHOW("EFBIG", semop(id, &bad, 1));
    struct sembuf big = {2, 32767, 0};
    SHOW("ERANGE", semop(id, &big, 1));
    SHOW("bad id", semop(id + 1, &zero, 1));
    struct sembuf dec = {1, -1, 0};
    struct timespec ts = {0, 50 * 1000 * 1000};
    SHOW("semtimedop timeout", semtimedop(id, &dec, 1, &ts));
    ts.tv_nsec = 2000000000;
    SHOW("semtimedop bad timeout", semtimedop(id, &dec, 1, &ts));
    /* a sleeper, counted by GETNCNT, woken by a post */
    if (fork() == 0) {
        SHOW("child semop -1 (blocks)", semop(id, &dec, 1));
        _exit(0);
    }
    printf("ncnt seen: %d\n", wait_count(id, 1, GETNCNT, 1));
    SHOW("GETZCNT", semctl(id, 1, GETZCNT));
    struct sembuf inc = {1, 1, 0};
    semop(id, &inc, 1);
    wait_child("post");
    SHOW("GETNCNT after", semctl(id, 1, GETNCNT));
    /* wait for zero */
    if (fork() == 0) {
        struct sembuf z = {2, 0, 0};
        SHOW("child waits for zero", semop(id, &z, 1));
        _exit(0);
    }
    printf("zcnt seen: %d\n", wait_count(id, 2, GETZCNT, 1));
    arg.val = 0;
    semctl(id, 2, SETVAL, arg);
    wait_child("zero");
    /* SEM_UNDO */
    arg.val = 3;
    semctl(id, 1, SETVAL, arg);
    if (fork() == 0) {
        struct sembuf u[2] = {{1, -2, SEM_UNDO}, {2, 4, SEM_UNDO}};
        SHOW("child undoable ops", semop(id, u, 2));
        sem_show(id, 3);
        _exit(0);
    }
    wait_child("undo");
    sem_show(id, 3);
    SHOW("GETPID is child", semctl(id, 1, GETPID) != getpid());
    if (fork() == 0) {
        struct sembuf u = {0, 2, SEM_UNDO};
        semop(id, &u, 1);
        union semun a = {.val = 10};
        semctl(id, 0, SETVAL, a);       /* clears the adjustment */
        _exit(0);
    }
    wait_child("SETVAL clears undo");
    SHOW("GETVAL 0", semctl(id, 0, GETVAL));
    /* EINTR, never restarted */
    if (fork() == 0) {
        struct sigaction sa = {.sa_handler = on_alarm, .sa_flags = SA_RESTART};
        sigaction(SIGALRM, &sa, NULL);
        struct itimerval it = {{0, 100000}, {0, 100000}};   /* repeats: the call may start late */
        setitimer(ITIMER_REAL, &it, NULL);
        struct sembuf d = {1, -100, 0};
        SHOW("interrupted semop", semop(id, &d, 1));
        _exit(0);
    }
    wait_child("eintr");
    /* IPC_STAT, IPC_SET */
    struct semid_ds ds;
    arg.buf = &ds;
    SHOW("IPC_STAT", semctl(id, 0, IPC_STAT, arg));
    printf("sem stat: key=%#x mode=%o nsems=%lu otime=%d ctime=%d\n", ds.sem_perm.__key,
           ds.sem_perm.mode, ds.sem_nsems, ds.sem_otime != 0, ds.sem_ctime != 0);
    ds.sem_perm.mode = 0644;
    SHOW("IPC_SET", semctl(id, 0, IPC_SET, arg));
    SHOW("IPC_STAT", semctl(id, 0, IPC_STAT, arg));
    printf("mode now %o\n", ds.sem_perm.mode);
    if (fork() == 0) {
        as_nobody();
        SHOW("nobody GETVAL", semctl(id, 0, GETVAL));
        struct sembuf d = {0, -1, IPC_NOWAIT};
        SHOW("nobody alter", semop(id, &d, 1));
        SHOW("nobody RMID", semctl(id, 0, IPC_RMID));
        _exit(0);
    }
    wait_child("nobody");
    struct seminfo si;
    arg.__buf = &si;
    SHOW("IPC_INFO", semctl(0, 0, IPC_INFO, arg));
    printf("seminfo: map=%d mni=%d mns=%d mnu=%d msl=%d opm=%d ume=%d usz=%d vmx=%d aem=%d\n",
           si.semmap, si.semmni, si.semmns, si.semmnu, si.semmsl, si.semopm, si.semume,
           si.semusz, si.semvmx, si.semaem);
    SHOW("SEM_INFO", semctl(0, 0, SEM_INFO, arg));
    printf("sem_info: usz=%d aem=%d\n", si.semusz, si.semaem);
    arg.buf = &ds;
    SHOW("SEM_STAT 0", semctl(0, 0, SEM_STAT, arg));
    SHOW("bad cmd", semctl(id, 0, 99));
    /* removal wakes sleepers with EIDRM */
    if (fork() == 0) {
        struct sembuf d = {1, -100, 0};
        SHOW("child sleeps until removal", semop(id, &d, 1));
        _exit(0);
    }
    wait_count(id, 1, GETNCNT, 1);
    long rmid = semctl(id, 0, IPC_RMID);
    wait_child("eidrm");
    SHOW("IPC_RMID", rmid);
    SHOW("GETVAL removed", semctl(id, 0, GETVAL));
    SHOW("new set", semget(IPC_PRIVATE, 1, 0600));
}

/* --- message queues --------------------------------------------------------- */
struct msg { long mtype; char text[64]; };

static const char *rcv_text(int id, size_t size, long type, int flags) {
    static char out[160];
    struct msg m = {0};
    errno = 0;
    long n = msgrcv(id, &m, size, type, flags);
    if (n < 0) snprintf(out, sizeof out, "msgrcv(%ld) = -1 %s\n", type, strerrorname_np(errno));
    else snprintf(out, sizeof out, "msgrcv(%ld) = %ld type=%ld text=%.*s\n", type, n, m.mtype,
                  (int)n, m.text);
    return out;
}

static void rcv(int id, size_t size, long type, int flags) {
    fputs(rcv_text(id, size, type, flags), stdout);
    fflush(stdout);
}

static void snd(int id, long type, const char *text, int flags) {
    struct msg m = {type, ""};
    strcpy(m.text, text);
    SHOW("msgsnd", msgsnd(id, &m, strlen(text), flags));
}

static void msq_stat(int id) {
    struct msqid_ds ds;
    if (msgctl(id, IPC_STAT, &ds) < 0) { printf("IPC_STAT %s\n", strerrorname_np(errno)); return; }
    printf("msq: mode=%o qnum=%lu cbytes=%lu qbytes=%lu lspid_self=%d lrpid_self=%d stime=%d rtime=%d\n",
           ds.msg_perm.mode, ds.msg_qnum, ds.__msg_cbytes, ds.msg_qbytes,
           ds.msg_lspid == getpid(), ds.msg_lrpid == getpid(), ds.msg_stime != 0,
           ds.msg_rtime != 0);
}

static void test_msg(void) {
    int id = msgget(0x77, IPC_CREAT | 0600);
    SHOW("msgget", id);
    SHOW("msgget again", msgget(0x77, 0));
    msq_stat(id);
    snd(id, 3, "three", 0);
    snd(id, 1, "one-a", 0);
    snd(id, 2, "two", 0);
    snd(id, 1, "one-b", 0);
    snd(id, 5, "five", 0);
    msq_stat(id);
    rcv(id, 64, 0, 0);
    rcv(id, 64, 1, 0);
    rcv(id, 64, -2, 0);
    rcv(id, 64, 2, MSG_EXCEPT);
    rcv(id, 3, 0, IPC_NOWAIT);
    rcv(id, 3, 0, IPC_NOWAIT | MSG_NOERROR);
    rcv(id, 64, 0, IPC_NOWAIT);
    rcv(id, 64, 7, IPC_NOWAIT);
    struct msg m = {0, "x"};
    SHOW("mtype 0", msgsnd(id, &m, 1, 0));
    SHOW("too long", msgsnd(id, &m, 8193, 0));
    SHOW("bad id", msgsnd(id + 1, &m, 1, 0));
    /* a full queue */
    struct msqid_ds ds;
    msgctl(id, IPC_STAT, &ds);
    ds.msg_qbytes = 100;
    SHOW("IPC_SET qbytes 100", msgctl(id, IPC_SET, &ds));
    static struct { long mtype; char text[60]; } big = {9, ""};
    SHOW("60 bytes", msgsnd(id, &big, 60, 0));
    SHOW("60 more, nowait", msgsnd(id, &big, 60, IPC_NOWAIT));
    msq_stat(id);
    if (fork() == 0) {
        child_ready();
        SHOW("child send blocks", msgsnd(id, &big, 60, 0));
        _exit(0);
    }
    await_child();
    const char *got = rcv_text(id, 64, 9, 0);   /* printed once the child is done */
    wait_child("sender");
    fputs(got, stdout);
    msq_stat(id);
    rcv(id, 64, 9, 0);
    /* a receiver waits */
    if (fork() == 0) {
        child_ready();
        rcv(id, 64, 4, 0);
        _exit(0);
    }
    await_child();
    struct msg four = {4, "for the child"};
    long sent = msgsnd(id, &four, 13, 0);
    wait_child("receiver");
    SHOW("msgsnd to the waiting child", sent);
    /* EINTR */
    if (fork() == 0) {
        struct sigaction sa = {.sa_handler = on_alarm, .sa_flags = SA_RESTART};
        sigaction(SIGALRM, &sa, NULL);
        struct itimerval it = {{0, 100000}, {0, 100000}};   /* repeats: the call may start late */
        setitimer(ITIMER_REAL, &it, NULL);
        rcv(id, 64, 0, 0);
        _exit(0);
    }
    wait_child("eintr");
    if (fork() == 0) {
        as_nobody();
        SHOW("nobody msgget", msgget(0x77, 0));
        snd(id, 1, "x", IPC_NOWAIT);
        rcv(id, 64, 0, IPC_NOWAIT);
        SHOW("nobody RMID", msgctl(id, IPC_RMID, NULL));
        _exit(0);
    }
    wait_child("nobody");
    struct msginfo mi;
    SHOW("IPC_INFO", msgctl(0, IPC_INFO, (struct msqid_ds *)&mi));
    printf("msginfo: pool=%d map=%d max=%d mnb=%d mni=%d ssz=%d tql=%d seg=%d\n", mi.msgpool,
           mi.msgmap, mi.msgmax, mi.msgmnb, mi.msgmni, mi.msgssz, mi.msgtql, mi.msgseg);
    snd(id, 1, "abc", 0);
    snd(id, 2, "de", 0);
    SHOW("MSG_INFO", msgctl(0, MSG_INFO, (struct msqid_ds *)&mi));
    printf("msg_info: pool=%d map=%d tql=%d\n", mi.msgpool, mi.msgmap, mi.msgtql);
    SHOW("MSG_STAT 0", msgctl(0, MSG_STAT, &ds));
    rcv(id, 64, 1, IPC_NOWAIT | MSG_COPY);
    rcv(id, 64, 1, MSG_COPY);
    msq_stat(id);
    if (fork() == 0) {
        child_ready();
        rcv(id, 64, 99, 0);
        _exit(0);
    }
    await_child();
    long rmid = msgctl(id, IPC_RMID, NULL);
    wait_child("eidrm");
    SHOW("IPC_RMID", rmid);
    SHOW("stat removed", msgctl(id, IPC_STAT, &ds));
    SHOW("private", msgget(IPC_PRIVATE, 0600));
}

/* --- /proc/sysvipc and the IPC sysctls ------------------------------------- */
static void cat_columns(const char *path, int ncols, const int *cols, int pid_col) {
    FILE *f = fopen(path, "r");
    char line[512];
    int first = 1;
    while (fgets(line, sizeof line, f)) {
        if (first) { printf("%s: header %zu chars\n", path, strlen(line)); first = 0; continue; }
        long v[20] = {0};
        int n = 0;
        for (char *tok = strtok(line, " \n"); tok && n < 20; tok = strtok(NULL, " \n"))
            v[n++] = strtol(tok, NULL, 10);
        printf(" ");
        for (int i = 0; i < ncols; i++) printf(" %ld", v[cols[i]]);
        if (pid_col >= 0) printf(" pid_self=%d", v[pid_col] == getpid());
        printf(" columns=%d\n", n);
    }
    fclose(f);
}

static void test_proc(void) {
    const char *names[] = {"shmmax", "shmall", "shmmni", "sem", "msgmax", "msgmnb", "msgmni"};
    for (unsigned i = 0; i < sizeof names / sizeof *names; i++) {
        char path[64], buf[128];
        snprintf(path, sizeof path, "/proc/sys/kernel/%s", names[i]);
        FILE *f = fopen(path, "r");
        if (!f || !fgets(buf, sizeof buf, f)) { printf("%s missing\n", path); continue; }
        printf("%s: %s", names[i], buf);
        fclose(f);
    }
    int s = shmget(0x42, 5000, IPC_CREAT | 0640);
    char *p = shmat(s, NULL, 0);
    p[0] = 1;
    shmget(IPC_PRIVATE, 100, 0600);
    semget(0x43, 2, IPC_CREAT | 0600);
    int m = msgget(0x44, IPC_CREAT | 0666);
    struct { long t; char x[5]; } mm = {1, "hello"};
    msgsnd(m, &mm, 5, 0);
    /* Not rss (column 14): the sandbox populates small mappings at once. */
    int shm_cols[] = {0, 1, 2, 3, 6, 7, 8, 9, 10, 12, 15}, sem_cols[] = {0, 1, 2, 3, 4, 5, 6, 7, 8};
    int msg_cols[] = {0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 12};
    cat_columns("/proc/sysvipc/shm", 11, shm_cols, 4);
    cat_columns("/proc/sysvipc/sem", 9, sem_cols, -1);
    cat_columns("/proc/sysvipc/msg", 11, msg_cols, 5);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2 || pipe(handshake)) return 2;
    if (!strcmp(argv[1], "shm")) test_shm();
    else if (!strcmp(argv[1], "sem")) test_sem();
    else if (!strcmp(argv[1], "msg")) test_msg();
    else if (!strcmp(argv[1], "proc")) test_proc();
    else return 2;
    return 0;
}
