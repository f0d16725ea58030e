"""The bytes of the programs execve reads, kept from one exec to the next.

A shell or a build runs the same few programs over and over; reading one
whole (the loader parses its headers and copies its writable segments)
cost ~0.4 ms a time for a 900 KiB static binary. Only host files are kept
(the root's lower layer and volumes: the sandbox cannot change them), and
a kept copy is used only while the file's size, mtime and ctime are those
it was read with, as mm/page_cache.py does for a kept page cache.
"""
import collections

from kvmsentry.mm.page_cache import _host_file, _stamp

KEEP_BYTES = 16 << 20                 # all kept programs together, at most
KEEP_FILE_BYTES = 4 << 20             # a larger program is read each time
KEEP_FILES = 16
_kept = collections.OrderedDict()     # inode -> (stamp, bytes), least recently used first


def program_bytes(inode, read_whole):
    """The file's bytes: the kept copy if the file has not changed since,
    else read_whole(inode) (and kept if it is a host file)."""
    if not _host_file(inode):
        return read_whole(inode)
    stamp = _stamp(inode)
    hit = _kept.get(inode)
    if hit is not None and stamp is not None and hit[0] == stamp:
        _kept.move_to_end(inode)
        return hit[1]
    data = read_whole(inode)
    # The stamp again: a file changed during the read is not kept.
    if stamp is not None and len(data) == stamp[0] <= KEEP_FILE_BYTES \
            and _stamp(inode) == stamp:
        _kept[inode] = (stamp, data)
        _kept.move_to_end(inode)
        while len(_kept) > KEEP_FILES or \
                sum(len(d) for _, d in _kept.values()) > KEEP_BYTES:
            _kept.popitem(last=False)
    else:
        _kept.pop(inode, None)
    return data


def is_kept(data):
    """True if `data` is the bytes object kept for a program."""
    return any(kept is data for _, kept in _kept.values())
