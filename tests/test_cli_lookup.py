"""Which employee a typed word names: an id, or an employee number as HR writes it."""

from __future__ import annotations

from typing import Any

import pytest

from employes_sync.cli.lookup import AmbiguousEmployee, which_employee


def rows(*pairs: tuple[str, str | None]) -> list[dict[str, Any]]:
    return [{"employee_id": employee_id, "employee_number": number} for employee_id, number in pairs]


STAFF = rows(("a1", "41"), ("b2", "7"), ("c3", None), ("41", "9"))


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("a1", "a1"),  # an id
        ("7", "b2"),  # a number
        ("007", "b2"),  # padded, as payroll exports write it
        (" 7 ", "b2"),
        ("41", "41"),  # an id that looks like another employee's number reaches its own employee
        ("9", "41"),
        ("c3", "c3"),  # no number at all
        ("8", None),
        ("", None),
    ],
)
def test_an_id_or_a_number_names_one_employee(typed: str, expected: str | None) -> None:
    assert which_employee(typed, STAFF) == expected


def test_a_number_two_employees_have_is_no_answer() -> None:
    staff = rows(("x1", "12"), ("x2", "012"), ("x3", "5"))
    with pytest.raises(AmbiguousEmployee) as caught:
        which_employee("12", staff)
    assert str(caught.value) == "2 employees have number 12: pass one id (x1, x2)"
    many = rows(*((f"id{i}", "3") for i in range(5)))
    with pytest.raises(
        AmbiguousEmployee, match=r"^5 employees have number 3: pass one id \(id0, id1, id2 and 2 more\)$"
    ):
        which_employee("3", many)


def test_a_number_that_is_not_digits_matches_only_as_written() -> None:
    staff = rows(("p", "A-12"), ("q", "12"))
    assert which_employee("A-12", staff) == "p"
    assert which_employee("a-12", staff) is None
