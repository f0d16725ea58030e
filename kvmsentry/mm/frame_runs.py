"""The frames behind a guest buffer as runs of adjacent frames, found with
C-level steps. A program reads into (and writes from) the same buffers
over and over, and a buffer's frames rarely form one run (a malloc'ed
1 MiB buffer is populated in fault-ahead windows), so both the page
lookups of a buffer and the runs a layout of frames forms are memoized:
each big read(2) or write(2) then costs a few C calls, not a Python step
per page."""
from operator import itemgetter

from kvmsentry.arch.layout import PAGE_SIZE

# (first page, end) -> itemgetter of those pages' frames; frames -> (runs,
# the frames as a set). Each is cleared when it fills up.
_GETTERS, _RUNS, _MEMO = {}, {}, 64


def present_runs(pages, first, end):
    """(runs, frame set) for the pages [first, end) (first page-aligned,
    more than one page) when every page has a frame in `pages` (va ->
    phys): ((lo, hi), ...), the physical ranges of adjacent frames, and a
    frozenset of the frames, for a caller to test against the few frames
    shared copy-on-write (iterating the smaller side, not one lookup per
    page). None if a page has none."""
    key = (first, end)
    getter = _GETTERS.get(key)
    if getter is None:
        if len(_GETTERS) >= _MEMO:
            _GETTERS.clear()
        getter = _GETTERS[key] = itemgetter(*range(first, end, PAGE_SIZE))
    try:
        frames = getter(pages)
    except KeyError:
        return None
    found = _RUNS.get(frames)
    if found is None:
        if len(_RUNS) >= _MEMO:
            _RUNS.clear()
        found = _RUNS[frames] = _runs_of(frames), frozenset(frames)
    return found


def _runs_of(frames):
    runs, lo = [], frames[0]
    hi = lo
    for phys in frames:
        if phys != hi:
            runs.append((lo, hi))
            lo = phys
        hi = phys + PAGE_SIZE
    runs.append((lo, hi))
    return tuple(runs)
