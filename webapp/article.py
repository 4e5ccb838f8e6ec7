"""The source page (content/source/miss_guide.txt) as structured blocks for the demo page.

The page text is the single source: headings, paragraphs and lists are recognised from its layout;
site chrome is dropped; the repeated specialist cards are replaced by one block that the template
fills from content/specialists.yml.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import List, Tuple

from spine_content.specialists_directory import load_directory
from spine_content.topics import CONTENT_DIR

SOURCE = CONTENT_DIR / "source" / "miss_guide.txt"
TITLE_PREFIX = "Guide to Minimally Invasive Spine Surgery"
CHROME = {"reviewerImg", "More articles from Musculoskeletal Disorders"}
CARDS_START = "Consult a Specialist for the best advice"


@dataclass(frozen=True)
class Block:
    kind: str  # h1 | h2 | h3 | p | meta | ul | ol | specialists
    text: str = ""
    items: Tuple[str, ...] = field(default_factory=tuple)


def _card_line(line: str, card_lines: set) -> bool:
    return (
        line in card_lines
        or re.fullmatch(r"\d+ Years • .+", line) is not None
        or re.fullmatch(r"\d+%|\(\d+\+ Patients\)|\d+|recommendation|No Booking Fees", line)
        is not None
    )


def _is_heading(line: str) -> bool:
    return len(line) <= 100 and not line.endswith((".", ":", ",", ";")) and not line[0].isdigit()


def parse(text: str) -> List[Block]:
    directory = load_directory()
    card_lines = {"Neurosurgeon"}
    for s in directory.specialists:
        card_lines |= {s.name, f"{s.name}, {s.specialty}", s.city, s.hospital}
    lines = [line.rstrip() for line in text.splitlines()]
    start = next(i for i, line in enumerate(lines) if line.startswith(TITLE_PREFIX))
    blocks: List[Block] = [Block("h1", lines[start].strip())]
    in_cards = cards_shown = False
    list_kind, items = "", []  # type: str, List[str]

    def flush_list() -> None:
        nonlocal list_kind, items
        if items:
            blocks.append(Block(list_kind, items=tuple(items)))
        list_kind, items = "", []

    for raw in lines[start + 1 :]:
        line = raw.strip()
        if not line or line in CHROME:
            continue
        if line == CARDS_START:
            flush_list()
            in_cards = True
            if not cards_shown:
                blocks.append(Block("specialists", CARDS_START))
                cards_shown = True
            continue
        if in_cards:
            if _card_line(line, card_lines):
                continue
            in_cards = False
        bullet = re.match(r"^•\s*(.+)$", line)
        numbered = re.match(r"^\d+\.\s+(.+)$", line) if raw.startswith("  ") else None
        if bullet or numbered:
            kind = "ul" if bullet else "ol"
            if list_kind and list_kind != kind:
                flush_list()
            list_kind = kind
            items.append((bullet or numbered).group(1))  # type: ignore[union-attr]
            continue
        flush_list()
        if re.match(r"^(Written by|Reviewed by|Last updated on) ", line):
            blocks.append(Block("meta", line))
        elif re.match(r"^\d+\. .+\?$", line):
            blocks.append(Block("h3", line))  # an FAQ question
        elif _is_heading(line):
            blocks.append(Block("h2", line))
        else:
            blocks.append(Block("p", line))
    flush_list()
    return blocks


@cache
def article(path: Path = SOURCE) -> Tuple[Block, ...]:
    return tuple(parse(path.read_text(encoding="utf-8")))
