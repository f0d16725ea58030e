"""What a systrap child's host mappings of the pool are, as Linux keeps
them: maximal runs of pages whose frames follow one another with the same
rights (neighbours like that are one host mapping, a VMA, since the
kernel merges them). Their number counts against vm.max_map_count.

A run is kept as start -> (end, first), `first` being the frame of its
first page with the protection in the low bits (phys | prot), so a run
[s, e) continues at e with first + (e - s). Setting a range costs a few
steps per run it touches, not one per page: a 2 MiB range is one run.
"""
from bisect import bisect_right

PROT_BITS = 0xFFF                   # (of `first`: the frame is page-aligned)


class HostRuns:
    __slots__ = ("starts", "runs")

    def __init__(self):
        self.starts = []            # sorted run starts
        self.runs = {}              # start -> (end, first)

    def __len__(self):
        return len(self.starts)

    def maps_frames(self, a, b, phys):
        """Whether every page of [a, b) is mapped, page a from frame phys
        and the rest from the frames after it, whatever the rights."""
        starts, runs = self.starts, self.runs
        if not starts or a >= runs[starts[-1]][0]:
            return False
        i = bisect_right(starts, a) - 1
        at = a
        while at < b:
            if i < 0 or i >= len(starts):
                return False
            s = starts[i]
            e, f = runs[s]
            if not s <= at < e or (f & ~PROT_BITS) + (at - s) != phys + (at - a):
                return False
            at = e
            i += 1
        return True

    def set(self, a, b, first):
        """[a, b) is mapped from `first` (phys | prot of page a; the rest
        follow it) or, with first 0, unmapped."""
        starts, runs = self.starts, self.runs
        if not starts or a >= runs[starts[-1]][0]:
            # Past the last run (so past every one): a table filled in
            # address order, as a new program's or child's is.
            if first:
                if starts:
                    s = starts[-1]
                    e, f = runs[s]
                    if e == a and f + (e - s) == first:
                        runs[s] = (b, f)
                        return
                starts.append(a)
                runs[a] = (b, first)
            return
        i = bisect_right(starts, a) - 1
        if i < 0 or runs[starts[i]][0] <= a:
            i += 1                              # starts[i:] begin at or after a
        j, pieces, right = i, [], None
        while j < len(starts) and starts[j] < b:
            s = starts[j]
            e, f = runs.pop(s)
            if s < a:
                pieces.append((s, a, f))                    # what stays on the left
            if e > b:
                right = (b, e, f + (b - s))                 # ... and on the right
            j += 1
        del starts[i:j]
        if first:
            pieces.append((a, b, first))
        if right:
            pieces.append(right)
        if not pieces:
            return
        # Join the neighbours outside the range when they continue a piece.
        if i > 0:
            s = starts[i - 1]
            e, f = runs[s]
            if e == pieces[0][0] and f + (e - s) == pieces[0][2]:
                i -= 1
                del starts[i]
                del runs[s]
                pieces[0] = (s, pieces[0][1], f)
        if i < len(starts) and starts[i] == pieces[-1][1]:
            s = starts[i]
            e, f = runs[s]
            ls, le, lf = pieces[-1]
            if lf + (le - ls) == f:
                del starts[i]
                del runs[s]
                pieces[-1] = (ls, e, lf)
        merged = [pieces[0]]
        for s, e, f in pieces[1:]:
            ls, le, lf = merged[-1]
            if le == s and lf + (le - ls) == f:
                merged[-1] = (ls, e, lf)
            else:
                merged.append((s, e, f))
        starts[i:i] = [s for s, _, _ in merged]
        for s, e, f in merged:
            runs[s] = (e, f)
