"""Agreement reports on planted judgments equal the metrics library called directly; weekly series,
the CSV downloads, the dashboard and API, and Dawid-Skene weights feeding the weighted consensus."""

import csv
import io
from datetime import UTC, datetime

import numpy as np
import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotation.core.reliability import dawid_skene, reliability_weights
from annotation.models import AgreementReport, AnnotatorReliability, AuditEvent, Judgment
from annotation.projects import services as project_services
from annotation.quality.agreement import (
    cohen_kappa,
    fleiss_kappa,
    krippendorff_alpha,
    percent_agreement,
    preference_strength_alpha,
)
from annotation.quality.reports import recompute_agreement
from annotation.queue import services as queue_services
from tests.chart_specs import chart_spec, chart_specs
from tests.conftest import make_items

pytestmark = pytest.mark.django_db

# annotator -> per item (decision, helpfulness); four items, three annotators
PLANT = {
    "annotator1": [("accept", 5), ("accept", 4), ("reject", 2), ("accept", 3)],
    "annotator2": [("accept", 4), ("reject", 4), ("reject", 1), ("accept", 3)],
    "third": [("reject", 5), ("accept", 3), ("reject", 2), ("accept", 2)],
}
WEEKS = [datetime(2025, 1, 6, 12, tzinfo=UTC), datetime(2025, 1, 14, 12, tzinfo=UTC)]


@pytest.fixture
def planted(project, users, django_user_model):
    third = django_user_model.objects.create_user("third")
    project_services.set_membership(project=project, actor=users["admin"], user=third, role="annotator")
    project_services.update_project(project=project, actor=users["admin"], overlap=3)
    make_items(project, users["lead"], 4)
    people = {"annotator1": users["annotator"], "annotator2": users["annotator2"], "third": third}
    for name, answers in PLANT.items():
        for decision, helpful in answers:
            a = queue_services.next_assignment(project=project, user=people[name])
            queue_services.submit_judgment(
                assignment=a,
                user=people[name],
                decision=decision,
                scores={"helpfulness": helpful, "safe": True},
            )
    items = list(project.items.order_by("id").values_list("id", flat=True))
    # items 0-1 finished in the first ISO week, items 2-3 in the second
    for i, item_id in enumerate(items):
        Judgment.objects.filter(item_id=item_id).update(created_at=WEEKS[i // 2])
    return project, people


def test_report_figures_equal_the_metrics_library(planted, users):
    project, people = planted
    report = recompute_agreement(project=project, actor=users["lead"])
    data = report.data
    decisions = np.array([[d for d, _ in PLANT[n]] for n in sorted(PLANT)], dtype=object)
    helpful = np.array([[h for _, h in PLANT[n]] for n in sorted(PLANT)], dtype=float)
    row = next(r for r in data["decisions"] if r["kind"] == "sft" and r["version"] == "all")
    assert row["alpha"] == pytest.approx(krippendorff_alpha(decisions, level="nominal"), abs=1e-4)
    assert row["percent"] == pytest.approx(percent_agreement(decisions), abs=1e-4)
    assert row["items"] == 4 and row["judgments"] == 12 and row["fleiss"] is not None
    crit = next(r for r in data["criteria"] if r["criterion"] == "helpfulness")
    assert crit["level"] == "ordinal" and crit["version"] == 1
    assert crit["alpha"] == pytest.approx(krippendorff_alpha(helpful, level="ordinal"), abs=1e-4)
    safe = next(r for r in data["criteria"] if r["criterion"] == "safe")
    assert safe["alpha"] is None and safe["percent"] == 1.0  # no variation: alpha undefined
    # per annotator: kappa against the majority of the two others (item 1 splits them: no consensus)
    others_majority = ["accept", "reject", "accept"]  # items 0, 2, 3
    rows = {r["username"]: r for r in data["annotators"]["sft"]}
    third = [PLANT["third"][i][0] for i in (0, 2, 3)]
    assert rows["third"]["kappa_consensus"] == pytest.approx(cohen_kappa(third, others_majority), abs=1e-4)
    a1, a2 = [d for d, _ in PLANT["annotator1"]], [d for d, _ in PLANT["annotator2"]]
    pair = rows["annotator1"]["pairwise"][str(people["annotator2"].pk)]
    assert pair["items"] == 4 and pair["kappa"] == pytest.approx(cohen_kappa(a1, a2), abs=1e-4)
    assert rows["third"]["confusion"]["labels"] == ["accept", "reject"]
    assert rows["third"]["confusion"]["matrix"] == [[1, 0], [1, 1]]
    # Dawid-Skene on the same labels
    labels = ["accept", "reject"]
    matrix = np.array([[labels.index(d) for d, _ in PLANT[n]] for n in sorted(PLANT)])
    weights = reliability_weights(dawid_skene(matrix, n_classes=2))
    assert rows["annotator1"]["weight"] == pytest.approx(weights[0], abs=1e-4)
    stored = {r.annotator_id: r.weight for r in AnnotatorReliability.objects.filter(project=project)}
    assert stored[people["third"].pk] == pytest.approx(weights[2], abs=1e-4)
    assert AuditEvent.objects.filter(verb="agreement.computed").count() == 1


def test_weekly_series(planted, users):
    project, _ = planted
    data = recompute_agreement(project=project).data
    weeks = [r for r in data["weekly"] if r["kind"] == "sft"]
    assert [w["week"] for w in weeks] == ["2025-W02", "2025-W03"]
    for week, cols in zip(weeks, ([0, 1], [2, 3]), strict=True):
        sub = np.array([[PLANT[n][c][0] for c in cols] for n in sorted(PLANT)], dtype=object)
        assert week["percent"] == pytest.approx(percent_agreement(sub), abs=1e-4)
        assert week["items"] == 2


def test_dashboard_csv_and_api(planted, users):
    project, _ = planted
    web = Client()
    web.force_login(users["lead"])
    url = reverse("annotation:agreement", args=[project.pk])
    assert "No agreement figures yet" in web.get(url).content.decode()
    res = web.post(url, HTTP_HX_REQUEST="true")
    assert res.status_code == 200 and AgreementReport.objects.count() == 1
    html = res.content.decode()
    weekly = chart_spec(html, "chart-weekly-sft")  # alpha and percent agreement, one point per week
    assert weekly["x"]["labels"] == ["2025-W02", "2025-W03"] and "confusion against the consensus" in html
    rows = [r for r in AgreementReport.objects.get().data["weekly"] if r["kind"] == "sft"]
    by_label = {s["label"]: s["points"] for s in weekly["series"]}
    assert by_label["percent agreement"] == [[r["week"], r["percent"]] for r in rows]  # drawn beside alpha
    assert by_label["Krippendorff's alpha"] == [[r["week"], r["alpha"]] for r in rows]
    assert any(key.startswith("chart-confusion-sft-") for key in chart_specs(html))
    assert 'id="drift-sft"' in html and "2025-W02" in html.split('id="drift-sft"')[1]
    pairwise = html.split('class="table compact annotators"')[1].split("</table>")[0]
    assert "annotator2:" in pairwise and "#" not in pairwise.split("<tbody>")[1].split("</td></tr>")[0]
    body = web.get(reverse("annotation:agreement-csv", args=[project.pk, "annotators"])).content.decode()
    rows = list(csv.DictReader(io.StringIO(body)))
    data = AgreementReport.objects.get().data
    assert [r["username"] for r in rows] == [r["username"] for r in data["annotators"]["sft"]]
    assert float(rows[0]["kappa_consensus"]) == data["annotators"]["sft"][0]["kappa_consensus"]
    crit = list(
        csv.DictReader(
            io.StringIO(
                web.get(reverse("annotation:agreement-csv", args=[project.pk, "criteria"])).content.decode()
            )
        )
    )
    assert {r["criterion"] for r in crit} == {"helpfulness", "safe"}

    def table(name):
        body = web.get(reverse("annotation:agreement-csv", args=[project.pk, name])).content.decode()
        return list(csv.DictReader(io.StringIO(body)))

    assert {(r["kind"], r["version"]) for r in table("decisions")} >= {("sft", "all")}
    assert [r["week"] for r in table("weekly")] == ["2025-W02", "2025-W03"]
    drift = table("drift")
    assert {(r["username"], r["week"], r["agree"]) for r in drift} >= {("third", "2025-W02", "0.0")}
    assert web.get(reverse("annotation:agreement-csv", args=[project.pk, "nope"])).status_code == 404
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=users['lead'])[0].key}")
    assert api.get(f"/api/projects/{project.pk}/agreement/").json()["id"] == AgreementReport.objects.get().pk
    res = api.post(f"/api/projects/{project.pk}/agreement/recompute/")
    assert res.status_code == 201 and AgreementReport.objects.count() == 2
    annotator = APIClient()
    annotator.credentials(
        HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=users['annotator'])[0].key}"
    )
    assert annotator.get(f"/api/projects/{project.pk}/agreement/").status_code == 403


def test_compute_agreement_task(planted):
    from annotation.tasks import compute_agreement

    project, _ = planted
    assert compute_agreement(project.pk) == AgreementReport.objects.get().pk
    assert compute_agreement(10**9) is None


def test_preference_figures_and_weighted_consensus(users, django_user_model):
    from preferences.models import Consensus
    from preferences.services import recompute_consensus
    from tests.preferences.factories import judge, make_cmp_project, make_comparisons

    project = make_cmp_project(users, overlap=3)
    third = django_user_model.objects.create_user("third")
    project_services.set_membership(project=project, actor=users["admin"], user=third, role="annotator")
    make_comparisons(project, users["lead"], 4)
    # annotator1 and annotator2 agree with each other on every item; `third` always disagrees
    for _ in range(4):
        judge(project, users["annotator"], prefer="model-a")
        judge(project, users["annotator2"], prefer="model-a")
        judge(project, third, prefer="model-b")
    data = recompute_agreement(project=project).data
    row = next(r for r in data["decisions"] if r["kind"] == "comparison" and r["version"] == "all")
    plant = np.array([["response 1"] * 4, ["response 1"] * 4, ["response 2"] * 4], dtype=object)
    assert row["alpha"] == pytest.approx(krippendorff_alpha(plant, level="nominal"), abs=1e-4)
    strength = np.array([[2] * 4, [2] * 4, [-2] * 4], dtype=float)
    assert data["strength"][0]["alpha"] == pytest.approx(preference_strength_alpha(strength), abs=1e-4)
    weights = {r["username"]: r["weight"] for r in data["annotators"]["comparison"]}
    assert weights["third"] < weights["annotator1"]
    # the weighted rule reads the stored weights when none are given
    recompute_consensus(project=project, actor=users["lead"], rule="weighted")
    consensus = Consensus.objects.filter(item__project=project, criterion="", rule="weighted").first()
    stored = {str(k): v for k, v in consensus.params["weights"].items()}
    assert stored[str(third.pk)] == pytest.approx(weights["third"], abs=1e-4)
    assert stored[str(users["annotator"].pk)] == pytest.approx(weights["annotator1"], abs=1e-4)


# --- nominal_figures: linear, and equal to a straightforward reference ------------------------


def _reference_nominal_figures(cells):
    """The definition spelled out: a scan over every cell per item (quadratic; small inputs only)."""
    from collections import Counter

    per_unit = Counter(u for _, u in cells)
    units = sorted(u for u, n in per_unit.items() if n >= 2)
    cells = {(a, u): v for (a, u), v in cells.items() if per_unit[u] >= 2}
    out = {"items": len(units), "judgments": len(cells), "alpha": None, "fleiss": None, "percent": None}
    if not units:
        return out
    annotators = sorted({a for a, _ in cells})
    data = np.full((len(annotators), len(units)), None, dtype=object)
    for (a, u), v in cells.items():
        data[annotators.index(a), units.index(u)] = v
    out["alpha"] = round(krippendorff_alpha(data, level="nominal"), 4)
    out["percent"] = round(percent_agreement(data), 4)
    modal = Counter(per_unit[u] for u in per_unit if per_unit[u] >= 2).most_common(1)[0][0]
    labels = sorted({str(v) for v in cells.values()})
    table = []
    for u in units:
        mine = [str(v) for (a, uu), v in cells.items() if uu == u]
        if len(mine) == modal:
            table.append([mine.count(label) for label in labels])
    out["fleiss"] = round(fleiss_kappa(table), 4)
    out["fleiss_items"] = len(table)
    return out


def _synthetic_cells(n_items, seed, n_annotators=10, labels=("accept", "reject", "edit")):
    """Items judged by 1-4 annotators; 60% of judgments equal a latent answer, the rest uniform."""
    rng = np.random.default_rng(seed)
    cells = {}
    for u in range(n_items):
        truth = labels[rng.integers(len(labels))]
        k = int(rng.choice([1, 2, 3, 3, 4]))
        for a in rng.choice(n_annotators, size=k, replace=False):
            cells[(int(a), u)] = truth if rng.random() < 0.6 else labels[rng.integers(len(labels))]
    return cells


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_nominal_figures_equal_the_reference(seed):
    from annotation.quality.figures import nominal_figures

    cells = _synthetic_cells(60, seed, n_annotators=5)
    assert nominal_figures(cells) == _reference_nominal_figures(cells)
    # equal modal counts: the first-seen count wins in both
    tied = {(0, "x"): "a", (1, "x"): "b", (0, "y"): "a", (1, "y"): "a", (2, "y"): "b", (0, "z"): "a"}
    assert nominal_figures(tied) == _reference_nominal_figures(tied)
    assert nominal_figures({(0, 1): "a"}) == _reference_nominal_figures({(0, 1): "a"})


def test_nominal_figures_on_a_report_sized_input():
    """20k items (about 55k judgments): the figures equal the metrics library on a matrix built with
    numpy. The old per-item scan over every cell took minutes here; see benchmarks/agreement.py."""
    from annotation.quality.figures import nominal_figures

    n_items, n_annotators = 20_000, 10
    cells = _synthetic_cells(n_items, 7, n_annotators=n_annotators)
    figures = nominal_figures(cells)
    codes = {"accept": 0, "reject": 1, "edit": 2}
    data = np.full((n_annotators, n_items), np.nan)
    for (a, u), v in cells.items():
        data[a, u] = codes[v]
    per_item = (~np.isnan(data)).sum(axis=0)
    pairable = data[:, per_item >= 2]
    assert figures["items"] == pairable.shape[1] and figures["judgments"] == int(
        per_item[per_item >= 2].sum()
    )
    assert figures["alpha"] == pytest.approx(krippendorff_alpha(pairable, level="nominal"), abs=1e-4)
    assert figures["percent"] == pytest.approx(percent_agreement(pairable), abs=1e-4)
    counts = np.stack([(pairable == c).sum(axis=0) for c in (0, 2, 1)], axis=1)  # labels sorted by name
    modal = np.bincount(per_item[per_item >= 2]).argmax()
    table = counts[counts.sum(axis=1) == modal]
    assert figures["fleiss_items"] == len(table)
    assert figures["fleiss"] == pytest.approx(fleiss_kappa(table), abs=1e-4)


# --- comparisons: per-criterion preferences, leave-one-out consensus, N-way Kendall tau -------


def _cmp_annotators(project, users, django_user_model, *names):
    people = {"annotator1": users["annotator"], "annotator2": users["annotator2"]}
    for name in names:
        people[name] = django_user_model.objects.create_user(name)
        project_services.set_membership(
            project=project, actor=users["admin"], user=people[name], role="annotator"
        )
    return people


def _judge_by_model(project, user, plant):
    """Lease the user's next comparison and answer it from `plant[item index]`: {"overall": ...,
    "criteria": {key: ...}} where an answer is a model name, "tie", "both_bad" or a list of model names
    best first (an N-way ranking); model names become the display slots this annotator was shown."""
    from tests.preferences.factories import response_model

    items = list(project.items.order_by("id").values_list("id", flat=True))
    a = queue_services.next_assignment(project=project, user=user, kind="comparison")
    answer = plant[items.index(a.item_id)]
    names = [response_model(r) for r in a.display_order]

    def slots(x):
        if isinstance(x, list):
            return ">".join("ABCDEFGH"[names.index(m)] for m in x)
        return x if x in ("tie", "both_bad") else "ABCDEFGH"[names.index(x)]

    overall = answer["overall"]
    payload = {"ranking": slots(overall)} if isinstance(overall, list) else {"choice": slots(overall)}
    if overall not in ("tie", "both_bad") and not isinstance(overall, list):
        payload["strength"] = 2
    payload["criteria"] = {k: slots(v) for k, v in answer.get("criteria", {}).items()}
    return queue_services.submit_judgment(assignment=a, user=user, payload=payload, comment="because")


def test_per_criterion_agreement_of_comparisons(users, django_user_model):
    from tests.preferences.factories import make_cmp_project, make_comparisons

    project = make_cmp_project(users, overlap=3)
    people = _cmp_annotators(project, users, django_user_model, "third")
    make_comparisons(project, users["lead"], 4)
    a, b = "model-a", "model-b"  # canonical responses 1 and 2
    # per annotator, per item: (overall, helpfulness, honesty); honesty is left out on the last item
    plant = {
        "annotator1": [(a, a, a), (a, b, "tie"), (b, b, b), (a, a, None)],
        "annotator2": [(a, a, a), (a, a, "tie"), (b, b, a), (a, "tie", None)],
        "third": [(b, a, a), (a, b, "both_bad"), (b, b, b), (a, a, None)],
    }
    for name, answers in plant.items():
        answers = [
            {"overall": o, "criteria": {k: v for k, v in (("helpfulness", h), ("honesty", s)) if v}}
            for o, h, s in answers
        ]
        for _ in answers:
            _judge_by_model(project, people[name], answers)
    data = recompute_agreement(project=project).data
    label = {a: "response 1", b: "response 2", "tie": "tie", "both_bad": "both_bad", None: None}
    rows = {(r["kind"], r["criterion"], r["type"]): r for r in data["criteria"]}
    for col, key in ((1, "helpfulness"), (2, "honesty")):
        row = rows[("comparison", key, "preference")]
        matrix = np.array([[label[x[col]] for x in plant[n]] for n in sorted(plant)], dtype=object)
        pairable = matrix[:, [i for i in range(4) if sum(v is not None for v in matrix[:, i]) >= 2]]
        assert row["version"] == 1 and row["level"] == "nominal"
        assert row["items"] == pairable.shape[1] and row["judgments"] == sum(
            v is not None for v in pairable.flat
        )
        assert row["alpha"] == pytest.approx(krippendorff_alpha(pairable, level="nominal"), abs=1e-4)
        assert row["percent"] == pytest.approx(percent_agreement(pairable), abs=1e-4)
    assert rows[("comparison", "honesty", "preference")]["items"] == 3
    # alongside the overall answer, which is unchanged
    overall = next(r for r in data["decisions"] if r["kind"] == "comparison" and r["version"] == "all")
    matrix = np.array([[label[x[0]] for x in plant[n]] for n in sorted(plant)], dtype=object)
    assert overall["alpha"] == pytest.approx(krippendorff_alpha(matrix, level="nominal"), abs=1e-4)


def test_consensus_leaves_the_annotator_out(project, users, django_user_model):
    """`third` always contradicts the others where they agree and sides with one of them where they
    split. Counting their own vote made them the majority on every split item (agreement 0.5); against
    the others alone they never agree, and split items have no consensus."""
    third = django_user_model.objects.create_user("third")
    project_services.set_membership(project=project, actor=users["admin"], user=third, role="annotator")
    project_services.update_project(project=project, actor=users["admin"], overlap=3)
    make_items(project, users["lead"], 12)
    acc, rej = "accept", "reject"
    agreed = [acc, rej, acc, rej, acc, rej]  # items 0-5: annotator1 = annotator2, third the opposite
    plant = {
        "annotator1": agreed + [acc] * 6,  # items 6-11: annotator1 and annotator2 split ...
        "annotator2": agreed + [rej] * 6,
        "third": [rej if x == acc else acc for x in agreed] + [acc, rej] * 3,  # ... and third sides
    }
    people = {"annotator1": users["annotator"], "annotator2": users["annotator2"], "third": third}
    items = list(project.items.order_by("id").values_list("id", flat=True))
    for name, answers in plant.items():
        for _ in answers:
            a = queue_services.next_assignment(project=project, user=people[name])
            decision = answers[items.index(a.item_id)]
            queue_services.submit_judgment(
                assignment=a, user=people[name], decision=decision, scores={"helpfulness": 3, "safe": True}
            )
    rows = {r["username"]: r for r in recompute_agreement(project=project).data["annotators"]["sft"]}
    mine = plant["third"]
    with_self = [max(set(col), key=col.count) for col in zip(*plant.values(), strict=True)]
    old_agree = sum(x == y for x, y in zip(mine, with_self, strict=True)) / 12
    old_kappa = cohen_kappa(mine, with_self)
    assert old_agree == 0.5 and old_kappa == pytest.approx(0.0)
    assert rows["third"]["agree_consensus"] == 0.0
    assert rows["third"]["kappa_consensus"] == pytest.approx(cohen_kappa(mine[:6], agreed), abs=1e-4)
    assert rows["third"]["kappa_consensus"] == pytest.approx(-1.0)
    assert rows["third"]["kappa_consensus"] < old_kappa - 0.5
    assert sum(map(sum, rows["third"]["confusion"]["matrix"])) == 6  # split items: no consensus


def test_ranking_tau_of_n_way_comparisons(users, django_user_model):
    """Three annotators rank like the truth, one reverses it, one swaps two responses on one item: tau
    about 1, exactly -1 and in between, each against the mean rank the other four gave (leave-one-out)."""
    from annotation.quality.agreement import kendall_tau
    from tests.preferences.factories import make_cmp_project, make_comparisons

    project = make_cmp_project(users, overlap=5)
    people = _cmp_annotators(project, users, django_user_model, "annotator3", "reverser", "swapper")
    make_comparisons(project, users["lead"], 3, models=("m1", "m2", "m3"))
    truth = [["m1", "m2", "m3"], ["m2", "m3", "m1"], ["m3", "m1", "m2"]]
    plant = {
        "annotator1": truth,
        "annotator2": truth,
        "annotator3": truth,
        "reverser": [t[::-1] for t in truth],
        "swapper": [truth[0], truth[1], ["m1", "m3", "m2"]],
    }
    for name, rankings in plant.items():
        for _ in rankings:
            _judge_by_model(project, people[name], [{"overall": r} for r in rankings])
    tau = recompute_agreement(project=project).data["ranking_tau"]
    tau = {name: tau[str(people[name].pk)] for name in plant}
    assert tau["annotator1"] == tau["annotator2"] == tau["annotator3"] == pytest.approx(1.0, abs=0.1)
    assert tau["reverser"] == -1.0
    # the reference: mean tau-b over items against the other annotators' mean ranks
    for name in plant:
        per_item = []
        for i in range(3):
            others = [plant[o][i] for o in plant if o != name]
            models = ["m1", "m2", "m3"]
            consensus = [np.mean([r.index(m) for r in others]) for m in models]
            per_item.append(kendall_tau([plant[name][i].index(m) for m in models], consensus))
        assert tau[name] == pytest.approx(np.mean(per_item), abs=1e-4)
    assert 0.5 < tau["swapper"] < tau["annotator1"]


def test_annotator_weekly_drift_against_the_others(planted, users):
    project, _ = planted
    data = recompute_agreement(project=project).data
    got = {(r["username"], r["week"]): (r["agree"], r["items"]) for r in data["annotator_weekly"]["sft"]}
    # week 1: item 0 (accept, accept, reject), item 1 (accept, reject, accept); week 2: all agree
    assert got == {
        ("annotator1", "2025-W03"): (1.0, 2),  # in week 1 the others tie on both of its items
        ("annotator2", "2025-W02"): (0.0, 1),
        ("annotator2", "2025-W03"): (1.0, 2),
        ("third", "2025-W02"): (0.0, 1),
        ("third", "2025-W03"): (1.0, 2),
    }


def test_drift_table_flags_an_annotator_whose_agreement_falls():
    from annotation.quality.drift import drift_tables

    rows = [
        {"username": "steady", "week": "2025-W01", "agree": 0.9, "items": 10},
        {"username": "steady", "week": "2025-W02", "agree": 0.85, "items": 10},
        {"username": "slipping", "week": "2025-W01", "agree": 0.9, "items": 10},
        {"username": "slipping", "week": "2025-W02", "agree": 0.6, "items": 12},
    ]
    (table,) = drift_tables({"sft": rows})
    assert table["weeks"] == ["2025-W01", "2025-W02"]
    assert {r["username"]: r["falling"] for r in table["rows"]} == {"slipping": True, "steady": False}
    assert table["rows"][0]["cells"][1] == {"agree": 0.6, "items": 12, "shade": 24}
