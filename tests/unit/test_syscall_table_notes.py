"""The syscall table as `kvmsentry syscalls` prints it: every row that is not
Linux's behaviour says how it differs, and every handler says what it
implements."""
import re

from kvmsentry.syscalls.table import FULL, NONE, PARTIAL, TABLE, report

ROWS = [e for e in TABLE if e is not None]


def test_every_partial_row_says_what_differs():
    bare = [e.name for e in ROWS if e.support == PARTIAL and len(e.note.strip()) < 10]
    assert not bare, "partial rows without a note: %s" % bare


def test_notes_are_one_clean_line():
    # Notes are built from concatenated literals: a missing or doubled space
    # at a seam, or a stray newline, shows up in the printed report.
    bad = [e.name for e in ROWS if e.note and (
        "\n" in e.note or "  " in e.note or e.note != e.note.strip()
        or re.search(r"[a-z][;,][A-Za-z]", e.note))]
    assert not bad, bad


def test_rows_with_a_handler_document_it():
    missing = [e.name for e in ROWS if e.handler is not None and
               "Implements" not in (e.handler.__doc__ or "")]
    assert not missing, "handlers without an 'Implements ...' docstring: %s" % missing


def test_unimplemented_rows_have_no_handler_and_the_rest_do():
    assert all((e.handler is None) == (e.support == NONE) for e in ROWS)


def test_report_counts_match_the_rows_and_coverage_goal():
    last = report().splitlines()[-1]
    supported, partial, none = (int(n) for n in re.findall(r"\d+", last))
    assert supported == sum(e.support == FULL for e in ROWS)
    assert partial == sum(e.support == PARTIAL for e in ROWS)
    assert none == sum(e.support == NONE for e in ROWS)
    assert supported + partial >= 300       # issue 10: coverage
