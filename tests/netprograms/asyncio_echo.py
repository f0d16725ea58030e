"""An asyncio TCP echo server and a client in a second process (run by the
sandbox's python3): the server's port goes to the client on its argv."""
import asyncio
import subprocess
import sys


async def handle(reader, writer):
    while data := await reader.readline():
        writer.write(data.upper())
        await writer.drain()
    writer.close()


async def client(port):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for word in ("alpha", "beta", "gamma"):
        writer.write(word.encode() + b"\n")
        await writer.drain()
        print("client got", (await reader.readline()).decode().strip(), flush=True)
    writer.close()
    await writer.wait_closed()


async def server():
    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    proc = await asyncio.create_subprocess_exec(sys.executable, __file__, "client", str(port))
    print("client exited", await proc.wait(), flush=True)
    srv.close()
    await srv.wait_closed()


if __name__ == "__main__":
    if sys.argv[1:2] == ["client"]:
        asyncio.run(client(int(sys.argv[2])))
    else:
        asyncio.run(server())
        print("server done", flush=True)
