"""The provider's list readers follow every page: data-plane lists by `after` while `has_more`,
through the real openai client; ARM lists by `nextLink`, through the real ARM client."""

from __future__ import annotations

from typing import Any

from reconciler.providers.azure import arm_list, data_pages
from tests.emulator.conftest import BASE_MODEL, RG, chat_lines, upload_processed
from tests.helpers import SUBSCRIPTION


def test_data_pages_follow_after_until_has_more_is_false(emulator: Any, client: Any) -> None:
    training = upload_processed(emulator, client, chat_lines())
    created = [
        client.fine_tuning.jobs.create(model=BASE_MODEL, training_file=training.id, seed=i).id
        for i in range(5)
    ]
    asked: list[Any] = []

    def two_a_page(**kwargs: Any) -> Any:
        asked.append(kwargs.get("after"))
        return client.fine_tuning.jobs.with_raw_response.list(limit=2, **kwargs)

    items, date = data_pages(two_a_page)
    assert sorted(j["id"] for j in items) == sorted(created)
    assert len(asked) == 3 and asked[0] is None and date  # 2 + 2 + 1, the Date header kept


def test_arm_list_follows_next_link(emulator: Any, arm: Any, account: str) -> None:
    body = {
        "sku": {"name": "Standard", "capacity": 1},
        "properties": {
            "model": {"format": "OpenAI", "name": "gpt-4o-mini", "version": "2024-07-18"}
        },
    }
    names = [f"d{i}" for i in range(5)]
    for name in names:
        arm.deployments.begin_create_or_update(RG, account, name, body).result()
    url = (
        f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RG}"
        f"/providers/Microsoft.CognitiveServices/accounts/{account}/deployments"
    )
    listed = [d["name"] for d in arm_list(arm, url)]  # the tests' emulator: 2 a page
    assert sorted(listed) == names
