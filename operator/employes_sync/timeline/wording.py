"""Titles and descriptions, in English (the default) or Dutch, from an event's data alone.

Only salary events speak of money in their text: every other title and description is free of amounts,
so an application can show a timeline without pay by leaving ``event_data`` aside. Dates are written
out ("1 Jan 2025", "1 januari 2025"), never numeric, so nobody reads 01-02 the wrong way round.

An event dated after ``as_of`` (``planned``) is worded as still to come: every phrase that says what
happened has a ``.planned`` form ("changes from ... on", "wijzigt van ... per"), chosen by ``tense``, and
its title also ends in " (planned)". A past event never uses a planned form, so adding or rewording one
changes no stored row of an event that has happened.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from . import kinds as k

LOCALES = ("en", "nl")


@dataclass(frozen=True)
class _Words:
    months: tuple[str, ...]
    thousands: str
    decimal: str
    euro: str  # the prefix before an amount: "€" or "€ "
    phrases: dict[str, str]
    units: dict[str, str]  # hourly -> "/hour"
    basis_names: dict[str, str]  # hourly -> "hourly wage"
    basis_short: dict[str, str]  # hourly -> "hourly"
    durations: dict[str, str]  # definite -> "fixed-term"


_EN = _Words(
    months=("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
    thousands=",",
    decimal=".",
    euro="€",
    units={"hourly": "/hour", "monthly": "/month", "yearly": "/year"},
    basis_names={"hourly": "hourly wage", "monthly": "monthly wage", "yearly": "yearly wage"},
    basis_short={"hourly": "hourly", "monthly": "monthly", "yearly": "yearly"},
    durations={"definite": "fixed-term", "permanent": "permanent"},
    phrases={
        "planned": " (planned)",
        "unsigned": " (not yet signed)",
        "day": "{n} day",
        "days": "{n} days",
        "month": "{n} month",
        "months": "{n} months",
        "and": " and ",
        "gap": " after a gap of {gap}",
        "hours_week": "{n}h/week",
        "days_week": "{n} days/week",
        "someone": "Employee",
        "added.title": "Added to Employes",
        "added.desc": "{name} was added to the payroll administration in Employes on {date}. "
        "This dates the record, not the employment.",
        "started.title": "Contract started",
        "started.title.planned": "Contract starts",
        "started.title.rehire": "Contract started (re-hired)",
        "started.title.rehire.planned": "Contract starts (re-hired)",
        "started.desc": "Employment started on {date}{gap}",
        "started.desc.planned": "Employment starts on {date}{gap}",
        "started.desc.rehire": "Re-hired on {date}{gap}",
        "started.desc.rehire.planned": "Re-hired from {date}{gap}",
        "started.current": ". Current terms (from {date}): {details}.",
        "started.current.undated": ". Current terms: {details}.",
        "contract": "{duration} contract",
        "contract.until": "{duration} contract until {date}",
        "renewed.title.permanent": "Contract renewed (now permanent)",
        "renewed.title.definite": "Contract renewed (fixed-term until {date})",
        "renewed.title.definite.open": "Contract renewed (fixed-term)",
        "renewed.title.other": "Contract renewed ({duration})",
        "renewed.title.permanent.planned": "Contract renewal (becomes permanent)",
        "renewed.title.definite.planned": "Contract renewal (fixed-term until {date})",
        "renewed.title.definite.open.planned": "Contract renewal (fixed-term)",
        "renewed.title.other.planned": "Contract renewal ({duration})",
        "renewed.desc.permanent": "Contract turned permanent on {date}{gap}",
        "renewed.desc.definite": "Fixed-term contract renewed on {date} until {end}{gap}",
        "renewed.desc.definite.open": "Fixed-term contract renewed on {date}{gap}",
        "renewed.desc.other": "New {duration} contract from {date}{gap}",
        "renewed.desc.permanent.planned": "Contract becomes permanent on {date}{gap}",
        "renewed.desc.definite.planned": "Fixed-term contract will be renewed from {date} until {end}{gap}",
        "renewed.desc.definite.open.planned": "Fixed-term contract will be renewed from {date}{gap}",
        "renewed.desc.other.planned": "New {duration} contract starts on {date}{gap}",
        "renewed.previous": " (previous contract ran until {date})",
        "renewed.previous.planned": " (previous contract until {date})",
        "renewed.replaces": " (replaces the previous contract, registered until {date})",
        "chain.reset": " The gap of more than six months starts a new chain of fixed-term contracts"
        " (art. 7:668a BW).",
        "chain.exceeded": " This is fixed-term contract {n} of a chain that began on {date}: past the legal"
        " maximum of 3 contracts or 36 months (art. 7:668a BW), so by law it counts as permanent unless a"
        " collective agreement allows more.",
        "chain.exceeded.planned": " This will be fixed-term contract {n} of a chain from {date}: past the"
        " legal maximum of 3 contracts or 36 months (art. 7:668a BW), so by law it will count as permanent"
        " unless a collective agreement allows more.",
        "added2.title": "Additional fixed-term contract (until {date})",
        "added2.desc": "Fixed-term contract from {start} until {end}, alongside the {duration} contract"
        " that started on {since}.",
        "added2.desc.planned": "Fixed-term contract starts on {start} and runs until {end}, alongside the"
        " {duration} contract from {since}.",
        "ended.title": "Employment ended",
        "ended.title.planned": "Employment ends",
        "ended.desc": "Employment ended on {date} (started {start}).",
        "ended.desc.planned": "Employment ends on {date} (started {start}); the end date is registered.",
        "ended.after": " (later contract registered)",
        "ended.also": " Another employment, started {start}, ended on the same day.",
        "ended.also.planned": " Another employment, started {start}, ends on the same day.",
        "ended.also.more": " {n} other employments, the first started {start}, ended on the same day.",
        "ended.also.more.planned": " {n} other employments, the first started {start}, end on the same day.",
        "ended.desc.after": " A contract from {date} is registered after this end date: if the employment"
        " continued, its end date needs correcting.",
        "ended.desc.after.planned": " A contract from {date} is registered after this end date: if the"
        " employment continues, its end date needs correcting.",
        "ended.desc.after.more": " {n} contracts are registered after this end date, the first from {date}:"
        " if the employment continued, its end date needs correcting.",
        "ended.desc.after.more.planned": " {n} contracts are registered after this end date, the first from"
        " {date}: if the employment continues, its end date needs correcting.",
        "ended.desc.out_of_service": "Out of service; the employment has no end date, so the end of the"
        " last contract ({date}) dates the departure (started {start}).",
        "expired.title": "Fixed-term contract expired, no follow-up registered",
        "expired.desc": "The fixed-term contract from {start} ran until {date} and no follow-up contract"
        " or end of employment is registered. Working on after it expired continues the contract on the"
        " same terms (art. 7:668 lid 4 BW): register the follow-up, or the end of the employment.",
        "expired.desc.employment_end": "The fixed-term contract from {start} ran until {date} and no"
        " follow-up contract is registered; the employment's registered end date is {end}. Working on"
        " after it expired continues the contract on the same terms (art. 7:668 lid 4 BW): register the"
        " follow-up contract, or check the end date of the employment.",
        "expired.desc.after_end": "The fixed-term contract from {start} ran until {date} and no"
        " follow-up contract is registered before the employment's registered end date, {end}; the next"
        " contract registered starts on {next}, after that end. Working on after it expired continues the"
        " contract on the same terms (art. 7:668 lid 4 BW): register the follow-up contract, or correct the"
        " end date of the employment.",
        "salary.up": "Salary increase ({amount})",
        "salary.down": "Salary decrease ({amount})",
        "salary.desc": "{basis} changed from {old} to {new} ({pct}) on {date}.",
        "salary.desc.hours": "{basis} changed from {old} at {old_hours} to {new} at {new_hours} on {date}:"
        " {amount} ({pct}) beyond what the change in hours explains.",
        "salary.desc.converted": "Pay changed from {old_pay} to {new_pay} on {date}: as hourly wages,"
        " {old} to {new} ({pct}).",
        "salary.desc.across": "{basis} changed from {old} (from {since}) to {new} ({pct}) on {date}, across"
        " a period paid on another basis.",
        "salary.desc.planned": "{basis} changes from {old} to {new} ({pct}) on {date}.",
        "salary.desc.hours.planned": "{basis} changes from {old} at {old_hours} to {new} at {new_hours} on"
        " {date}: {amount} ({pct}) beyond what the change in hours explains.",
        "salary.desc.converted.planned": "Pay changes from {old_pay} to {new_pay} on {date}: as hourly"
        " wages, {old} to {new} ({pct}).",
        "salary.desc.across.planned": "{basis} changes from {old} (from {since}) to {new} ({pct}) on {date},"
        " across a period paid on another basis.",
        "basis.title": "Pay basis changed ({old} → {new})",
        "basis.desc": "Pay basis changed from {old_name} to {new_name} on {date}.",
        "basis.title.planned": "Pay basis change ({old} → {new})",
        "basis.desc.planned": "Pay basis changes from {old_name} to {new_name} on {date}.",
        "basis.none": "no wage",
        "hours.title": "Hours change ({change}h/week)",
        "hours.title.days": "Hours change ({change} days/week)",
        "hours.desc": "Working hours changed ({change} hours per week{days}) on {date}.",
        "hours.desc.days": "Working days changed ({change} days per week) on {date}.",
        "hours.desc.planned": "Working hours change ({change} hours per week{days}) on {date}.",
        "hours.desc.days.planned": "Working days change ({change} days per week) on {date}.",
        "hours.days": ", {change} days per week",
    },
)

_NL = _Words(
    months=(
        "januari",
        "februari",
        "maart",
        "april",
        "mei",
        "juni",
        "juli",
        "augustus",
        "september",
        "oktober",
        "november",
        "december",
    ),
    thousands=".",
    decimal=",",
    euro="€ ",
    units={"hourly": "/uur", "monthly": "/maand", "yearly": "/jaar"},
    basis_names={"hourly": "uurloon", "monthly": "maandloon", "yearly": "jaarloon"},
    basis_short={"hourly": "uurloon", "monthly": "maandloon", "yearly": "jaarloon"},
    durations={"definite": "bepaalde tijd", "permanent": "onbepaalde tijd"},
    phrases={
        "planned": " (gepland)",
        "unsigned": " (nog niet getekend)",
        "day": "{n} dag",
        "days": "{n} dagen",
        "month": "{n} maand",
        "months": "{n} maanden",
        "and": " en ",
        "gap": " na een onderbreking van {gap}",
        "hours_week": "{n} u/week",
        "days_week": "{n} dagen/week",
        "someone": "Medewerker",
        "added.title": "Toegevoegd aan Employes",
        "added.desc": "{name} is op {date} toegevoegd aan de salarisadministratie in Employes. Deze datum"
        " hoort bij het dossier, niet bij het dienstverband.",
        "started.title": "Contract gestart",
        "started.title.planned": "Contract start",
        "started.title.rehire": "Contract gestart (opnieuw in dienst)",
        "started.title.rehire.planned": "Contract start (opnieuw in dienst)",
        "started.desc": "In dienst getreden op {date}{gap}",
        "started.desc.planned": "Treedt in dienst op {date}{gap}",
        "started.desc.rehire": "Opnieuw in dienst getreden op {date}{gap}",
        "started.desc.rehire.planned": "Treedt opnieuw in dienst op {date}{gap}",
        "started.current": ". Huidige voorwaarden (vanaf {date}): {details}.",
        "started.current.undated": ". Huidige voorwaarden: {details}.",
        "contract": "contract voor {duration}",
        "contract.until": "contract voor {duration} tot {date}",
        "renewed.title.permanent": "Contract verlengd (nu onbepaalde tijd)",
        "renewed.title.definite": "Contract verlengd (bepaalde tijd tot {date})",
        "renewed.title.definite.open": "Contract verlengd (bepaalde tijd)",
        "renewed.title.other": "Contract verlengd ({duration})",
        "renewed.title.permanent.planned": "Contractverlenging (wordt onbepaalde tijd)",
        "renewed.title.definite.planned": "Contractverlenging (bepaalde tijd tot {date})",
        "renewed.title.definite.open.planned": "Contractverlenging (bepaalde tijd)",
        "renewed.title.other.planned": "Contractverlenging ({duration})",
        "renewed.desc.permanent": "Contract omgezet naar onbepaalde tijd op {date}{gap}",
        "renewed.desc.definite": "Contract voor bepaalde tijd verlengd op {date} tot {end}{gap}",
        "renewed.desc.definite.open": "Contract voor bepaalde tijd verlengd op {date}{gap}",
        "renewed.desc.other": "Nieuw contract ({duration}) vanaf {date}{gap}",
        "renewed.desc.permanent.planned": "Contract wordt per {date} omgezet naar onbepaalde tijd{gap}",
        "renewed.desc.definite.planned": "Contract voor bepaalde tijd wordt per {date} verlengd tot"
        " {end}{gap}",
        "renewed.desc.definite.open.planned": "Contract voor bepaalde tijd wordt per {date} verlengd{gap}",
        "renewed.desc.other.planned": "Nieuw contract ({duration}) gaat in op {date}{gap}",
        "renewed.previous": " (vorig contract liep tot {date})",
        "renewed.previous.planned": " (vorig contract tot {date})",
        "renewed.replaces": " (vervangt het vorige contract, geregistreerd tot {date})",
        "chain.reset": " Door de onderbreking van meer dan zes maanden begint een nieuwe keten van"
        " tijdelijke contracten (art. 7:668a BW).",
        "chain.exceeded": " Dit is tijdelijk contract {n} in een keten vanaf {date}: voorbij het wettelijke"
        " maximum van 3 contracten of 36 maanden (art. 7:668a BW), dus geldt het wettelijk als contract"
        " voor onbepaalde tijd, tenzij de cao meer toestaat.",
        "chain.exceeded.planned": " Dit wordt tijdelijk contract {n} in een keten vanaf {date}: voorbij het"
        " wettelijke maximum van 3 contracten of 36 maanden (art. 7:668a BW), dus geldt het wettelijk als"
        " contract voor onbepaalde tijd, tenzij de cao meer toestaat.",
        "added2.title": "Extra contract voor bepaalde tijd (tot {date})",
        "added2.desc": "Contract voor bepaalde tijd van {start} tot {end}, naast het contract voor"
        " {duration} dat begon op {since}.",
        "added2.desc.planned": "Contract voor bepaalde tijd gaat in op {start} en loopt tot {end}, naast het"
        " contract voor {duration} vanaf {since}.",
        "ended.title": "Uit dienst",
        "ended.title.planned": "Gaat uit dienst",
        "ended.desc": "Dienstverband beëindigd op {date} (begonnen {start}).",
        "ended.desc.planned": "Dienstverband eindigt op {date} (begonnen {start}); de einddatum is"
        " geregistreerd.",
        "ended.after": " (later contract geregistreerd)",
        "ended.also": " Een ander dienstverband, begonnen {start}, is op dezelfde dag beëindigd.",
        "ended.also.planned": " Een ander dienstverband, begonnen {start}, eindigt op dezelfde dag.",
        "ended.also.more": " Nog {n} dienstverbanden, het eerste begonnen {start}, zijn op dezelfde dag"
        " beëindigd.",
        "ended.also.more.planned": " Nog {n} dienstverbanden, het eerste begonnen {start}, eindigen op"
        " dezelfde dag.",
        "ended.desc.after": " Er is een contract vanaf {date} geregistreerd na deze einddatum: als het"
        " dienstverband is voortgezet, moet de einddatum worden gecorrigeerd.",
        "ended.desc.after.planned": " Er is een contract vanaf {date} geregistreerd na deze einddatum: als"
        " het dienstverband wordt voortgezet, moet de einddatum worden gecorrigeerd.",
        "ended.desc.after.more": " Er zijn {n} contracten geregistreerd na deze einddatum, het eerste vanaf"
        " {date}: als het dienstverband is voortgezet, moet de einddatum worden gecorrigeerd.",
        "ended.desc.after.more.planned": " Er zijn {n} contracten geregistreerd na deze einddatum, het eerste"
        " vanaf {date}: als het dienstverband wordt voortgezet, moet de einddatum worden gecorrigeerd.",
        "ended.desc.out_of_service": "Uit dienst; het dienstverband heeft geen einddatum, dus het einde van"
        " het laatste contract ({date}) dateert het vertrek (begonnen {start}).",
        "expired.title": "Contract voor bepaalde tijd verlopen, geen vervolg geregistreerd",
        "expired.desc": "Het contract voor bepaalde tijd vanaf {start} liep tot {date} en er is geen"
        " vervolgcontract of einde dienstverband geregistreerd. Doorwerken na afloop zet het contract"
        " voort onder dezelfde voorwaarden (art. 7:668 lid 4 BW): registreer het vervolg, of het einde"
        " van het dienstverband.",
        "expired.desc.employment_end": "Het contract voor bepaalde tijd vanaf {start} liep tot {date} en"
        " er is geen vervolgcontract geregistreerd; de geregistreerde einddatum van het dienstverband is"
        " {end}. Doorwerken na afloop zet het contract voort onder dezelfde voorwaarden (art. 7:668 lid 4"
        " BW): registreer het vervolgcontract, of controleer de einddatum van het dienstverband.",
        "expired.desc.after_end": "Het contract voor bepaalde tijd vanaf {start} liep tot {date} en er is"
        " geen vervolgcontract geregistreerd vóór de geregistreerde einddatum van het dienstverband, {end};"
        " het volgende geregistreerde contract begint op {next}, na die einddatum. Doorwerken na afloop zet"
        " het contract voort onder dezelfde voorwaarden (art. 7:668 lid 4 BW): registreer het"
        " vervolgcontract, of corrigeer de einddatum van het dienstverband.",
        "salary.up": "Salarisverhoging ({amount})",
        "salary.down": "Salarisverlaging ({amount})",
        "salary.desc": "{basis} gewijzigd van {old} naar {new} ({pct}) op {date}.",
        "salary.desc.hours": "{basis} gewijzigd van {old} bij {old_hours} naar {new} bij {new_hours} op"
        " {date}: {amount} ({pct}) meer dan de urenwijziging verklaart.",
        "salary.desc.converted": "Loon gewijzigd van {old_pay} naar {new_pay} op {date}: als uurloon"
        " {old} naar {new} ({pct}).",
        "salary.desc.across": "{basis} gewijzigd van {old} (vanaf {since}) naar {new} ({pct}) op {date},"
        " over een periode op een andere loonbasis heen.",
        "salary.desc.planned": "{basis} wijzigt van {old} naar {new} ({pct}) per {date}.",
        "salary.desc.hours.planned": "{basis} wijzigt van {old} bij {old_hours} naar {new} bij {new_hours}"
        " per {date}: {amount} ({pct}) meer dan de urenwijziging verklaart.",
        "salary.desc.converted.planned": "Loon wijzigt van {old_pay} naar {new_pay} per {date}: als uurloon"
        " {old} naar {new} ({pct}).",
        "salary.desc.across.planned": "{basis} wijzigt van {old} (vanaf {since}) naar {new} ({pct}) per"
        " {date}, over een periode op een andere loonbasis heen.",
        "basis.title": "Loonbasis gewijzigd ({old} → {new})",
        "basis.desc": "Loonbasis gewijzigd van {old_name} naar {new_name} op {date}.",
        "basis.title.planned": "Loonbasiswijziging ({old} → {new})",
        "basis.desc.planned": "Loonbasis wijzigt van {old_name} naar {new_name} per {date}.",
        "basis.none": "geen loon",
        "hours.title": "Urenwijziging ({change} u/week)",
        "hours.title.days": "Urenwijziging ({change} dagen/week)",
        "hours.desc": "Arbeidsuren gewijzigd ({change} uur per week{days}) op {date}.",
        "hours.desc.days": "Werkdagen gewijzigd ({change} dagen per week) op {date}.",
        "hours.desc.planned": "Arbeidsuren wijzigen ({change} uur per week{days}) per {date}.",
        "hours.desc.days.planned": "Werkdagen wijzigen ({change} dagen per week) per {date}.",
        "hours.days": ", {change} dagen per week",
    },
)

_BY_LOCALE = {"en": _EN, "nl": _NL}


def _num(value: Decimal, decimal: str = ".") -> str:
    """32.50 -> '32.5', 40.00 -> '40': hours read naturally."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return (text or "0").replace(".", decimal)


def _day(value: object) -> date:
    assert isinstance(value, date)
    return value


class Wording:
    """Renders one locale; ``render`` is the only entry point rules rely on."""

    def __init__(self, locale: str) -> None:
        if locale not in _BY_LOCALE:
            raise ValueError(f"locale {locale!r} is not one of {', '.join(LOCALES)}")
        self.locale = locale
        self.w = _BY_LOCALE[locale]

    # -- formats ------------------------------------------------------------------------------

    def p(self, key: str, **values: Any) -> str:
        return self.w.phrases[key].format(**values)

    def day(self, value: object) -> str:
        day = _day(value)
        return f"{day.day} {self.w.months[day.month - 1]} {day.year}"

    def money(self, amount: Decimal) -> str:
        text = f"{amount:,.2f}"
        text = text.replace(",", "\x00").replace(".", self.w.decimal).replace("\x00", self.w.thousands)
        return f"{self.w.euro}{text}"

    def signed_money(self, amount: Decimal, basis: str) -> str:
        sign = "+" if amount >= 0 else "-"
        return f"{sign}{self.money(abs(amount))}{self.w.units[basis]}"

    def pct(self, value: Decimal) -> str:
        return f"{value:+.2f}%".replace(".", self.w.decimal)

    def num(self, value: Decimal) -> str:
        return _num(value, self.w.decimal)

    def hours(self, value: Decimal | None) -> str:
        return self.p("hours_week", n=self.num(value)) if value is not None else "?"

    def duration(self, name: str | None) -> str:
        return self.w.durations.get(name or "", name or "?")

    def span(self, days: int, start: date, end: date) -> str:
        from .contracts import add_months, whole_months

        months = whole_months(start, end)
        if months < 1:
            return self.p("day" if days == 1 else "days", n=days)
        text = self.p("month" if months == 1 else "months", n=months)
        # The days past the whole months: "6 months and 1 day" is what tells a broken chain from a kept one.
        rest = (end - add_months(start, months)).days + 1
        if rest > 0:
            text += self.p("and") + self.p("day" if rest == 1 else "days", n=rest)
        return text

    def gap(self, data: dict[str, Any], previous_end: object) -> str:
        days = data.get("gap_days")
        if not days or not isinstance(previous_end, date):
            return ""
        start = date.fromordinal(previous_end.toordinal() + 1)
        end = date.fromordinal(_day(data["start_date"]).toordinal() - 1)
        return self.p("gap", gap=self.span(days, start, end))

    def suffixes(self, data: dict[str, Any], *, planned_in_title: bool = True) -> str:
        text = self.p("unsigned") if data.get("is_signed") is False else ""
        if planned_in_title and data.get("planned"):
            text += self.p("planned")
        return text

    def tense(self, data: dict[str, Any]) -> str:
        """The key suffix for an event still to come: an HR reader must not read it as done."""
        return ".planned" if data.get("planned") else ""

    # -- events -------------------------------------------------------------------------------

    def render(self, event_type: str, event_date: date, data: dict[str, Any]) -> tuple[str, str]:
        method = getattr(self, f"_{event_type}")
        title, description = method(event_date, data)
        return str(title), str(description)

    def _employee_added(self, day: date, d: dict[str, Any]) -> tuple[str, str]:
        name = d.get("name") or self.p("someone")
        return self.p("added.title") + self.suffixes(d), self.p("added.desc", name=name, date=self.day(day))

    def _contract_details(self, d: dict[str, Any]) -> list[str]:
        details: list[str] = []
        if d.get("contract_duration"):
            duration = self.duration(d["contract_duration"])
            end = d.get("contract_end_date")
            if d["contract_duration"] == "definite" and end is not None:
                details.append(self.p("contract.until", duration=duration, date=self.day(end)))
            else:
                details.append(self.p("contract", duration=duration))
        if d.get("hours_per_week") is not None:
            details.append(self.hours(d["hours_per_week"]))
        if d.get("days_per_week"):
            details.append(self.p("days_week", n=self.num(d["days_per_week"])))
        return details

    def _chain_notes(self, d: dict[str, Any]) -> str:
        text = self.p("chain.reset") if d.get("chain_reset") else ""
        if d.get("chain_exceeds_legal_maximum"):
            text += self.p(
                "chain.exceeded" + self.tense(d), n=d["chain_contracts"], date=self.day(d["chain_start_date"])
            )
        return text

    def _contract_started(self, day: date, d: dict[str, Any]) -> tuple[str, str]:
        kind = "rehire" if d.get("rehire") else ""
        tense = self.tense(d)
        title = self.p("started.title" + (f".{kind}" if kind else "") + tense) + self.suffixes(d)
        gap = ""
        if d.get("gap_days"):
            days = int(d["gap_days"])
            gap = self.p(
                "gap",
                gap=self.span(
                    days, date.fromordinal(day.toordinal() - days), date.fromordinal(day.toordinal() - 1)
                ),
            )
        text = self.p("started.desc" + (f".{kind}" if kind else "") + tense, date=self.day(day), gap=gap)
        details = self._contract_details(d)
        if d.get("terms") == "current":
            listed = ", ".join(details) or "?"
            if d.get("terms_from") is None:
                text += self.p("started.current.undated", details=listed)
            else:
                text += self.p("started.current", date=self.day(d["terms_from"]), details=listed)
        else:
            text += f": {', '.join(details)}." if details else "."
        return title, text + self._chain_notes(d)

    def _contract_renewed(self, day: date, d: dict[str, Any]) -> tuple[str, str]:
        duration = d.get("contract_duration")
        end = d.get("end_date")
        gap = self.gap(d, d.get("previous_end_date"))
        if d.get("made_permanent"):
            key = "permanent"
        elif duration == "definite" and d.get("previous_contract_duration") != "permanent":
            key = "definite" if end is not None else "definite.open"
        else:
            key = "other"  # a fixed-term contract after a permanent one is new, not a renewed fixed term
        tense = self.tense(d)
        values = {"date": self.day(end) if end is not None else "", "duration": self.duration(duration)}
        title = self.p(f"renewed.title.{key}{tense}", **values) + self.suffixes(d)
        text = self.p(
            f"renewed.desc.{key}{tense}",
            date=self.day(day),
            end=self.day(end) if end is not None else "",
            duration=self.duration(duration),
            gap=gap,
        )
        previous_end = d.get("previous_end_date")
        if previous_end is not None and previous_end >= day:
            # Replaced before its registered end (a fixed-term contract turned permanent early): it did
            # not run until that end, and "ran until" a day still to come is a past that did not happen.
            text += self.p("renewed.replaces", date=self.day(previous_end))
        elif previous_end is not None:
            text += self.p("renewed.previous" + tense, date=self.day(previous_end))
        return title, text + "." + self._chain_notes(d)

    def _contract_added(self, day: date, d: dict[str, Any]) -> tuple[str, str]:
        title = self.p("added2.title", date=self.day(d["end_date"])) + self.suffixes(d)
        text = self.p(
            "added2.desc" + self.tense(d),
            start=self.day(day),
            end=self.day(d["end_date"]),
            duration=self.duration(d.get("alongside_contract_duration")),
            since=self.day(d["alongside_start_date"]),
        )
        return title, text

    def _contract_ended(self, day: date, d: dict[str, Any]) -> tuple[str, str]:
        tense = self.tense(d)
        # A contract registered after the end: the end may be stale, so neither the title (what a list
        # shows) nor the description states it as plain fact.
        after = d.get("after_end_contracts") or 0
        title = self.p("ended.title" + tense) + (self.p("ended.after") if after else "") + self.suffixes(d)
        if d.get("reason") == "out_of_service":
            key = "ended.desc.out_of_service"
        else:
            key = "ended.desc" + tense
        text = self.p(key, date=self.day(day), start=self.day(d["start_date"]))
        # The other employments ending that day: this one departure is theirs too, and their ends are
        # said nowhere else.
        also = d.get("also_ended_employments") or 0
        if also:
            more = ".more" if also > 1 else ""
            text += self.p(f"ended.also{more}{tense}", n=also, start=self.day(d["also_ended_start_date"]))
        if after:
            more = ".more" if after > 1 else ""
            text += self.p(
                f"ended.desc.after{more}{tense}", n=after, date=self.day(d["after_end_start_date"])
            )
        return title, text

    def _contract_expired_unrenewed(self, day: date, d: dict[str, Any]) -> tuple[str, str]:
        start = self.day(d["start_date"])
        # An employment end registered after the lapse is an end of employment: saying none is
        # registered would be false, and the reader's question is the time between the two.
        end = d.get("employment_end_date")
        after = d.get("next_contract_date")
        if end is not None and after is not None:  # the follow-up may be there, past a stale end
            text = self.p(
                "expired.desc.after_end",
                start=start,
                date=self.day(day),
                end=self.day(end),
                next=self.day(after),
            )
        elif end is not None:
            text = self.p("expired.desc.employment_end", start=start, date=self.day(day), end=self.day(end))
        else:
            text = self.p("expired.desc", start=start, date=self.day(day))
        return self.p("expired.title"), text

    def _wage(self, d: dict[str, Any], side: str, basis: str | None) -> str:
        if basis is None:
            return self.p("basis.none")
        attr = {"monthly": "month_wage", "hourly": "hour_wage", "yearly": "yearly_wage"}[basis]
        return f"{self.money(d[f'{side}_{attr}'])}{self.w.units[basis]}"

    def _salary(self, day: date, d: dict[str, Any]) -> tuple[str, str]:
        basis = d["basis"]
        amount = self.signed_money(d["amount"], basis)
        title = self.p("salary.up" if d["amount"] > 0 else "salary.down", amount=amount) + self.suffixes(d)
        name = self.w.basis_names[basis]
        name = name[:1].upper() + name[1:]
        values = {
            "basis": name,
            "old": self.money(d["from"]),
            "new": self.money(d["to"]),
            "pct": self.pct(d["percentage"]),
            "date": self.day(day),
            "amount": amount,
        }
        tense = self.tense(d)
        if d.get("across_basis_change"):
            text = self.p("salary.desc.across" + tense, since=self.day(d["previous_start_date"]), **values)
        elif d.get("converted"):
            old_basis = _basis_of(d, "from")
            new_basis = _basis_of(d, "to")
            text = self.p(
                "salary.desc.converted" + tense,
                old_pay=self._wage(d, "from", old_basis),
                new_pay=self._wage(d, "to", new_basis),
                **values,
            )
        elif d.get("hours_adjusted"):
            text = self.p(
                "salary.desc.hours" + tense,
                old_hours=self.hours(d["from_hours_per_week"]),
                new_hours=self.hours(d["to_hours_per_week"]),
                **values,
            )
        else:
            text = self.p("salary.desc" + tense, **values)
        return title, text

    _salary_increase = _salary
    _salary_decrease = _salary

    def _pay_basis_change(self, day: date, d: dict[str, Any]) -> tuple[str, str]:
        none = self.p("basis.none")
        old, new = d.get("from_basis") or "", d.get("to_basis") or ""
        title = self.p(
            "basis.title" + self.tense(d),
            old=self.w.basis_short.get(old, none),
            new=self.w.basis_short.get(new, none),
        )
        text = self.p(
            "basis.desc" + self.tense(d),
            old_name=self.w.basis_names.get(old, none),
            new_name=self.w.basis_names.get(new, none),
            date=self.day(day),
        )
        return title + self.suffixes(d), text

    def _hours_change(self, day: date, d: dict[str, Any]) -> tuple[str, str]:
        old_h, new_h = d.get("from_hours_per_week"), d.get("to_hours_per_week")
        old_d, new_d = d.get("from_days_per_week"), d.get("to_days_per_week")
        days = ""
        if old_d is not None and new_d is not None and old_d != new_d:
            days = f"{self.num(old_d)}→{self.num(new_d)}"
        if old_h is not None and new_h is not None and old_h != new_h:
            change = f"{self.num(old_h)}→{self.num(new_h)}"
            title = self.p("hours.title", change=change)
            text = self.p(
                "hours.desc" + self.tense(d),
                change=change,
                days=self.p("hours.days", change=days) if days else "",
                date=self.day(day),
            )
        else:
            title = self.p("hours.title.days", change=days)
            text = self.p("hours.desc.days" + self.tense(d), change=days, date=self.day(day))
        return title + self.suffixes(d), text


def _basis_of(d: dict[str, Any], side: str) -> str | None:
    if d.get(f"{side}_month_wage"):
        return "monthly"
    if d.get(f"{side}_hour_wage"):
        return "hourly"
    if d.get(f"{side}_yearly_wage"):
        return "yearly"
    return None


_CACHE: dict[str, Wording] = {}


def wording_for(locale: str) -> Wording:
    if locale not in _CACHE:
        _CACHE[locale] = Wording(locale)
    return _CACHE[locale]


# The renderer dispatches on the event type's name: every type must have a method.
assert all(hasattr(Wording, f"_{t}") for t in k.EVENT_TYPES)
# Every locale words every phrase, and every planned form is the future of a past one.
assert all(words.phrases.keys() == _EN.phrases.keys() for words in _BY_LOCALE.values())
assert all(key.removesuffix(".planned") in _EN.phrases for key in _EN.phrases)
