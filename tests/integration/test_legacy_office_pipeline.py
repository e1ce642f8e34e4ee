"""Legacy Word and PowerPoint through the real gateway and workers: text and metadata
arrive per page, and a file named .ppt that is really a PPTX is read as one.

The hostile .doc/.ppt fixtures run through the workers in test_hostile_pipeline.py.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.harness import CORPUS, ApiClient
from tests.legacy_office import presentation, summary_information, word_document

pytestmark = pytest.mark.integration

PROPERTIES = summary_information(
    title="Site survey", author="Ada Lovelace", last_saved_by="Grace Hopper", pages=2, words=9,
    created=datetime(2019, 5, 6, 7, 8, 9, tzinfo=UTC),
)


def test_legacy_word_and_powerpoint_succeed_with_their_text_per_page(api: ApiClient) -> None:
    uploads = {
        "survey.doc": word_document(
            "Site survey\rThe north field drains well.\x0cAppendix with soil samples.\r",
            headers="Survey office\r",
            properties=PROPERTIES,
        ),
        "survey.ppt": presentation(
            [("Site survey", "North field\nSouth field", "Draft only", "Mention the drainage"),
             ("Next steps", "Sample the soil", "", "")],
            properties=PROPERTIES,
        ),
    }
    ids = {}
    for name, data in uploads.items():
        response = api.upload_bytes(name, data)
        assert response.status_code == 202, response.text
        ids[name] = response.json()["id"]
    docs = {name: api.wait(doc_id) for name, doc_id in ids.items()}
    for name, doc in docs.items():
        assert doc["status"] == "succeeded", (name, doc)
        assert doc["metadata"]["title"] == "Site survey"
        assert doc["metadata"]["author"] == "Ada Lovelace"
        assert doc["metadata"]["pages"] == 2
    pages = {
        name: [page["text"] for page in api.get(f"/v1/documents/{doc['id']}/content").json()["pages"]]
        for name, doc in docs.items()
    }
    assert docs["survey.doc"]["mime"] == "application/msword"
    assert pages["survey.doc"] == ["Site survey\nThe north field drains well.",
                                   "Appendix with soil samples.\n\nSurvey office"]
    assert docs["survey.ppt"]["mime"] == "application/vnd.ms-powerpoint"
    assert pages["survey.ppt"] == [
        "Site survey\n\nNorth field\nSouth field\n\nDraft only\n\nMention the drainage",
        "Next steps\n\nSample the soil",
    ]


def test_a_pptx_named_ppt_is_read_as_a_pptx(api: ApiClient) -> None:
    doc = api.wait(api.upload(CORPUS / "office" / "language-docs__eng_spa_mult.ppt").json()["id"])
    assert doc["status"] == "succeeded", doc
    assert doc["mime"] == "application/vnd.openxmlformats-officedocument.presentationml.presentation"
    assert doc["metadata"]["pages"] == 6
