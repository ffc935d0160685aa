"""The user guide (docs/): a page per role, every image a page shows exists, every image in docs/img is
shown by a page, and every relative link between the pages resolves. The images themselves are taken by
tests/e2e/test_docs_screenshots.py."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
ROLES = ("annotator.md", "lead.md", "ml-engineer.md")
IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)\s]+)\)")
LINK = re.compile(r"(?<!!)\[[^\]]+\]\(([^)\s#]+)(?:#[^)]*)?\)")


def pages():
    return sorted(DOCS.glob("*.md"))


def test_each_role_has_a_page_listed_in_the_index_and_the_readme():
    index = (DOCS / "README.md").read_text()
    for name in ROLES:
        assert (DOCS / name).is_file(), name
        assert f"({name})" in index, f"docs/README.md does not link {name}"
    assert "(docs/README.md)" in (ROOT / "README.md").read_text()


def test_every_image_shown_exists_and_has_words():
    for page in pages():
        for alt, target in IMAGE.findall(page.read_text()):
            assert alt.strip(), f"{page.name}: an image without alt text ({target})"
            assert (page.parent / target).resolve().is_file(), f"{page.name} shows {target}, which is missing"


def test_every_image_is_shown_by_a_page():
    shown = {
        (page.parent / target).resolve() for page in pages() for _, target in IMAGE.findall(page.read_text())
    }
    images = set((DOCS / "img").glob("*.png"))
    assert images, "docs/img has no screenshots"
    unused = sorted(p.name for p in images if p.resolve() not in shown)
    assert not unused, f"images no page shows (remove them or the shot): {unused}"


def test_each_role_page_has_screenshots_and_links_resolve():
    for name in ROLES:
        assert len(IMAGE.findall((DOCS / name).read_text())) >= 4, f"{name} has too few screenshots"
    for page in pages():
        for target in LINK.findall(page.read_text()):
            if "://" in target:
                continue
            assert (page.parent / target).resolve().exists(), f"{page.name} links {target}, which is missing"


def test_the_screenshot_module_takes_every_image():
    """An image nobody retakes goes stale: each PNG is named by a snap() in the browser module."""
    module = (ROOT / "tests" / "e2e" / "test_docs_screenshots.py").read_text()
    taken = set(re.findall(r'snap\(page, "([a-z0-9-]+)"', module))
    on_disk = {p.stem for p in (DOCS / "img").glob("*.png")}
    assert on_disk == taken, (
        f"not taken by the module: {sorted(on_disk - taken)}; not on disk: {sorted(taken - on_disk)}"
    )
    assert sum(p.stat().st_size for p in (DOCS / "img").glob("*.png")) < 3 * 1024 * 1024
