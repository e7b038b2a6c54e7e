from fastapi.testclient import TestClient

from app.models import ChecklistItem, Condition, MaintenanceCategory, Tier


def test_every_vocabulary_has_every_value_with_a_chinese_label(client: TestClient) -> None:
    response = client.get("/api/v1/vocabulary")  # public: a phone caches it before sign-in
    assert response.status_code == 200
    body = response.json()
    assert [t["value"] for t in body["tiers"]] == [t.value for t in Tier]
    assert [t["value"] for t in body["conditions"]] == [c.value for c in Condition]
    assert [t["value"] for t in body["maintenance_categories"]] == [
        c.value for c in MaintenanceCategory
    ]
    items = {t["value"]: t for t in body["checklist_items"]}
    assert list(items) == [i.value for i in ChecklistItem]
    assert items["marker_sign"]["label_zh"] == "保护标志"
    assert items["surroundings_tidy"]["problem_zh"] == "周边环境脏乱"
    assert all(term["label_zh"] for terms in body.values() for term in terms)
