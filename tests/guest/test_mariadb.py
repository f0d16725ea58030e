"""MariaDB as a user runs it: mariadb-install-db into a volume, mariadbd in
the sandbox (--network=host, --host-uds=create so its Unix socket on the
volume is a host socket), the mariadb client from the host over TCP and
over that socket, a client in a second sandbox (--host-uds=open) over the
same socket, and SIGTERM for a clean shutdown."""
import signal
import subprocess
import time

from test_servers import ENV, START_TIMEOUT, TIMEOUT, free_port, kvmsentry, require, stop


def mariadb(*args, sandboxed_volume=None):
    argv = ["/usr/bin/mariadb", "--no-defaults", "-uroot", *args]
    if sandboxed_volume:
        argv = kvmsentry("--network=none", "--host-uds=open", "-v",
                         "%s:/db" % sandboxed_volume, "--", *argv)
    return subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, env=ENV)


def test_mariadb_tcp_and_unix_socket(tmp_path):
    require("mariadbd", "mariadb", "mariadb-install-db")
    db = tmp_path / "db"
    db.mkdir()
    install = subprocess.run(kvmsentry("-v", "%s:/db" % db, "--", "/usr/bin/mariadb-install-db",
                                       "--no-defaults", "--datadir=/db/data", "--user=root",
                                       "--auth-root-authentication-method=normal",
                                       "--skip-test-db"),
                             capture_output=True, text=True, timeout=TIMEOUT, env=ENV)
    assert install.returncode == 0, install.stdout[-2000:] + install.stderr[-2000:]
    assert (db / "data" / "mysql" / "global_priv.frm").exists()

    port = free_port()
    proc = subprocess.Popen(kvmsentry("--network=host", "--host-uds=create", "-v", "%s:/db" % db,
                                      "--", "/usr/sbin/mariadbd", "--no-defaults",
                                      "--datadir=/db/data", "--socket=/db/mysqld.sock",
                                      "--port=%d" % port, "--bind-address=127.0.0.1",
                                      "--user=root", "--pid-file=/db/mariadbd.pid"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    tcp = ("-h127.0.0.1", "-P%d" % port)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while mariadb(*tcp, "-e", "select 1").returncode != 0:
            assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
            assert time.monotonic() < deadline, "mariadbd did not answer on %d" % port
            time.sleep(0.3)
        made = mariadb(*tcp, "-e", "create database shop; "
                       "create table shop.items (id int primary key, name varchar(20)) "
                       "engine=InnoDB; insert into shop.items values (1, 'apple'), (2, 'pear'); "
                       "select id, name from shop.items order by id")
        assert (made.returncode, made.stdout) == (0, "id\tname\n1\tapple\n2\tpear\n"), made.stderr
        host_uds = mariadb("-S%s" % (db / "mysqld.sock"), "-e",
                           "insert into shop.items values (3, 'plum'); "
                           "select count(*) from shop.items; select @@socket, @@port")
        assert host_uds.returncode == 0, host_uds.stderr
        assert host_uds.stdout == "count(*)\n3\n@@socket\t@@port\n/db/mysqld.sock\t%d\n" % port
        inside = mariadb("-S/db/mysqld.sock", "-N", "-e",
                         "select group_concat(name order by id) from shop.items",
                         sandboxed_volume=db)
        assert (inside.returncode, inside.stdout) == (0, "apple,pear,plum\n"), inside.stderr
    finally:
        status = stop(proc)
    log = proc.stderr.read().decode()
    assert status == 0, log[-3000:]
    assert "ready for connections" in log and "Shutdown complete" in log, log[-3000:]
    assert not (db / "mariadbd.pid").exists()           # removed by a clean shutdown
