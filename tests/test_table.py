"""The terminal table renderer shared by `evaluate`, `benchmark` and the demo."""
from depthlens.viz.table import render_table

HEADER = ("method", "hiding", "revealing")
ROWS = [("integrated_gradients", "0.4170", "0.8800"), ("random order", "0.7320", "")]


def test_plain_table_aligns_numbers_right_and_has_no_escape_codes():
    text = render_table(HEADER, ROWS)
    lines = text.splitlines()
    assert "\x1b" not in text and lines[0].split() == list(HEADER)
    value_ends = {line.rstrip().index(v) + len(v) for line, v in zip(lines[2:], ("0.4170", "0.7320"))}
    assert len(value_ends) == 1  # right-aligned: both values end in the same column
    assert all(line == line.rstrip() for line in lines)


def test_colored_table_styles_the_header_only():
    text = render_table(HEADER, ROWS, color=True)
    assert "\x1b[1m" in text.splitlines()[0]
    assert "\x1b" not in text.splitlines()[-1]
