"""The README stays short and every link in it and in docs/ leads to a file (and heading) of this repository."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
PAGES = sorted((ROOT / "docs").glob("*.md"))
# The pages a newcomer is sent to from the README.
LINKED_FROM_README = [
    "input_format",
    "scoring_model",
    "outputs",
    "data_dictionary",
    "operations",
    "bi",
    "report",
    "performance",
    "scaling",
    "spark",
]


def _prose(path: Path) -> str:
    """Return the Markdown text of `path` without its fenced code blocks (a `# comment` there is no heading)."""
    return re.sub(r"^```.*?^```", "", path.read_text(encoding="utf-8"), flags=re.S | re.M)


def _links(path: Path) -> list[str]:
    """Return the targets of every inline link and image of `path`, in order."""
    return re.findall(r"\]\(([^)\s]+)\)", _prose(path))


def _anchors(path: Path) -> set[str]:
    """Return the anchors GitHub gives the headings of `path` (lower case, punctuation dropped, -N for repeats)."""
    seen: dict[str, int] = {}
    anchors = set()
    for heading in re.findall(r"^#{1,6} +(.+?) *#* *$", _prose(path), flags=re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        anchors.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
        seen[slug] = seen.get(slug, 0) + 1
    return anchors


def test_every_relative_link_resolves_to_a_file_and_heading_inside_the_repository():
    checked = 0
    for page in [README, *PAGES]:
        for link in _links(page):
            if re.match(r"https?://", link):
                continue
            assert not re.match(r"[a-z]+:", link) and not link.startswith("/"), (page.name, link)
            target, _, anchor = link.partition("#")
            file = (page.parent / target).resolve() if target else page
            assert file.is_relative_to(ROOT), f"{page.name}: {link} leads outside the repository"
            assert file.is_file(), f"{page.name}: {link} names no file"
            if anchor and file.suffix == ".md":
                assert anchor in _anchors(file), f"{page.name}: {link} names no heading of {file.name}"
            checked += 1
    assert checked > 30  # the pages do link to each other; a parser that finds nothing must fail


def test_nothing_refers_to_the_team_specs_outside_the_repository():
    for page in [README, *PAGES]:
        text = page.read_text(encoding="utf-8")
        assert "../shared" not in text and "/work/" not in text, page.name


def test_the_readme_is_short_and_links_every_docs_page():
    assert len(README.read_text(encoding="utf-8").splitlines()) <= 200
    links = {link.partition("#")[0] for link in _links(README)}
    for name in LINKED_FROM_README:
        assert f"docs/{name}.md" in links, name
    assert {page.stem for page in PAGES} <= set(LINKED_FROM_README), "a docs page the README does not link"


def test_the_performance_page_gives_the_command_the_machine_and_a_table():
    text = (ROOT / "docs" / "performance.md").read_text(encoding="utf-8")
    command = re.search(r"benchmarks/bench\.py( --lines \d+)+", text)
    assert command and (ROOT / "benchmarks" / "bench.py").is_file()
    assert re.search(r"Measured on \d{4}-\d{2}-\d{2} on a \d+-core", text)
    assert re.search(r"^\| order lines \| step \| wall s \| peak RSS MiB \|", text, flags=re.M)
