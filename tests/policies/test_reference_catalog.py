"""The shipped catalog holds every family and identifier of the shared reference table."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from policies import Policy

REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference" / "app-identifiers.tsv"


# Guesses of the reference that were re-checked and found right, with where they were checked.
RECHECKED = {
    ("discord", "linux", "exe", "Discord"): "Arch PKGBUILD _pkgname=Discord; deb/tarball layout",
}


def reference_rows() -> list[dict[str, str]]:
    with REFERENCE.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def test_reference_table_is_present() -> None:
    """The reference table sits beside the project, as in CI; without it this proves nothing."""
    assert REFERENCE.is_file(), f"missing {REFERENCE}"
    assert len(reference_rows()) > 100


@pytest.mark.parametrize(
    "row",
    reference_rows() if REFERENCE.is_file() else [],
    ids=lambda r: f"{r['family']}:{r['platform']}.{r['kind']}:{r['identifier']}",
)
def test_every_reference_identifier_is_in_the_catalog(shipped: Policy, row: dict[str, str]) -> None:
    """Each reference row is an identifier of the same family, platform and kind; guesses are
    marked unverified unless re-checked."""
    family = shipped.families.get(row["family"])
    assert family is not None, f"family {row['family']} missing"
    matches = [
        i
        for i in family.identifiers
        if (i.platform, i.kind, i.value) == (row["platform"], row["kind"], row["identifier"])
    ]
    assert matches, f"{row['identifier']} missing from {row['family']}"
    key = (row["family"], row["platform"], row["kind"], row["identifier"])
    if row["confidence"] == "guess":
        assert matches[0].unverified is (key not in RECHECKED)


def test_reference_categories_are_kept(shipped: Policy) -> None:
    """A family's category is one the reference gives it."""
    by_family: dict[str, set[str]] = {}
    for row in reference_rows():
        by_family.setdefault(row["family"], set()).add(row["category"])
    for family_id, categories in by_family.items():
        assert shipped.families[family_id].category in categories
