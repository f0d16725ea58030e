"""/proc/sysvipc/{shm,sem,msg}: the namespace's objects in Linux's
columns (ipc/shm.c, sem.c, msg.c sysvipc_*_proc_show)."""

SHM_HEADER = ("       key      shmid perms                  size  cpid  lpid nattch   uid   gid"
              "  cuid  cgid      atime      dtime      ctime                   rss"
              "                  swap\n")
SEM_HEADER = ("       key      semid perms      nsems   uid   gid  cuid  cgid      otime"
              "      ctime\n")
MSG_HEADER = ("       key      msqid perms      cbytes       qnum lspid lrpid   uid   gid  cuid"
              "  cgid      stime      rtime      ctime\n")


def _owners(p):
    return (p.uid, p.gid, p.cuid, p.cgid)


def shm(kernel):
    reg = kernel.ipc.shm
    reg.reap()
    out = [SHM_HEADER]
    for seg in reg.ids.objects():
        p = seg.perm
        out.append("%10d %10d  %4o %21d %5d %5d  %5d %5d %5d %5d %5d %10d %10d %10d %21d %21d\n"
                   % ((p.key, p.id, p.mode, seg.size, seg.cpid, seg.lpid, seg.nattch)
                      + _owners(p) + (seg.atime, seg.dtime, seg.ctime,
                                      reg.resident_bytes(seg), 0)))
    return "".join(out).encode()


def sem(kernel):
    out = [SEM_HEADER]
    for s in kernel.ipc.sem.ids.objects():
        p = s.perm
        out.append("%10d %10d  %4o %10d %5d %5d %5d %5d %10d %10d\n"
                   % ((p.key, p.id, p.mode, s.nsems) + _owners(p) + (s.otime, s.ctime)))
    return "".join(out).encode()


def msg(kernel):
    out = [MSG_HEADER]
    for q in kernel.ipc.msg.ids.objects():
        p = q.perm
        out.append("%10d %10d  %4o  %10d %10d %5d %5d %5d %5d %5d %5d %10d %10d %10d\n"
                   % ((p.key, p.id, p.mode, q.cbytes, len(q.messages), q.lspid, q.lrpid)
                      + _owners(p) + (q.stime, q.rtime, q.ctime)))
    return "".join(out).encode()
