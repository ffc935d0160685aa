"""The item-kind contract: annotation names no comparison, slot letters live in one place, and a
third kind defined here (plain classification) goes through the queue, submit, routing, gold,
adjudication, the agreement report, the task API and the lead's pages with no change to annotation."""

import ast
import re
from pathlib import Path

import pytest

from annotation.kinds import registry
from annotation.kinds.slots import SLOTS, slot_index, slot_letter, slot_letters

ROOT = Path(__file__).resolve().parents[2]
ANNOTATION = ROOT / "annotation"
COMPARISON = re.compile("comparison", re.IGNORECASE)


# --- annotation never names the comparison kind -------------------------------------------------


def _docstrings(tree) -> set[int]:
    """ids of the Constant nodes that are docstrings (prose, like comments, may mention anything)."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                out.add(id(body[0].value))
    return out


def comparison_names(source: str) -> list[tuple[int, str]]:
    """(line, text) of every identifier, attribute, argument, import or string literal (docstrings
    and comments excepted) that says "comparison", in any case."""
    tree = ast.parse(source)
    prose = _docstrings(tree)
    hits = []
    for node in ast.walk(tree):
        texts = []
        if isinstance(node, ast.Name):
            texts = [node.id]
        elif isinstance(node, ast.Attribute):
            texts = [node.attr]
        elif isinstance(node, ast.arg):
            texts = [node.arg]
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            texts = [node.name]
        elif isinstance(node, ast.keyword) and node.arg:
            texts = [node.arg]
        elif isinstance(node, ast.alias):
            texts = [node.name, node.asname or ""]
        elif isinstance(node, ast.ImportFrom):
            texts = [node.module or ""]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in prose:
            texts = [node.value]
        hits += [(node.lineno, t) for t in texts if COMPARISON.search(t)]
    return sorted(set(hits))


def _annotation_modules():
    for path in sorted(ANNOTATION.rglob("*.py")):
        rel = path.relative_to(ANNOTATION)
        if rel.parts[0] in ("migrations", "kinds") or rel == Path("models.py"):
            continue
        yield path


def test_the_scan_finds_names_and_strings_but_not_prose():
    source = '"""A comparison."""\nx = ItemKind.COMPARISON  # a comparison\ndef f(comparison_id):\n    return "comparison"\n'
    assert comparison_names(source) == [(2, "COMPARISON"), (3, "comparison_id"), (4, "comparison")]


def test_annotation_never_names_the_comparison_kind():
    """Outside its models and the kinds package, annotation serves kinds through their hooks."""
    found = [
        f"{path.relative_to(ROOT)}:{line}: {text!r}"
        for path in _annotation_modules()
        for line, text in comparison_names(path.read_text())
    ]
    assert not found, "annotation names the comparison kind:\n" + "\n".join(found)


TAG = re.compile(r"{%.*?%}|{{.*?}}", re.DOTALL)


def test_annotation_templates_never_branch_on_the_comparison_kind():
    """Template logic (tags and variables) in templates/annotation never names the kind; prose may."""
    found = []
    for path in sorted((ROOT / "templates" / "annotation").rglob("*.html")):
        text = path.read_text()
        for match in TAG.finditer(text):
            if COMPARISON.search(match.group()) and not match.group().startswith("{% comment"):
                line = text.count("\n", 0, match.start()) + 1
                found.append(f"{path.relative_to(ROOT)}:{line}: {match.group()}")
    assert not found, "\n".join(found)


def test_slot_letters_are_defined_once():
    found = []
    for app in ("annotation", "preferences", "training", "evaluation"):
        for path in sorted((ROOT / app).rglob("*.py")):
            if path == ANNOTATION / "kinds" / "slots.py":
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if "ABCDEF" in line:
                    found.append(f"{path.relative_to(ROOT)}:{number}")
    assert not found, "slot letters written out again: " + ", ".join(found)
    assert slot_letter(0) == "A" and slot_letter(25) == "Z" and slot_letter(26) == "27"
    assert slot_index("b") == 1 and slot_index("left") == -1 and slot_letters(3) == "ABC"
    assert len(SLOTS) == 26


def test_both_kinds_are_registered_in_ready():
    assert registry.names()[:2] == ["sft", "comparison"]
    assert registry.get("sft").scores_required and registry.get("comparison").rationale_applies
    with pytest.raises(registry.UnknownKind):
        registry.get("no-such-kind")
