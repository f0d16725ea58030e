"""sockaddr_in/_in6 bytes the sentry hands to the guest (accept,
getpeername, recvfrom): Linux's layout, and back through decode_inet."""
import socket

import pytest

from kvmsentry.net.address import AF_INET, AF_INET6, decode_inet, encode_inet


@pytest.mark.parametrize("addr", [("127.0.0.1", 0), ("10.1.2.3", 65535), ("1.2.3.4", 80)])
def test_sockaddr_in(addr):
    raw = encode_inet(addr, AF_INET)
    # sa_family (host order), sin_port (network order), sin_addr, 8 zero bytes
    assert raw == (AF_INET.to_bytes(2, "little") + addr[1].to_bytes(2, "big")
                   + socket.inet_aton(addr[0]) + bytes(8))
    assert decode_inet(raw, AF_INET) == addr


@pytest.mark.parametrize("addr", [("::1", 0, 0, 0), ("fe80::1", 443, 0x12345, 7),
                                  ("2001:db8::5", 65535, 0xFFFFF, 0xFFFFFFFF)])
def test_sockaddr_in6(addr):
    raw = encode_inet(addr, AF_INET6)
    # family, port, sin6_flowinfo (network order), address, sin6_scope_id (host order)
    assert raw == (AF_INET6.to_bytes(2, "little") + addr[1].to_bytes(2, "big")
                   + addr[2].to_bytes(4, "big") + socket.inet_pton(socket.AF_INET6, addr[0])
                   + addr[3].to_bytes(4, "little"))
    assert decode_inet(raw, AF_INET6) == addr


def test_sockaddr_in6_drops_the_zone_suffix():
    assert encode_inet(("fe80::1%lo", 1, 0, 1), AF_INET6) == \
        encode_inet(("fe80::1", 1, 0, 1), AF_INET6)
