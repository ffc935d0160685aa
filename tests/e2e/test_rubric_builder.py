"""A lead builds a rubric with the form (no JSON), watches the preview follow, saves version 2 and
opens the comparison with version 1, in a real browser against a live server."""

import pytest

from annotation.models import AuditEvent
from tests.e2e.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PREVIEW = "#rubric-preview"


def preview_keys(page):
    return page.locator(f"{PREVIEW} fieldset.criterion").evaluate_all("els => els.map(e => e.dataset.key)")


def wait_preview_keys(page, keys):
    page.wait_for_function(
        """keys => JSON.stringify(Array.from(document.querySelectorAll('#rubric-preview fieldset.criterion'))
            .map(e => e.dataset.key)) === JSON.stringify(keys)""",
        arg=keys,
    )


def press(page, locator):
    """Keyboard, not the mouse: focus the button and press Enter."""
    locator.focus()
    page.keyboard.press("Enter")


def test_lead_builds_a_rubric_with_the_form_and_compares_versions(page, live_server, users, project):
    v1 = project.current_rubric_version()
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    login(page, live_server, "lead")
    page.goto(f"{live_server.url}/projects/{project.pk}/rubric/")
    page.wait_for_selector("#add-criterion:visible")  # the builder's script has run
    assert page.locator("#save-version").inner_text() == f"Save as version {v1.number + 1}"
    assert preview_keys(page) == ["helpfulness", "safe", "tone"]  # the current version, as annotators see it
    assert page.locator(PREVIEW).inner_text().startswith("Rubric v")

    # remove the three criteria of v1: the preview follows, and says a rubric needs one
    for _ in range(3):
        press(page, page.locator("[data-criterion]:visible [data-remove]").first)
    page.wait_for_selector(f"{PREVIEW} .error-summary:has-text('Add at least one criterion.')")

    # 1) a new criterion: name, type, Markdown instructions; the preview renders it
    press(page, page.locator("#add-criterion"))
    page.wait_for_function(
        "() => document.activeElement && /criteria-3-label$/.test(document.activeElement.id)"
    )
    page.keyboard.type("Clarity")
    page.keyboard.press("Enter")  # does not save (checked below: still one version)
    page.fill("#id_criteria-3-key", "clarity")
    page.select_option("#id_criteria-3-type", "labels")
    assert page.locator("#id_criteria-3-labels").is_visible()
    page.fill("#id_criteria-3-labels", "clear")  # one label: refused, with the criterion named
    page.fill("#id_criteria-3-instructions", "Is it **clear** on first reading?")
    page.wait_for_selector(f"{PREVIEW} .error-summary:has-text('Criterion 1 (\"clarity\") labels')")
    page.fill("#id_criteria-3-labels", "clear\nmuddled")
    page.wait_for_selector(f"{PREVIEW} fieldset[data-key=clarity] input[value=muddled]")
    wait_preview_keys(page, ["clarity"])
    clarity = page.locator(f"{PREVIEW} fieldset[data-key=clarity]")
    assert clarity.locator("strong").inner_text() == "clear"  # Markdown, rendered
    assert clarity.locator("input[type=radio]").evaluate_all("els => els.map(e => e.value)") == [
        "clear",
        "muddled",
    ]

    # 2) a second one: a blank key comes from the name; Likert shows five options
    press(page, page.locator("#add-criterion"))
    page.wait_for_function(
        "() => document.activeElement && /criteria-4-label$/.test(document.activeElement.id)"
    )
    page.keyboard.type("Helpfulness")
    assert not page.locator("#id_criteria-4-labels").is_visible()  # only for labels criteria
    page.fill("#id_criteria-4-instructions", "Does it *really* help?")
    page.locator("#id_criteria-4-required").uncheck()
    wait_preview_keys(page, ["clarity", "helpfulness"])
    # the preview catches up with the last change: "required" unticked, so no asterisk
    page.wait_for_selector(f"{PREVIEW} fieldset[data-key=helpfulness] em:has-text('really')")
    page.wait_for_selector(f"{PREVIEW} fieldset[data-key=helpfulness] .req", state="detached")
    helpfulness = page.locator(f"{PREVIEW} fieldset[data-key=helpfulness]")
    assert helpfulness.locator("input[type=radio]").count() == 5

    # 3) move it up with the keyboard: the focus stays on a move button, the preview reorders
    press(page, page.locator("[data-criterion]:visible").nth(1).locator("[data-move=up]"))
    wait_preview_keys(page, ["helpfulness", "clarity"])
    assert page.evaluate("document.activeElement.dataset.move") in ("up", "down")
    assert page.locator("[data-criterion]:visible [data-number]").all_inner_texts() == ["1", "2"]
    assert v1.rubric.versions.count() == 1  # previews save nothing

    # 4) save: version 2, in the order shown
    page.fill("#id_changelog", "Clarity replaces safety and tone.")
    page.keyboard.press("Control+Enter")  # saves, like the "Save as version 2" button
    page.wait_for_selector(f".notice:has-text('Created version {v1.number + 1}')")
    v2 = project.current_rubric_version()
    assert v2.number == v1.number + 1 and v2.changelog == "Clarity replaces safety and tone."
    assert v2.criteria == [
        {
            "key": "helpfulness",
            "label": "Helpfulness",
            "type": "likert",
            "instructions": "Does it *really* help?",
            "required": False,
        },
        {
            "key": "clarity",
            "label": "Clarity",
            "type": "labels",
            "instructions": "Is it **clear** on first reading?",
            "required": True,
            "labels": ["clear", "muddled"],
        },
    ]
    assert AuditEvent.objects.filter(verb="rubric.version_created", actor=users["lead"]).count() == 2
    page.wait_for_selector(f"#save-version:has-text('Save as version {v2.number + 1}')")

    # 5) the comparison with v1: side by side, changes highlighted
    page.locator(f"a:has-text('Compare with v{v1.number}')").click()
    page.wait_for_selector("#diff-summary")
    assert page.locator("#diff-summary").inner_text() == (
        f"v{v1.number} → v{v2.number}: 1 added, 2 removed, 1 changed, 0 unchanged."
    )
    statuses = page.locator("table.rubric-diff tbody tr").evaluate_all(
        "rows => rows.map(r => [r.dataset.key, r.dataset.status])"
    )
    assert statuses == [
        ["helpfulness", "changed"],
        ["safe", "removed"],
        ["tone", "removed"],
        ["clarity", "added"],
    ]
    changed = page.locator("tr[data-key=helpfulness] .diff-field")
    assert changed.count() == 4  # required and instructions, on the old side and the new
    assert dialogs == []
