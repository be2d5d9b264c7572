"""
Parse and query integer set specifiers such as ``1,4,7-9`` or ``*/15``.

A specifier names a set of integers inside a closed range, for example the
minutes 0-59. Its parts are separated by commas and the set is their union:

* ``*`` is the whole range, ``N`` one value and ``N-M`` an inclusive range;
* a step may follow a range or a star: ``*/3``, ``2-20/5``;
* a range whose start is above its end wraps around the field, and a step
  continues across the wrap: ``22-4/2`` on hours is 22, 0, 2 and 4.

Each part is stored as an arithmetic progression, so membership, length and
iteration cost the same on the minutes as on a range of a billion values.
"""

import heapq
import itertools
import math
import re
from collections.abc import Iterator

_PART_RE = re.compile(r"(?:(\*)|([0-9]+)(?:-([0-9]+))?)(?:/([0-9]+))?")

# Above these sizes the cheap ways of counting and simplifying give way to
# inclusion-exclusion and to keeping the parts as they are.
_COUNT_BY_SET_LIMIT = 1 << 16
_SIMPLIFY_SEARCH_LIMIT = 512

# A progression: (first member, last member, step), with step 1 for a
# single value.
Progression = tuple[int, int, int]


class InvalidSpecifier(ValueError):
    """A specifier string does not parse or leaves the field's range."""

    def __init__(
        self,
        message: str,
        *,
        spec: str,
        part: str,
        min_value: int,
        max_value: int,
        field: str | None = None,
    ) -> None:
        super().__init__(message)
        self.spec = spec
        self.part = part
        self.min_value = min_value
        self.max_value = max_value
        self.field = field


class IntegerSetSpecifier:
    """
    A set of integers in ``min_value..max_value`` written as a specifier.

    The original string is kept for display and equality; ``simplify()``
    gives the canonical shortest form of the same set.
    """

    __slots__ = ("_len", "_parts", "field", "max_value", "min_value", "spec")

    def __init__(
        self, spec: str, min_value: int, max_value: int, *, field: str | None = None
    ) -> None:
        if min_value > max_value:
            msg = f"The range {min_value}-{max_value} is empty."
            raise ValueError(msg)
        self.spec = spec
        self.min_value = min_value
        self.max_value = max_value
        self.field = field
        self._parts = _normalize(_parse(spec, min_value, max_value, field))
        self._len: int | None = None

    def __contains__(self, value: object) -> bool:
        if not isinstance(value, int):
            return False
        return any(
            first <= value <= last and (value - first) % step == 0
            for first, last, step in self._parts
        )

    def __iter__(self) -> Iterator[int]:
        ranges = [range(first, last + 1, step) for first, last, step in self._parts]
        if len(ranges) == 1:
            return iter(ranges[0])
        return _merge_ascending(ranges)

    def __len__(self) -> int:
        if self._len is None:
            self._len = _count_union(self._parts)
        return self._len

    def __bool__(self) -> bool:
        return True

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, IntegerSetSpecifier):
            return NotImplemented
        return (self.spec, self.min_value, self.max_value) == (
            other.spec,
            other.min_value,
            other.max_value,
        )

    def __hash__(self) -> int:
        return hash((self.spec, self.min_value, self.max_value))

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}({self.spec!r}, {self.min_value}, {self.max_value})"

    def __str__(self) -> str:
        return self.spec

    @property
    def first(self) -> int:
        """Return the smallest member."""
        return min(first for first, _, _ in self._parts)

    @property
    def last(self) -> int:
        """Return the largest member."""
        return max(last for _, last, _ in self._parts)

    @property
    def is_full(self) -> bool:
        """Tell whether the set is the whole range."""
        return len(self) == self.max_value - self.min_value + 1

    def next_value(self, value: int) -> int | None:
        """Return the smallest member at or above ``value``, or None."""
        found = None
        for first, last, step in self._parts:
            if value > last:
                continue
            candidate = first if value <= first else value + (first - value) % step
            if found is None or candidate < found:
                found = candidate
        return found

    def previous_value(self, value: int) -> int | None:
        """Return the largest member at or below ``value``, or None."""
        found = None
        for first, last, step in self._parts:
            if value < first:
                continue
            candidate = last if value >= last else value - (value - first) % step
            if found is None or candidate > found:
                found = candidate
        return found

    def simplify(self) -> "IntegerSetSpecifier":
        """
        Return an equal set written in its shortest canonical form.

        The form depends only on the set and the range: ``1,2,3,4`` becomes
        ``1-4`` and the whole range ``*``. Sets of up to 512 members are
        searched for a short cover by ranges and steps; larger ones keep
        their merged parts, written with ``*/N`` where that applies.
        """
        width = self.max_value - self.min_value + 1
        if len(self) == width:
            spec = "*"
        elif len(self) <= _SIMPLIFY_SEARCH_LIMIT:
            spec = _shortest_spec(tuple(self), self.min_value, self.max_value)
        else:
            parts = sorted(self._parts, key=lambda part: (part[0], part[2], part[1]))
            spec = ",".join(
                _format_progression(part, self.min_value, self.max_value)
                for part in parts
            )
        return type(self)(spec, self.min_value, self.max_value, field=self.field)


def _merge_ascending(ranges: list[range]) -> Iterator[int]:
    previous = None
    for value in heapq.merge(*ranges):
        if value != previous:
            yield value
            previous = value


def _parse(
    spec: str, min_value: int, max_value: int, field: str | None
) -> list[Progression]:
    if not isinstance(spec, str):
        msg = f"A specifier must be a string, not {type(spec).__name__}."
        raise TypeError(msg)
    progressions = []
    for raw_part in spec.strip().split(","):
        part = raw_part.strip()
        problem = _parse_part(part, min_value, max_value, progressions)
        if problem is not None:
            field_words = f"{field} specifier" if field else "specifier"
            msg = (
                f"Invalid part {part!r} in {field_words} {spec!r}: "
                f"{problem}values must be in {min_value}-{max_value}."
            )
            raise InvalidSpecifier(
                msg,
                spec=spec,
                part=part,
                min_value=min_value,
                max_value=max_value,
                field=field,
            )
    return progressions


def _parse_part(
    part: str, min_value: int, max_value: int, progressions: list[Progression]
) -> str | None:
    """Append the part's progressions, or return what is wrong with it."""
    match = _PART_RE.fullmatch(part)
    if not part:
        return "a part must not be empty; "
    if match is None:
        return "expected *, N or N-M, each optionally followed by /step; "
    star, start_text, end_text, step_text = match.groups()
    if star:
        start, end = min_value, max_value
    else:
        start = _to_int(start_text)
        end = start if end_text is None else _to_int(end_text)
        if step_text is not None and end_text is None:
            return "a step may only follow a range or a star; "
        if not (min_value <= start <= max_value and min_value <= end <= max_value):
            return ""
    step = 1 if step_text is None else _to_int(step_text)
    if step < 1:
        return "the step must be at least 1; "

    if start <= end:
        progressions.append(_progression(start, end, step))
    else:
        # Wrap around: continue past the maximum as if the range repeated.
        width = max_value - min_value + 1
        progressions.append(_progression(start, max_value, step))
        resumed = start + ((max_value + 1 - start + step - 1) // step) * step - width
        if resumed <= end:
            progressions.append(_progression(resumed, end, step))
    return None


def _to_int(digits: str) -> int:
    # Longer digit strings than any range needs count as out of range
    # (and stay clear of int()'s limit on huge conversions).
    return int(digits) if len(digits) <= 40 else 10**40


def _progression(first: int, end: int, step: int) -> Progression:
    last = first + (end - first) // step * step
    return (first, last, 1 if first == last else step)


def _normalize(parts: list[Progression]) -> tuple[Progression, ...]:
    """Merge touching progressions of one class and drop contained ones."""
    groups: dict[tuple[int, int], list[Progression]] = {}
    for first, last, step in parts:
        groups.setdefault((step, first % step), []).append((first, last, step))
    merged = []
    for (step, _), group in groups.items():
        group.sort()
        current_first, current_last, _ = group[0]
        for first, last, _ in group[1:]:
            if first <= current_last + step:
                current_last = max(current_last, last)
            else:
                merged.append((current_first, current_last, step))
                current_first, current_last = first, last
        merged.append((current_first, current_last, step))
    kept = [
        part
        for index, part in enumerate(merged)
        if not any(
            _is_subset(part, other) and (part != other or other_index < index)
            for other_index, other in enumerate(merged)
            if other_index != index
        )
    ]
    return tuple(sorted(kept))


def _is_subset(part: Progression, other: Progression) -> bool:
    first, last, step = part
    other_first, other_last, other_step = other
    if first < other_first or last > other_last or (first - other_first) % other_step:
        return False
    return first == last or step % other_step == 0


def _count_union(parts: tuple[Progression, ...]) -> int:
    sizes = [(last - first) // step + 1 for first, last, step in parts]
    if len(parts) == 1:
        return sizes[0]
    if sum(sizes) <= _COUNT_BY_SET_LIMIT:
        return len(set().union(*(range(a, b + 1, s) for a, b, s in parts)))

    # Inclusion-exclusion, pruned: an empty intersection stays empty when
    # more progressions join it.
    total = 0
    stack = [(index + 1, part, 1) for index, part in enumerate(parts)]
    while stack:
        next_index, current, sign = stack.pop()
        first, last, step = current
        total += sign * ((last - first) // step + 1)
        for index in range(next_index, len(parts)):
            common = _intersect(current, parts[index])
            if common is not None:
                stack.append((index + 1, common, -sign))
    return total


def _intersect(left: Progression, right: Progression) -> Progression | None:
    first_a, last_a, step_a = left
    first_b, last_b, step_b = right
    low, high = max(first_a, first_b), min(last_a, last_b)
    if low > high:
        return None
    divisor = math.gcd(step_a, step_b)
    if (first_b - first_a) % divisor:
        return None
    # Chinese remainder theorem for x = first_a (mod step_a), first_b (mod step_b).
    modulus = step_b // divisor
    factor = (first_b - first_a) // divisor * pow(step_a // divisor, -1, modulus)
    common_step = step_a * modulus
    anchor = first_a + step_a * (factor % modulus)
    first = low + (anchor - low) % common_step
    if first > high:
        return None
    return _progression(first, high, common_step)


def _format_progression(part: Progression, min_value: int, max_value: int) -> str:
    first, last, step = part
    if first == last:
        return str(first)
    if step == 1:
        return f"{first}-{last}"
    if first == min_value and last + step > max_value:
        return f"*/{step}"
    return f"{first}-{last}/{step}"


def _shortest_spec(values: tuple[int, ...], min_value: int, max_value: int) -> str:
    """Return the shorter of a cover by plain runs and a greedy cover."""
    runs = _runs(values, min_value, max_value)
    by_runs = _join_cover(runs)
    by_greedy = _join_cover(_greedy_cover(values, runs, min_value, max_value))
    return by_greedy if len(by_greedy) < len(by_runs) else by_runs


# A candidate part of a simplified spec: (sort key, text, members).
_Cover = tuple[int, str, frozenset[int]]


def _runs(values: tuple[int, ...], min_value: int, max_value: int) -> list[_Cover]:
    """Cover the values by maximal runs, joining the two ends into a wrap."""
    runs: list[list[int]] = []
    for value in values:
        if runs and runs[-1][-1] + 1 == value:
            runs[-1].append(value)
        else:
            runs.append([value])
    parts = [part for run in runs for part in _run_parts(run)]
    if len(runs) > 1 and runs[0][0] == min_value and runs[-1][-1] == max_value:
        wrap = runs[-1] + runs[0]
        ends = _run_parts(runs[0]) + _run_parts(runs[-1])
        if len(f"{wrap[0]}-{wrap[-1]}") < len(_join_cover(ends)):
            parts = [part for part in parts if part not in ends]
            parts.append((wrap[0], f"{wrap[0]}-{wrap[-1]}", frozenset(wrap)))
    return parts


def _run_parts(run: list[int]) -> list[_Cover]:
    if len(run) <= 2:
        return [(value, str(value), frozenset([value])) for value in run]
    return [(run[0], f"{run[0]}-{run[-1]}", frozenset(run))]


def _greedy_cover(
    values: tuple[int, ...], runs: list[_Cover], min_value: int, max_value: int
) -> list[_Cover]:
    """Cover the values greedily by runs and stepped progressions."""
    members = set(values)
    candidates = list(runs)
    for step in _steps_to_try(values, min_value, max_value):
        for chain in _chains(values, members, step, min_value, max_value):
            if len(chain) >= 3:
                text = _format_chain(chain, step, min_value, max_value)
                candidates.append((chain[0], text, frozenset(chain)))

    chosen: list[_Cover] = []
    uncovered = set(values)
    while uncovered:
        best = max(
            candidates,
            key=lambda candidate: (
                len(candidate[2] & uncovered) / (len(candidate[1]) + 1),
                -len(candidate[1]),
            ),
        )
        chosen.append(best)
        uncovered -= best[2]

    # A part picked early may be covered by the parts picked after it.
    for part in sorted(chosen, key=lambda part: -len(part[1])):
        others = [other for other in chosen if other is not part]
        if others and part[2] <= frozenset().union(*(other[2] for other in others)):
            chosen = others
    return chosen


def _steps_to_try(values: tuple[int, ...], min_value: int, max_value: int) -> list[int]:
    width = max_value - min_value + 1
    if width <= 2 * _SIMPLIFY_SEARCH_LIMIT:
        return list(range(2, width // 2 + 1))
    # On wide ranges try only the gaps between near neighbours.
    gaps = {b - a for a, b in itertools.pairwise(values)}
    gaps.update(b - a for a, b in zip(values, values[2:], strict=False))
    gaps.add(values[0] + width - values[-1])
    return sorted(gap for gap in gaps if 2 <= gap <= width // 2)


def _chains(
    values: tuple[int, ...],
    members: set[int],
    step: int,
    min_value: int,
    max_value: int,
) -> Iterator[list[int]]:
    """Yield the maximal progressions of ``step`` in the set, wrapping once."""
    width = max_value - min_value + 1
    seen: set[int] = set()
    for value in values:
        if value in seen:
            continue
        start = value
        while (before := _cycle(start - step, min_value, width)) in members:
            if before == value:
                # A whole cycle: start it at its smallest member.
                start = value
                break
            start = before
        chain = [start]
        wraps = 0
        while (after := _cycle(chain[-1] + step, min_value, width)) in members:
            if after == start:
                break
            wraps += after < chain[-1]
            chain.append(after)
        seen.update(chain)
        if wraps == 0 or (wraps == 1 and chain[-1] < chain[0]):
            yield chain


def _cycle(value: int, min_value: int, width: int) -> int:
    return (value - min_value) % width + min_value


def _format_chain(chain: list[int], step: int, min_value: int, max_value: int) -> str:
    if chain[-1] < chain[0]:
        return f"{chain[0]}-{chain[-1]}/{step}"
    return _format_progression((chain[0], chain[-1], step), min_value, max_value)


def _join_cover(parts: list[_Cover]) -> str:
    return ",".join(text for _, text, _ in sorted(parts))
