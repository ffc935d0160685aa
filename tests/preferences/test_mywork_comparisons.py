"""The "My work" page reads comparisons through the kind contract: agreement with the final answer
routing gave (both annotators preferred the same model), and a bounded number of statements."""

import pytest
from django.urls import reverse

from annotation.models import Item, ItemState
from tests.preferences.factories import judge, make_cmp_project, make_comparisons

pytestmark = pytest.mark.django_db


def test_my_work_agreement_on_comparisons(client, users, django_assert_max_num_queries):
    cmp = make_cmp_project(users)  # routing on, two annotators per comparison
    make_comparisons(cmp, users["lead"], 3)
    for _ in range(3):
        judge(cmp, users["annotator"], prefer="model-a", duration_seconds=9.0)
    judge(cmp, users["annotator2"], prefer="model-a")  # agrees: approved, final answer model-a
    judge(cmp, users["annotator2"], prefer="model-b")  # disagrees: disputed, no final answer yet
    states = sorted(Item.objects.filter(project=cmp).values_list("state", flat=True))
    assert states.count(ItemState.APPROVED) == 1 and states.count(ItemState.DISPUTED) == 1
    client.force_login(users["annotator"])
    with django_assert_max_num_queries(6):
        html = client.get(reverse("annotation:my-work", args=[cmp.pk])).content.decode()
    assert '<span class="stat-num" id="my-judgments">3</span>' in html
    assert '<span class="stat-num" id="my-median">9.0 s</span>' in html
    assert '<span class="stat-num" id="my-agreement">100%</span>' in html and "(1 of 1)" in html
