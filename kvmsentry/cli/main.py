"""The `kvmsentry` command, shaped like runsc.

    kvmsentry do [--strace] [--debug-log FILE] -- PROGRAM [ARGS...]
    kvmsentry syscalls
    kvmsentry machine
"""
import errno
import gc
import os
import sys

from kvmsentry.cli import do_args
from kvmsentry.errors import KvmUnavailable

EXIT_NOT_FOUND = 127
EXIT_NOT_EXECUTABLE = 126
EXIT_RUNTIME_ERROR = 125
EXIT_SENTRY_BUG = 134         # 128 + SIGABRT: the sandbox was killed


def _parser(with_oci=True):
    import argparse
    p = argparse.ArgumentParser(prog="kvmsentry", description=(
        "Run untrusted Linux x86-64 programs behind an application kernel "
        "written in Python, in a KVM guest."))
    p.add_argument("--platform", default=None, type=_platform,
                   help="the platform that runs guest code (known: %s; default: "
                        "$KVMSENTRY_PLATFORM, else auto: kvm on VMX/SVM, systrap on "
                        "kvm_pvm or without /dev/kvm)" % ", ".join(PLATFORMS))
    p.add_argument("--debug-log", metavar="FILE",
                   help="write sentry debug information to FILE (ending in /: a "
                        "directory, one file per command)")
    p.add_argument("--strace", action="store_true",
                   help="print every syscall, strace-style, on stderr")
    p.add_argument("--root", dest="state_root", default=None, metavar="DIR",
                   help="state directory of the OCI runtime (default /run/kvmsentry)")
    p.add_argument("--log", metavar="FILE", help="runtime log (runc's --log)")
    p.add_argument("--log-format", default="text", choices=["text", "json"])
    p.add_argument("--debug", action="store_true", help="debug lines in --log")
    p.add_argument("--systemd-cgroup", action="store_true",
                   help="accepted for compatibility with runc; ignored")
    p.add_argument("--memory", type=int, default=4096, metavar="MIB",
                   help="guest physical memory pool in MiB (default 4096)")
    p.add_argument("--network", dest="oci_network", default="sandbox",
                   choices=["sandbox", "host", "none"],
                   help="the OCI containers' network (as `do --network`; default sandbox)")
    p.add_argument("--unsafe-no-confine", action="store_true",
                   help="run the sentry without seccomp, namespaces and pivot_root "
                        "(debugging only; never the default)")
    sub = p.add_subparsers(dest="command", required=True)
    do = sub.add_parser("do", help="run a program in a new sandbox, like `runsc do`")
    do.add_argument("--strace", action="store_true", default=argparse.SUPPRESS,
                    help="print every syscall, strace-style, on stderr")
    do.add_argument("--debug-log", metavar="FILE", default=argparse.SUPPRESS)
    do.add_argument("--platform", default=argparse.SUPPRESS, type=_platform,
                    help="kvm, systrap or auto (default: $KVMSENTRY_PLATFORM, else auto)")
    do.add_argument("--no-patch-syscalls", action="store_true",
                    help="never rewrite syscall sites (every call takes the slow path)")
    do.add_argument("--memory", type=int, default=argparse.SUPPRESS, metavar="MIB",
                    help="guest physical memory pool in MiB (default 4096)")
    do.add_argument("--max-vcpus", type=int, default=None, metavar="N",
                    help="vCPUs the sandbox's threads share (default: a few per "
                         "host core, at most what KVM allows)")
    do.add_argument("--tmpfs-size", type=int, default=None, metavar="MIB",
                    help="size limit of the in-memory storage (the root overlay's "
                         "writes, and with them memfds, /dev/shm and the guest's tmpfs "
                         "mounts) in MiB; past it writes fail with ENOSPC "
                         "(default: the smaller of half the host's RAM and --memory)")
    do.add_argument("--root", default="/", metavar="DIR",
                    help="host directory to use as the sandbox's root, read-only "
                         "beneath an in-memory overlay (default: /)")
    do.add_argument("--volume", "-v", action="append", default=[], metavar="SRC:DST[:ro]",
                    help="mount host directory SRC at DST, read-write unless :ro")
    do.add_argument("--unsafe-no-confine", action="store_true", default=argparse.SUPPRESS,
                    help="DEBUGGING ONLY: run the sentry unconfined (no namespaces, "
                         "pivot_root, capability drop or seccomp filter)")
    do.add_argument("--confinement-probe", action="store_true", help=argparse.SUPPRESS)
    do.add_argument("--network", default="sandbox", choices=["sandbox", "host", "none"],
                    help="sandbox: a network namespace of its own with NAT egress through "
                         "slirp4netns (default); none: only loopback; host: the host's")
    do.add_argument("--publish", "-p", action="append", default=[],
                    metavar="[ADDR:]HOST:SANDBOX[/tcp|udp]",
                    help="forward a host port to a port in the sandbox (--network=sandbox)")
    do.add_argument("--host-uds", default="none", choices=["none", "open", "create", "all"],
                    help="Unix sockets on volumes: connect to host listeners (open), "
                         "bind as host sockets (create), both (all); default none")
    do.add_argument("argv", nargs=argparse.REMAINDER,
                    help="-- PROGRAM [ARGS...]")
    sub.add_parser("syscalls", help="print the syscall compatibility report")
    sub.add_parser("platforms", help="the platforms this host offers, one syscall's "
                                     "measured cost on each, and what auto picks")
    sub.add_parser("machine", help="self-test a vCPU on this host's KVM and print "
                                   "what it found (how SYSCALL enters the stub...)")
    if with_oci:
        from kvmsentry.cli import oci
        oci.add_commands(sub)
    return p


# Top-level options that take a value (as separate word), for _command().
_VALUE_OPTIONS = ("--platform", "--debug-log", "--root", "--log", "--log-format",
                  "--memory", "--network")
_OWN_COMMANDS = ("do", "syscalls", "machine", "platforms")


def _command(argv):
    """The command word of argv, found without a parser (None if unclear):
    `do` starts faster without the OCI runtime's parser and modules."""
    words = iter(argv)
    for word in words:
        if word == "--":
            return None
        if word.startswith("-"):
            if word in _VALUE_OPTIONS:
                next(words, None)
            continue
        return word
    return None


PLATFORMS = ("kvm", "systrap", "auto")       # as platform/choice.py


def _platform(name):
    if name not in PLATFORMS:
        import argparse
        raise argparse.ArgumentTypeError("unknown platform %r (known platforms: %s)"
                                         % (name, ", ".join(PLATFORMS)))
    return name


def caller_environment():
    """The environment `kvmsentry` was started with. Python's own start-up
    may add to os.environ (PEP 538 sets LC_CTYPE under the C locale); the
    sandbox must see exactly what the caller passed, which is what
    /proc/self/environ still holds."""
    try:
        with open("/proc/self/environ", "rb") as f:
            return [e for e in f.read().split(b"\0") if e]
    except OSError:
        return [b"%s=%s" % (k, v) for k, v in os.environb.items()]


def _error(message, code):
    sys.stderr.write("kvmsentry: %s\n" % message)
    return code


def cmd_do(args):
    from kvmsentry.cli.terminal import terminal_modes_restored
    with terminal_modes_restored():
        return _do(args)


def _do(args):
    argv = args.argv
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        return _error("do: no program given (usage: kvmsentry do -- PROGRAM [ARGS...])", 2)
    # Only what comes before the sentry's fork is imported here: the
    # sentry imports the rest itself, rather than copying on write every
    # page of a heap its waiting parent imported it into.
    from kvmsentry.net import netns
    from kvmsentry.sandbox.confine import Confinement
    from kvmsentry.sandbox.namespaces import ConfinementError

    if not os.path.isdir(args.root):
        return _error("--root %s: not a directory" % args.root, EXIT_RUNTIME_ERROR)
    env = caller_environment()
    try:
        # Before any thread starts; slirp4netns comes up while the sentry
        # builds the machine (waited for before the program's start).
        network = netns.enter(args.network, args.publish, wait=False)
    except netns.NetworkError as e:
        return _error(str(e), EXIT_RUNTIME_ERROR)
    confinement = None
    if not args.unsafe_no_confine:
        # The OCI front end (and `platforms`) is never imported by `do`,
        # before or after.
        from kvmsentry.sandbox.preload import FRONT_ENDS
        confinement = Confinement(skip_modules=FRONT_ENDS)
        try:
            confinement.enter()
        except ConfinementError as e:
            network.close()
            return _error("confining the sentry: %s (--unsafe-no-confine runs it "
                          "unconfined, for debugging only)" % e, EXIT_RUNTIME_ERROR)
    from kvmsentry.kernel.kernel import Kernel
    from kvmsentry.kernel.rootfs import Volume, build_mounts
    from kvmsentry.kernel.task import Task
    from kvmsentry.loader.load import ExecError
    from kvmsentry.platform import choice
    from kvmsentry.sandbox.seccomp import SeccompError
    try:
        volumes = [Volume.parse(v) for v in args.volume]
    except ValueError as e:
        network.close()
        return _error(str(e), EXIT_RUNTIME_ERROR)
    debug_log = open(args.debug_log, "a") if getattr(args, "debug_log", None) else None
    try:
        # KVM's last steps overlap the start-up below (joined by
        # machine.ready(), before the first per-thread confinement step).
        platform = choice.resolve(choice.requested(args.platform))
        machine = choice.make_machine(platform, args.memory << 20, args.max_vcpus,
                                      background=True)
    except KvmUnavailable as e:
        network.close()
        return _error(str(e), EXIT_RUNTIME_ERROR)
    try:
        tty = 0 if os.isatty(0) else None
        mounts = build_mounts(args.root, volumes, tty_host_fd=tty,
                              tmpfs_size=_tmpfs_size(args))
        network.configure_files(mounts)
        kernel = Kernel(machine, mounts, strace=getattr(args, "strace", False),
                        debug_log=debug_log,
                        patch_syscalls=not args.no_patch_syscalls)
        kernel.host_uds = args.host_uds
        probe = None
        if args.confinement_probe:
            from kvmsentry.sandbox.probe import Probe
            probe = Probe()
            probe.before()
        try:
            if confinement is None:
                kernel.debug("confinement: OFF (--unsafe-no-confine)")
                network.wait_ready()
                machine.ready()
            else:
                confinement.debug = kernel.debug
                confinement.describe_filter = debug_log is not None
                confinement.kvm = platform == "kvm"
                confinement.before_pivot += [network.wait_ready, machine.ready]
                try:
                    confinement.lock_down(debug_log.fileno() if debug_log else 2)
                except (ConfinementError, SeccompError, OSError) as e:
                    return _error("confining the sentry: %s" % e, EXIT_RUNTIME_ERROR)
        except netns.NetworkError as e:
            return _error(str(e), EXIT_RUNTIME_ERROR)
        if probe:
            probe.after()
        guest_argv = [os.fsencode(a) for a in argv]
        _collect_from_now_on()
        status = kernel.run(guest_argv, env)
        machine.check_integrity()
    except ExecError as e:
        code = EXIT_NOT_FOUND if e.errno == errno.ENOENT else EXIT_NOT_EXECUTABLE
        return _error(str(e), code)
    except KeyboardInterrupt:
        return 128 + 2
    except KvmUnavailable as e:                # from machine.ready()
        return _error(str(e), EXIT_RUNTIME_ERROR)
    except Exception as e:                     # a sentry bug: kill, report
        # Other tasks may still be in KVM_RUN: unmapping the machine under
        # them would turn the report into a SIGSEGV of the whole process.
        # Exiting frees it all.
        machine = None
        try:
            sys.stderr.write("kvmsentry: internal error, sandbox killed: %s: %s\n"
                             % (type(e).__name__, e))
            import traceback
            traceback.print_exc(file=debug_log or sys.stderr)
        except (OSError, ValueError):
            pass
        return EXIT_SENTRY_BUG
    finally:
        try:
            if machine is not None:
                machine.close()
        except (OSError, BufferError):
            pass          # tasks killed mid-run still hold vCPU mappings; exiting frees all
        if debug_log:
            debug_log.close()
        network.close()
    return Task.exit_code(status)


def _tmpfs_size(args):
    """Bytes the sandbox may keep in its in-memory filesystems."""
    if args.tmpfs_size is not None:
        return args.tmpfs_size << 20
    try:
        half_ram = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2
    except (ValueError, OSError):
        half_ram = 4 << 30
    return min(half_ram, args.memory << 20)


def cmd_syscalls(args):
    from kvmsentry.syscalls.table import report
    print(report())
    return 0


def cmd_platforms(args):
    from kvmsentry.platform import report
    return report.main()


def cmd_machine(args):
    from kvmsentry.platform.kvm.machine import Machine
    try:
        machine = Machine(pool_bytes=64 << 20)
    except KvmUnavailable as e:
        return _error(str(e), EXIT_RUNTIME_ERROR)
    try:
        machine.new_vcpu()
        for key, value in machine.facts():
            print("%-10s %s" % (key + ":", value))
    finally:
        machine.close()
    return 0


def _collect_from_now_on():
    """Start-up creates hundreds of thousands of objects (the modules) and
    frees few: the cycle collector, off until here, would walk them again
    and again for nothing. They are frozen out of its way for good."""
    gc.freeze()
    gc.enable()


def _exit_now(code):
    """End `kvmsentry do` with `code` without Python's own teardown (joining
    threads, emptying every module, freeing the run's objects one by one):
    the kernel frees all of it at once. Files were closed by then; only
    stdio may hold buffered output."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    os._exit(code)


def main(argv=None):
    """The command line; `do` started as a program (argv None) exits from
    here, called with argv (tests, tools) it returns the status."""
    as_program = argv is None
    argv = sys.argv[1:] if argv is None else argv
    if _command(argv) == "do":
        gc.disable()          # until the program starts (_collect_from_now_on)
        # Every later import from one file read now (sandbox/code_cache.py).
        from kvmsentry.sandbox import code_cache
        code_cache.install()
        try:
            args = do_args.read(argv) or _parser(with_oci=False).parse_args(argv)
            code = cmd_do(args)
        finally:
            gc.enable()
        if as_program and isinstance(code, int):
            _exit_now(code)
        return code
    args = _parser(with_oci=_command(argv) not in _OWN_COMMANDS).parse_args(argv)
    if args.command == "machine":
        return cmd_machine(args)
    if args.command == "platforms":
        return cmd_platforms(args)
    if args.command not in _OWN_COMMANDS:
        from kvmsentry.cli import oci
        return oci.dispatch(args)
    return cmd_syscalls(args)
