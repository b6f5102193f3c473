"""Parsing is tolerant of what the API leaves out and strict about what the timeline relies on."""

from __future__ import annotations

import copy
from datetime import date
from typing import Any

import pytest

from employes_sync.employes.fakedata import generate_company
from employes_sync.employes.models import (
    EmployeePage,
    InvalidRecord,
    parse_date,
    parse_employee,
    parse_employee_page,
    parse_employment,
    parse_employments,
    unwrap_employee,
)

EMPLOYMENT: dict[str, Any] = {
    "id": "emp-1",
    "start_date": "2022-03-01T00:00:00",
    "salary": [
        {"start_date": "2022-03-01T00:00:00", "end_date": "2022-12-31T00:00:00", "hour_wage": 20.5},
        {"start_date": "2023-01-01T00:00:00", "hour_wage": 21.0, "month_wage": "3640.00"},
    ],
    "hours": [{"start_date": "2022-03-01T00:00:00", "hours_per_week": 32, "days_per_week": 4}],
    "contracts": [{"start_date": "2022-03-01T00:00:00", "contract_duration": "definite", "is_signed": True}],
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-09-01T00:00:00", date(2024, 9, 1)),
        ("2024-09-01", date(2024, 9, 1)),
        ("2024-02-29T13:45:10.123456", date(2024, 2, 29)),
        ("2024-09-01 08:30:00", date(2024, 9, 1)),
        ("2024-09-01T00:00:00Z", date(2024, 9, 1)),  # the timeline always took these: so does the parser
        ("2024-09-01T00:00:00+02:00", date(2024, 9, 1)),
    ],
)
def test_dates_the_api_sends_parse_to_the_calendar_day(text: str, expected: date) -> None:
    assert parse_date(text) == expected


@pytest.mark.parametrize(
    "text", ["31-12-1990", "2024-13-01", "2023-02-29T00:00:00", "2024-09-01T25:00:00", "", "yesterday"]
)
def test_impossible_or_foreign_dates_are_rejected(text: str) -> None:
    with pytest.raises(InvalidRecord):
        parse_date(text)


def test_an_employee_with_only_an_id_is_fine_and_unknown_fields_are_kept() -> None:
    parsed = parse_employee({"id": "e1", "favourite_colour": "oranje", "nested": {"x": [1]}})
    assert parsed == {"id": "e1", "favourite_colour": "oranje", "nested": {"x": [1]}}


def test_parsing_returns_a_copy_and_leaves_the_input_alone() -> None:
    raw = {"id": "e1", "yearly_wage": "52000.50", "employment": {"salary": {"month_wage": "4000"}}}
    before = copy.deepcopy(raw)
    parsed = parse_employee(raw)
    assert raw == before
    assert parsed is not raw and parsed["employment"] is not raw["employment"]
    # Checked, not rewritten: a decimal string stays the string the API sent (no float in between).
    assert parsed["yearly_wage"] == "52000.50"
    assert parsed["employment"]["salary"]["month_wage"] == "4000"


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ({"first_name": "Jan"}, "employee.id: missing"),
        ({"id": ""}, "employee.id: not a usable id"),
        ({"id": 12345}, "employee.id: not a string (int)"),
        ({"id": "e1", "date_of_birth": "31-12-1990"}, "employee.date_of_birth"),
        ({"id": "e1", "yearly_wage": "lots"}, "employee.yearly_wage: not a number"),
        ({"id": "e1", "yearly_wage": True}, "employee.yearly_wage: not a number (bool)"),
        ({"id": "e1", "yearly_wage": float("nan")}, "finite"),
        ({"id": "e1", "employment": "current"}, "employee.employment: not an object"),
        (
            {"id": "e1", "employment": {"salary": {"hour_wage": "n/a"}}},
            "employee.employment.salary.hour_wage",
        ),
        (
            {"id": "e1", "employment": {"contract": {"end_date": "soon"}}},
            "employee.employment.contract.end_date",
        ),
        (["not", "an", "object"], "employee: not an object"),
    ],
)
def test_an_invalid_employee_names_the_field(record: Any, reason: str) -> None:
    with pytest.raises(InvalidRecord) as caught:
        parse_employee(record)
    assert reason in caught.value.reason
    assert isinstance(caught.value, ValueError)


def test_an_employment_with_open_periods_and_null_end_dates_is_valid() -> None:
    employment = copy.deepcopy(EMPLOYMENT)
    employment["end_date"] = None
    parsed = parse_employment(employment)
    assert "end_date" not in parsed["salary"][1]
    assert parsed["salary"][1]["month_wage"] == "3640.00"
    assert parsed["hours"][0]["hours_per_week"] == 32


def test_an_employment_without_period_lists_is_valid() -> None:
    assert parse_employment({"id": "x", "start_date": "2020-01-01T00:00:00"})["id"] == "x"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda e: e.pop("start_date"), "employment.start_date: missing"),
        (lambda e: e.update(id=None), "employment.id: missing"),
        (lambda e: e.update(salary={"start_date": "2020-01-01"}), "employment.salary: not a list"),
        (lambda e: e["salary"][1].pop("start_date"), "employment.salary[1].start_date: missing"),
        (lambda e: e["salary"][0].update(hour_wage="n/a"), "employment.salary[0].hour_wage"),
        (lambda e: e["hours"][0].update(days_per_week=[4]), "employment.hours[0].days_per_week"),
        (lambda e: e["contracts"][0].update(sign_date="gisteren"), "employment.contracts[0].sign_date"),
        (lambda e: e["contracts"].append("permanent"), "employment.contracts[1]: not an object"),
    ],
)
def test_an_invalid_employment_names_the_field(change: Any, reason: str) -> None:
    employment = copy.deepcopy(EMPLOYMENT)
    change(employment)
    with pytest.raises(InvalidRecord) as caught:
        parse_employment(employment)
    assert reason in caught.value.reason


def test_employments_come_wrapped_or_bare() -> None:
    assert [e["id"] for e in parse_employments({"data": [EMPLOYMENT]})] == ["emp-1"]
    assert [e["id"] for e in parse_employments([EMPLOYMENT])] == ["emp-1"]
    assert parse_employments({"data": []}) == []
    assert parse_employments([]) == []
    assert parse_employments({"data": None}) == []


def test_one_bad_employment_rejects_the_list_with_its_position() -> None:
    bad = {**EMPLOYMENT, "start_date": "31/12/2020"}
    with pytest.raises(InvalidRecord, match=r"employments\[1\]: employment.start_date"):
        parse_employments([EMPLOYMENT, bad])
    with pytest.raises(InvalidRecord, match="not a list"):
        parse_employments({"data": "none"})


def test_a_page_keeps_the_good_records_and_names_the_bad_ones() -> None:
    body = {
        "data": [{"id": "a"}, {"first_name": "no id"}, {"id": "c", "date_of_birth": "31-12-1990"}, "junk"],
        "total": 204,
        "pages": 3,
    }
    page = parse_employee_page(body, page=2, per_page=100)
    assert isinstance(page, EmployeePage)
    assert [e["id"] for e in page.employees] == ["a"]
    assert [index for index, _ in page.invalid] == [1, 2, 3]
    assert "employee.id: missing" in page.invalid[0][1]
    assert page.invalid[1][1].startswith("id c: employee.date_of_birth")
    assert (page.page, page.pages, page.total) == (2, 3, 204)


@pytest.mark.parametrize(
    ("body", "per_page", "pages"),
    [
        ({"data": [{"id": "a"}], "total": 200}, 100, 2),  # an exact multiple: no phantom third page
        ({"data": [{"id": "a"}], "total": 201}, 100, 3),
        ({"data": [{"id": str(i)} for i in range(10)]}, 10, 2),  # a full page: there may be more
        ({"data": [{"id": "a"}]}, 10, 1),  # a short page is the last
        ({"data": [], "total": 0, "pages": 0}, 100, 0),
    ],
)
def test_missing_page_counts_are_derived(body: dict[str, Any], per_page: int, pages: int) -> None:
    assert parse_employee_page(body, page=1, per_page=per_page).pages == pages


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"employees": []},
        {"data": {"id": "a"}},
        {"data": [], "pages": "many"},
        {"data": [], "total": -1},
        {"data": [], "total": 2.5},
    ],
)
def test_a_page_of_the_wrong_shape_raises(body: Any) -> None:
    with pytest.raises(InvalidRecord):
        parse_employee_page(body)


def test_single_employee_envelope_is_unwrapped() -> None:
    assert unwrap_employee({"data": {"id": "a"}}) == {"id": "a"}
    assert unwrap_employee({"id": "a", "data": {"x": 1}}) == {"id": "a", "data": {"x": 1}}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_all_generated_data_parses(seed: int) -> None:
    for sim in generate_company(60, seed):
        assert parse_employee(sim.employee) == sim.employee
        assert parse_employments({"data": sim.employments}) == sim.employments
