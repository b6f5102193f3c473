"""Deterministic, realistic payroll data for the simulator, the demo and tests.

The shapes copy what the Employes API returns in practice (dates `YYYY-MM-DDT00:00:00` without a
zone, open periods without an `end_date` key, decimals as JSON numbers). Every history the timeline
must handle appears in any company of 24 or more employees: fixed-term contracts renewed and turned
permanent, raises and the odd pay cut, hours changes (one of days only), ended and re-hired
employments, employees with no employments at all (answered both as `[]` and as 404), non-ASCII
names; and the cases an HR reader checks: a fixed-term contract that lapsed with no follow-up
registered, an unsigned renewal, changes planned after `AS_OF` (a raise, a permanent contract),
notice given (an end date still to come), a switch from a monthly to an hourly wage, a fixed-term
contract alongside a permanent one, a gap of more than six months between fixed-term contracts, and
one chain of fixed-term contracts past the legal maximum (kept on purpose; every other chain is
lawful: at most 36 months, art. 7:668a BW).
"""

from __future__ import annotations

import calendar
import random
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

__all__ = ["AS_OF", "DEMO_COMPANY_ID", "DEMO_TOKEN", "SimEmployee", "generate_company", "generate_employee"]

DEMO_COMPANY_ID = "00000000-0000-4000-8000-000000000001"  # the one examples/ and the chart use
DEMO_TOKEN = "demo-token"  # the simulator's default; not a secret of any real account
AS_OF = date(2025, 6, 1)  # the simulated "today", fixed so data never depends on the clock


@dataclass(frozen=True)
class SimEmployee:
    """One simulated employee: the list/detail object and the employments endpoint's answer."""

    employee: dict[str, Any]
    employments: list[dict[str, Any]]
    employments_not_found: bool = False  # no employments, and the API says so with a 404

    @property
    def id(self) -> str:
        return str(self.employee["id"])


# fmt: off
_FIRST_NAMES: tuple[tuple[str, str], ...] = (
    ("Jan", "male"), ("Sanne", "female"), ("Daan", "male"), ("Fleur", "female"), ("Thijs", "male"),
    ("Lotte", "female"), ("Bram", "male"), ("Anouk", "female"), ("Sem", "male"), ("Eva", "female"),
    ("Mohamed", "male"), ("Fatima", "female"), ("Ayşe", "female"), ("Chloé", "female"), ("Zoë", "female"),
    ("Björn", "male"), ("Søren", "male"), ("Renée", "female"), ("Joël", "male"), ("Maartje", "female"),
    ("IJsbrand", "male"), ("Noor", "female"), ("Iñigo", "male"), ("Łukasz", "male"), ("Małgorzata", "female"),
    ("Jürgen", "male"), ("Siobhán", "female"), ("João", "male"), ("François", "male"), ("Élodie", "female"),
    ("Kees", "male"), ("Wouter", "male"), ("Anneke", "female"), ("Gerrit", "male"), ("Mirjam", "female"),
    ("Dewi", "female"), ("Priya", "female"), ("Wei", "male"), ("Yusuf", "male"), ("Zeynep", "female"),
    ("Femke", "female"), ("Ruud", "male"), ("Ingrid", "female"), ("Stijn", "male"), ("Brigitte", "female"),
)
_SURNAMES: tuple[tuple[str, str], ...] = (
    ("van der", "Berg"), ("de", "Vries"), ("van", "Dijk"), ("", "Bakker"), ("", "IJsselmuiden"),
    ("van den", "IJssel"), ("", "Jansen"), ("", "Visser"), ("", "Smit"), ("", "Meijer"), ("de", "Boer"),
    ("", "Mulder"), ("de", "Groot"), ("", "Bos"), ("", "Vos"), ("", "Peters"), ("", "Hendriks"),
    ("van", "Leeuwen"), ("", "Dekker"), ("", "Brouwer"), ("de", "Wit"), ("", "Dijkstra"), ("de", "Graaf"),
    ("van der", "Meer"), ("van der", "Linden"), ("", "Kok"), ("de", "Haan"), ("", "Vermeulen"),
    ("van den", "Heuvel"), ("van der", "Veen"), ("van den", "Broek"), ("de", "Bruijn"), ("de", "Jong"),
    ("", "Schouten"), ("van", "Beek"), ("", "Hoekstra"), ("", "Çelik"), ("", "Yılmaz"), ("", "Müller"),  # noqa: RUF001
    ("", "Weiß"), ("", "Strauß"), ("", "Kowalczyk"), ("", "Nørgaard"), ("", "Øvergaard"),
    ("", "García Márquez"), ("", "Nguyễn"), ("", "O'Brien"), ("", "IJzerman"), ("in 't", "Veld"),
    ("", "Ĳzendoorn"),
)
_STREETS = (
    "Prinsengracht", "Keizersgracht", "Oudegracht", "Coolsingel", "Lange Voorhout", "Kerkstraat",
    "Dorpsstraat", "Stationsweg", "Molenweg", "Eikenlaan", "Beukenlaan", "Schoolstraat", "IJsselkade",
    "Burgemeester de Withstraat", "Sint-Jansstraat",
)
_CITIES = (
    ("Amsterdam", "10"), ("Rotterdam", "30"), ("Utrecht", "35"), ("'s-Hertogenbosch", "52"),
    ("Den Haag", "25"), ("IJsselstein", "34"), ("Zwolle", "80"), ("Leeuwarden", "89"), ("Groningen", "97"),
    ("Eindhoven", "56"), ("Maastricht", "62"), ("Ouderkerk aan de Amstel", "11"), ("Sint-Oedenrode", "54"),
)
_COUNTRIES = ("NL",) * 17 + ("BE", "DE", "PL")
_BANKS = ("ABNA", "INGB", "RABO", "TRIO", "KNAB", "BUNQ", "SNSB")
# fmt: on
_HOURS = (40.0, 40.0, 38.0, 36.0, 32.0, 32.0, 24.0, 20.0, 16.0)

# A block of 24 employees holds every kind of history once; blocks are shuffled per seed.
_SCENARIOS = (
    ("steady",) * 5
    + ("ended", "ended", "rehired", "rehired", "rehired_ended", "none_empty", "none_404", "new_hire")
    + ("pay_cut", "flex", "lapsed", "unsigned_renewal", "planned_changes", "notice_given", "days_only")
    + ("pay_basis_switch", "overlap", "long_gap", "chain_exceeded")
)
#: Statutory chain of fixed-term contracts (art. 7:668a BW): at most this many months in all.
_CHAIN_MONTHS = 36


def generate_company(n: int, seed: int = 1) -> list[SimEmployee]:
    """`n` employees, identical for the same (n, seed); the first k of a larger company are the same."""
    if n < 0:
        raise ValueError("n must be >= 0")
    return [generate_employee(index, seed) for index in range(n)]


def generate_employee(index: int, seed: int = 1) -> SimEmployee:
    """Employee number `index` of a company, independent of the others (so lazy generation works)."""
    block, slot = divmod(index, len(_SCENARIOS))
    order = list(_SCENARIOS)
    random.Random(f"esync-block:{seed}:{block}").shuffle(order)
    scenario = order[slot]
    rng = random.Random(f"esync-employee:{seed}:{index}")

    employee = _person(rng, index)
    employments = _employments(rng, scenario)
    _attach_current(rng, employee, employments)
    if rng.random() < 0.2:
        rng.shuffle(employments)  # the API does not promise any order
    return SimEmployee(
        employee=employee, employments=employments, employments_not_found=scenario == "none_404"
    )


# -- people -------------------------------------------------------------------------------------


def _person(rng: random.Random, index: int) -> dict[str, Any]:
    first, gender = rng.choice(_FIRST_NAMES)
    prefix, surname = rng.choice(_SURNAMES)
    middle = rng.choice(_FIRST_NAMES)[0] if rng.random() < 0.3 else None
    initials = "".join(f"{_initial(name)}." for name in (first, middle) if name)
    city, zip_prefix = rng.choice(_CITIES)
    created = _day(rng, date(2015, 1, 1), date(2025, 3, 1))
    person: dict[str, Any] = {
        "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "first_name": first,
        "surname": surname,
        "surname_prefix": prefix or None,
        "initials": initials,
        "gender": gender,
        "date_of_birth": _ts(_day(rng, date(1960, 1, 1), date(2005, 12, 31))),
        "street": rng.choice(_STREETS),
        "housenumber": str(rng.randint(1, 250)),
        "housenumber_suffix": rng.choice(("", "", "", "A", "B", "bis", "-2", "hs")) or None,
        "zipcode": f"{zip_prefix}{rng.randint(10, 99)} {rng.choice('ABCDEGHJKLMNPRSTVWXZ')}"
        f"{rng.choice('ABCDEGHJKLMNPRSTVWXZ')}",
        "city": city,
        "country_code": rng.choice(_COUNTRIES),
        "email": f"{_ascii(first)}.{_ascii(prefix + surname)}{index}@example.com",
        "phone_number": f"+31 6 {rng.randint(10000000, 99999999)}",
        "employee_number": index + 1,
        "employee_type_id": rng.choice((1, 1, 1, 2, 3)),
        "status": "active",
        "dt_create": _ts(created, rng),
        "dt_update": _ts(min(AS_OF, created + timedelta(days=rng.randint(0, 900))), rng),
    }
    if rng.random() < 0.9:
        person["iban"] = _iban(rng)
    if rng.random() < 0.7:
        person["personal_identification_number"] = _bsn(rng)
    return person


def _initial(name: str) -> str:
    return "IJ" if name.startswith("IJ") else name[0]


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text.replace("ß", "ss").replace("ø", "o").replace("Ø", "O"))
    return "".join(ch for ch in folded if ch.isascii() and ch.isalnum()).lower()


def _iban(rng: random.Random) -> str:
    bank = rng.choice(_BANKS)
    account = f"{rng.randint(0, 9_999_999_999):010d}"
    digits = "".join(str(int(ch, 36)) for ch in f"{bank}{account}NL00")
    check = 98 - int(digits) % 97
    return f"NL{check:02d}{bank}{account}"


def _bsn(rng: random.Random) -> str:
    # A Dutch citizen service number passes the "elfproef": sum(d_i * (9..2)) - d9 = 0 (mod 11).
    while True:
        digits = [rng.randint(1, 9)] + [rng.randint(0, 9) for _ in range(7)]
        last = sum(d * w for d, w in zip(digits, range(9, 1, -1), strict=True)) % 11
        if last < 10:
            return "".join(map(str, digits)) + str(last)


# -- employments --------------------------------------------------------------------------------


def _employments(rng: random.Random, scenario: str) -> list[dict[str, Any]]:
    if scenario in ("none_empty", "none_404"):
        return []
    if scenario in _SPECIAL:
        return [_SPECIAL[scenario](rng)]
    if scenario == "new_hire":
        start = _first_of_month(_day(rng, date(2024, 10, 1), date(2025, 5, 1)))
        return [_employment(rng, start, None, first_fixed_only=True)]
    if scenario in ("rehired", "rehired_ended"):
        count = 3 if rng.random() < 0.25 else 2
        result = []
        start = _day(rng, date(2013, 1, 1), date(2017, 1, 1))
        for number in range(count):
            last = number == count - 1
            if last and scenario == "rehired":
                result.append(_employment(rng, start, None))
                break
            until = min(start + timedelta(days=rng.randint(200, 1100)), AS_OF - timedelta(days=40))
            result.append(_employment(rng, start, until))
            # Over six months away: the re-hire starts a new chain of fixed-term contracts (lawful).
            start = _first_of_month(until + timedelta(days=rng.randint(215, 500)))
            if start >= AS_OF - timedelta(days=60):
                break
        return result
    start = _day(rng, date(2013, 1, 1), date(2023, 6, 1))
    if rng.random() < 0.6:
        start = _first_of_month(start)
    end = None
    if scenario == "ended":
        end = min(start + timedelta(days=rng.randint(180, 2500)), AS_OF - timedelta(days=20))
    return [_employment(rng, start, end, force_cut=scenario == "pay_cut", flex=scenario == "flex")]


def _employment(
    rng: random.Random,
    start: date,
    end: date | None,
    *,
    first_fixed_only: bool = False,
    force_cut: bool = False,
    flex: bool = False,
) -> dict[str, Any]:
    horizon = end or AS_OF
    contracts = _contracts(rng, start, end, first_fixed_only)
    hours = _hours(rng, start, end, horizon, flex)
    salary = _salary(rng, start, end, horizon, hours, force_cut)
    employment: dict[str, Any] = {
        "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "start_date": _ts(start),
        "salary": salary,
        "hours": hours,
        "contracts": contracts,
    }
    if end is not None:
        employment["end_date"] = _ts(end)
    for periods in (salary, hours, contracts):
        if rng.random() < 0.15:
            rng.shuffle(periods)
    return employment


def _contracts(
    rng: random.Random, start: date, end: date | None, first_fixed_only: bool
) -> list[dict[str, Any]]:
    # Dutch practice: up to three fixed-term ("definite") contracts, then permanent.
    fixed_terms = 1 if first_fixed_only else rng.choice((0, 1, 1, 2, 2, 3))
    spans: list[tuple[date, date | None, str]] = []
    cursor: date | None = start
    chain_months = 0
    for _ in range(fixed_terms):
        assert cursor is not None
        months = rng.choice((6, 7, 12, 12, 24)) if not first_fixed_only else 12
        if chain_months + months > _CHAIN_MONTHS:
            break  # a lawful chain: the next contract is permanent
        chain_months += months
        until = _add_months(cursor, months) - timedelta(days=1)
        if end is not None and until >= end:
            spans.append((cursor, end, "definite"))
            cursor = None
            break
        spans.append((cursor, until, "definite"))
        cursor = until + timedelta(days=1)
        if not first_fixed_only and cursor > AS_OF:
            cursor = None
            break
    if cursor is not None and not first_fixed_only:
        spans.append((cursor, end, "permanent"))
    contracts = []
    for index, (since, ends, duration) in enumerate(spans):
        contract: dict[str, Any] = {"start_date": _ts(since), "contract_duration": duration}
        if ends is not None:
            contract["end_date"] = _ts(ends)
        newest = index == len(spans) - 1
        if newest and since > AS_OF - timedelta(days=45) and rng.random() < 0.5:
            contract["is_signed"] = False  # a fresh renewal still waiting for a signature
        else:
            contract["is_signed"] = True
            contract["sign_date"] = _ts(since - timedelta(days=rng.randint(1, 30)))
        contracts.append(contract)
    return contracts


def _hours(
    rng: random.Random, start: date, end: date | None, horizon: date, flex: bool
) -> list[dict[str, Any]]:
    current = rng.choice((0.0, 8.0, 16.0)) if flex else rng.choice(_HOURS)
    changes = sorted({_first_of_month(_day(rng, start, horizon)) for _ in range(rng.choice((0, 0, 1, 1, 2)))})
    changes = [d for d in changes if start < d <= horizon]
    periods = []
    since = start
    for change in [*changes, None]:
        period = {
            "start_date": _ts(since),
            "hours_per_week": current,
            "days_per_week": _days_for(current),
            "employee_type": "fulltime" if current >= 36 else "parttime",
        }
        until = (change - timedelta(days=1)) if change else end
        if until is not None:
            period["end_date"] = _ts(until)
        periods.append(period)
        if change is None:
            break
        choices = [h for h in _HOURS if h != current]
        current = rng.choice(choices)
        since = change
    return periods


def _salary(
    rng: random.Random,
    start: date,
    end: date | None,
    horizon: date,
    hours: list[dict[str, Any]],
    force_cut: bool,
) -> list[dict[str, Any]]:
    # A raise every January (and sometimes mid-year on promotion); now and then a cut.
    wage = round(rng.uniform(14.0, 42.0), 2)
    dates = [start]
    year = start.year + 1
    while date(year, 1, 1) <= horizon:
        dates.append(date(year, 1, 1))
        if rng.random() < 0.15:
            mid = date(year, rng.choice((4, 7, 10)), 1)
            if mid <= horizon:
                dates.append(mid)
        year += 1
    cut_at = rng.randrange(1, len(dates)) if force_cut and len(dates) > 1 else None
    raises = set(dates[1:])
    # Payroll writes a new salary period when the hours change: same hourly wage, new month wage.
    hour_changes = {_parse(p["start_date"]) for p in hours} - {start}
    dates = sorted(set(dates) | hour_changes)
    cut_day = sorted(raises)[cut_at - 1] if cut_at else None
    periods = []
    for number, since in enumerate(dates):
        if since in raises:
            if since == cut_day or rng.random() < 0.015:
                wage = round(wage * (1 - rng.uniform(0.02, 0.08)), 2)
            elif rng.random() < 0.1:
                pass  # a year without a raise: the API still sends a new, equal period
            else:
                wage = round(wage * (1 + rng.uniform(0.015, 0.06)), 2)
        hours_then = _hours_on(hours, since) or 40.0
        month = round(wage * (hours_then or 40.0) * 52 / 12, 2)
        period: dict[str, Any] = {
            "start_date": _ts(since),
            "hour_wage": wage,
            "month_wage": month,
            "yearly_wage": round(month * 12.96, 2),  # twelve months plus 8% holiday allowance
        }
        until = (dates[number + 1] - timedelta(days=1)) if number + 1 < len(dates) else end
        if until is not None:
            period["end_date"] = _ts(until)
        periods.append(period)
    return periods


def _hours_on(hours: list[dict[str, Any]], day: date) -> float | None:
    found = None
    for period in sorted(hours, key=lambda p: p["start_date"]):
        if period["start_date"] <= _ts(day):
            found = period["hours_per_week"]
    return found


def _days_for(hours: float) -> float:
    return max(1.0, min(5.0, float(round(hours / 8)))) if hours else 0.0


def _attach_current(rng: random.Random, employee: dict[str, Any], employments: list[dict[str, Any]]) -> None:
    """The list endpoint nests the latest employment's current contract, salary and tax details."""
    if not employments:
        return
    latest = max(employments, key=lambda e: e["start_date"])
    contract = max(latest["contracts"], key=lambda c: c["start_date"]) if latest["contracts"] else {}
    hours = max(latest["hours"], key=lambda h: h["start_date"])
    salary = max(latest["salary"], key=lambda s: s["start_date"])
    flex = hours["hours_per_week"] < 12
    current_contract: dict[str, Any] = {
        "start_date": contract.get("start_date", latest["start_date"]),
        "hours_per_week": hours["hours_per_week"],
        "min_hours": 0.0 if flex else hours["hours_per_week"],
        "max_hours": 24.0 if flex else hours["hours_per_week"],
        "days_per_week": hours["days_per_week"],
        "employee_type": hours["employee_type"],
    }
    if "end_date" in contract:
        current_contract["end_date"] = contract["end_date"]
    current: dict[str, Any] = {
        "start_date": latest["start_date"],
        "contract": current_contract,
        "salary": {
            key: salary[key]
            for key in ("start_date", "hour_wage", "month_wage", "yearly_wage")
            if key in salary
        },
        "tax_details": {"start_date": latest["start_date"], "is_reduction_applied": rng.random() < 0.85},
    }
    if "end_date" in latest:
        current["end_date"] = latest["end_date"]
        if _parse(latest["end_date"]) < AS_OF:  # notice given: in service until the end date
            employee["status"] = "out_of_service"
    employee["employment"] = current
    if "yearly_wage" in salary:
        employee["yearly_wage"] = salary["yearly_wage"]


# -- the cases an HR reader checks ----------------------------------------------------------------


def _contract(since: date, until: date | None, duration: str, signed: bool = True) -> dict[str, Any]:
    contract: dict[str, Any] = {"start_date": _ts(since), "contract_duration": duration}
    if until is not None:
        contract["end_date"] = _ts(until)
    contract["is_signed"] = signed
    if signed:
        contract["sign_date"] = _ts(since - timedelta(days=14))
    return contract


def _plain(rng: random.Random, start: date, end: date | None = None, **parts: Any) -> dict[str, Any]:
    """An employment from ``start`` with generated periods, some replaced by ``parts``."""
    employment = _employment(rng, start, end)
    employment.update(parts)
    if "hours" in parts and "salary" not in parts:
        employment["salary"] = _salary(rng, start, end, end or AS_OF, parts["hours"], False)
    return employment


def _month_start(rng: random.Random, low: date, high: date) -> date:
    return _first_of_month(_day(rng, low, high))


def _until(since: date, months: int) -> date:
    return _add_months(since, months) - timedelta(days=1)


def _lapsed(rng: random.Random) -> dict[str, Any]:
    # One twelve-month contract that ran out months ago; nothing registered since, still at work.
    start = _month_start(rng, date(2023, 6, 1), date(2024, 3, 1))
    return _plain(rng, start, contracts=[_contract(start, _until(start, 12), "definite")])


def _unsigned_renewal(rng: random.Random) -> dict[str, Any]:
    renewal = _first_of_month(AS_OF - timedelta(days=rng.randint(0, 25)))
    start = _add_months(renewal, -12)
    contracts = [
        _contract(start, renewal - timedelta(days=1), "definite"),
        _contract(renewal, _until(renewal, 12), "definite", signed=False),
    ]
    return _plain(rng, start, contracts=contracts)


def _planned_changes(rng: random.Random) -> dict[str, Any]:
    # A raise and a permanent contract from next month, both agreed already.
    change = _add_months(_first_of_month(AS_OF), 1)
    start = _month_start(rng, date(2024, 1, 1), date(2024, 6, 1))
    contracts = [
        _contract(start, change - timedelta(days=1), "definite"),
        _contract(change, None, "permanent"),
    ]
    employment = _plain(rng, start, contracts=contracts)
    last = max(employment["salary"], key=lambda p: p["start_date"])
    last["end_date"] = _ts(change - timedelta(days=1))
    factor = 1 + rng.uniform(0.03, 0.06)
    raised = {
        "start_date": _ts(change),
        "hour_wage": round(last["hour_wage"] * factor, 2),
        "month_wage": round(last["month_wage"] * factor, 2),
    }
    raised["yearly_wage"] = round(raised["month_wage"] * 12.96, 2)
    employment["salary"].append(raised)
    return employment


def _notice_given(rng: random.Random) -> dict[str, Any]:
    # Notice given: the employment ends at the end of a coming month.
    end = _add_months(_first_of_month(AS_OF), rng.randint(2, 3)) - timedelta(days=1)
    start = _month_start(rng, date(2016, 1, 1), date(2022, 1, 1))
    return _plain(rng, start, end)


def _days_only(rng: random.Random) -> dict[str, Any]:
    # The same hours over fewer days: a days-only change, with no effect on pay.
    start = _month_start(rng, date(2018, 1, 1), date(2023, 1, 1))
    change = _month_start(rng, start + timedelta(days=200), AS_OF - timedelta(days=30))
    week = {"hours_per_week": 32.0, "employee_type": "parttime"}
    hours = [
        {"start_date": _ts(start), "end_date": _ts(change - timedelta(days=1)), **week, "days_per_week": 5.0},
        {"start_date": _ts(change), **week, "days_per_week": 4.0},
    ]
    return _plain(rng, start, hours=hours)


def _pay_basis_switch(rng: random.Random) -> dict[str, Any]:
    # A monthly salary, then paid by the hour at a slightly better rate.
    start = _month_start(rng, date(2019, 1, 1), date(2022, 1, 1))
    change = _month_start(rng, date(2023, 1, 1), date(2024, 12, 1))
    hours = [
        {"start_date": _ts(start), "hours_per_week": 24.0, "days_per_week": 3.0, "employee_type": "parttime"}
    ]
    rate = round(rng.uniform(15.0, 30.0), 2)
    month = round(rate * 24 * 52 / 12, 2)
    salary = [
        {
            "start_date": _ts(start),
            "end_date": _ts(change - timedelta(days=1)),
            "hour_wage": 0.0,  # a monthly salary: the payroll states no hourly wage
            "month_wage": month,
            "yearly_wage": round(month * 12.96, 2),
        },
        {"start_date": _ts(change), "hour_wage": round(rate * 1.04, 2), "month_wage": 0.0},
    ]
    return _plain(rng, start, hours=hours, salary=salary)


def _overlap(rng: random.Random) -> dict[str, Any]:
    # A permanent contract, and for six months a fixed-term one alongside it (a project, extra hours).
    start = _month_start(rng, date(2015, 1, 1), date(2020, 1, 1))
    extra = _month_start(rng, date(2022, 1, 1), date(2024, 6, 1))
    contracts = [_contract(start, None, "permanent"), _contract(extra, _until(extra, 6), "definite")]
    return _plain(rng, start, contracts=contracts)


def _long_gap(rng: random.Random) -> dict[str, Any]:
    # Seasonal work: a fixed-term contract, eight to ten months without one, then a new one.
    start = _month_start(rng, date(2022, 3, 1), date(2023, 3, 1))
    again = _add_months(start, 6 + rng.randint(8, 10))
    contracts = [
        _contract(start, _until(start, 6), "definite"),
        _contract(again, _until(again, 12), "definite"),
    ]
    return _plain(rng, start, contracts=contracts)


def _chain_exceeded(rng: random.Random) -> dict[str, Any]:
    # Kept on purpose: four six-month contracts in a row, one past the legal maximum of three.
    start = _month_start(rng, date(2021, 1, 1), date(2022, 6, 1))
    contracts = [
        _contract(_add_months(start, 6 * n), _until(_add_months(start, 6 * n), 6), "definite")
        for n in range(4)
    ]
    contracts.append(_contract(_add_months(start, 24), None, "permanent"))
    return _plain(rng, start, contracts=contracts)


_SPECIAL = {
    "lapsed": _lapsed,
    "unsigned_renewal": _unsigned_renewal,
    "planned_changes": _planned_changes,
    "notice_given": _notice_given,
    "days_only": _days_only,
    "pay_basis_switch": _pay_basis_switch,
    "overlap": _overlap,
    "long_gap": _long_gap,
    "chain_exceeded": _chain_exceeded,
}


# -- dates --------------------------------------------------------------------------------------


def _ts(day: date, rng: random.Random | None = None) -> str:
    if rng is None:
        return f"{day.isoformat()}T00:00:00"
    return f"{day.isoformat()}T{rng.randint(7, 18):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}"


def _parse(text: str) -> date:
    return date.fromisoformat(text[:10])


def _day(rng: random.Random, low: date, high: date) -> date:
    return low + timedelta(days=rng.randint(0, max(0, (high - low).days)))


def _first_of_month(day: date) -> date:
    return day.replace(day=1)


def _add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year = day.year + month // 12
    month = month % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))
