"""Run by the sandbox's python3 for the --network tests.

    net_probe.py serve PORT...      listen on 0.0.0.0:PORT (each), greet every
                                    client, print "listening", stop at stdin EOF
    net_probe.py connect HOST PORT  print "connected: <greeting>" or the errno name
"""
import errno
import selectors
import socket
import sys


def serve(ports):
    sel = selectors.DefaultSelector()
    for port in ports:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", port))
        s.listen(8)
        sel.register(s, selectors.EVENT_READ)
    sel.register(sys.stdin, selectors.EVENT_READ)
    print("listening", flush=True)
    while True:
        for key, _ in sel.select():
            if key.fileobj is sys.stdin:
                if not sys.stdin.readline():
                    return
                continue
            conn, _ = key.fileobj.accept()
            conn.sendall(b"hello from port %d\n" % key.fileobj.getsockname()[1])
            conn.close()


def connect(host, port):
    try:
        with socket.create_connection((host, port), timeout=5) as s:
            print("connected:", s.recv(100).decode().strip(), flush=True)
    except OSError as e:
        print(errno.errorcode.get(e.errno, str(e)), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve([int(p) for p in sys.argv[2:]])
    else:
        connect(sys.argv[2], int(sys.argv[3]))
