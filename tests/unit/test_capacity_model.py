"""bench/capacity.py's arithmetic: costs per document, page and MB, and the replica model."""

from __future__ import annotations

import pytest

from bench.capacity import MB, Sample, Volumes, plan, summarize


def test_costs_are_summed_per_stage_and_family_and_divided_by_documents_pages_and_megabytes() -> None:
    costs = summarize([
        Sample("content", "pdf", 3.0, pages=10, size=2 * MB),
        Sample("content", "pdf", 1.0, pages=2, size=2 * MB),
        Sample("content", "text", 0.5, pages=1, size=MB // 2),
    ])
    pdf = costs[("content", "pdf")]
    assert (pdf.documents, pdf.per_document, pdf.per_page, pdf.per_mb) == (2, 2.0, 4.0 / 12, 1.0)
    everything = costs[("content", "all")]
    assert everything.documents == 3
    assert everything.per_document == pytest.approx(4.5 / 3)
    assert everything.per_mb == pytest.approx(4.5 / 4.5)


def test_a_family_without_pages_or_bytes_costs_zero_per_page_instead_of_dividing_by_zero() -> None:
    cost = summarize([Sample("validate", "unknown", 0.2, pages=0, size=0)])[("validate", "unknown")]
    assert (cost.per_page, cost.per_mb) == (0.0, 0.0)


def test_replicas_cover_the_peak_hour_at_the_planned_utilization() -> None:
    volumes = Volumes(documents=10, rows={"documents": 1.0, "chunks": 9.0}, pg_bytes={"documents": 1000.0},
                      messages=5.0, stored_bytes=2000.0)
    # 864,000 docs/day = 10 docs/s; 0.35 s each = 3.5 busy processes; x2 peak / 0.7 = 10.
    result = plan(864_000, {"ai": 0.35, "validate": 0.001}, volumes, peak=2.0, utilization=0.7)
    assert result.replicas == {"ai": 10, "validate": 1}
    assert result.messages_per_second_peak == pytest.approx(100.0)
    assert result.pg_rows_per_day == pytest.approx(8_640_000)
    assert result.pg_writes_per_second_peak == pytest.approx(200.0)
    assert result.storage_bytes_per_day == pytest.approx(864_000 * 2000)
