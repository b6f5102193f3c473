"""The event types, and how events of one date are ordered."""

from __future__ import annotations

EMPLOYEE_ADDED = "employee_added"
CONTRACT_STARTED = "contract_started"
CONTRACT_RENEWED = "contract_renewed"
CONTRACT_ADDED = "contract_added"
CONTRACT_ENDED = "contract_ended"
CONTRACT_EXPIRED_UNRENEWED = "contract_expired_unrenewed"
SALARY_INCREASE = "salary_increase"
SALARY_DECREASE = "salary_decrease"
PAY_BASIS_CHANGE = "pay_basis_change"
HOURS_CHANGE = "hours_change"

#: Events of one date read: what ended, then what started, then what changed, then the record itself.
EVENT_ORDER: dict[str, int] = {
    CONTRACT_ENDED: 10,
    CONTRACT_EXPIRED_UNRENEWED: 11,
    CONTRACT_STARTED: 20,
    CONTRACT_RENEWED: 21,
    CONTRACT_ADDED: 22,
    PAY_BASIS_CHANGE: 30,
    SALARY_INCREASE: 31,
    SALARY_DECREASE: 31,
    HOURS_CHANGE: 32,
    EMPLOYEE_ADDED: 40,
}
EVENT_TYPES: frozenset[str] = frozenset(EVENT_ORDER)

#: The types that mean the person left; nothing else is a departure.
DEPARTURE_TYPES: frozenset[str] = frozenset({CONTRACT_ENDED})
