import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batchrun.intset import IntegerSetSpecifier, InvalidSpecifier

HOURS = (0, 23)
MINUTES = (0, 59)
DAYS = (1, 31)
SYNTAX = "expected *, N or N-M, each optionally followed by /step; "


class TestParsing:
    @pytest.mark.parametrize(
        ("spec", "bounds", "expected"),
        [
            pytest.param("*", (0, 6), [0, 1, 2, 3, 4, 5, 6], id="star"),
            pytest.param("7", HOURS, [7], id="single"),
            pytest.param("0", HOURS, [0], id="minimum"),
            pytest.param("23", HOURS, [23], id="maximum"),
            pytest.param("007", HOURS, [7], id="leading-zeros"),
            pytest.param("3-6", HOURS, [3, 4, 5, 6], id="range"),
            pytest.param("5-5", HOURS, [5], id="range-of-one"),
            pytest.param("1,4,7-9", HOURS, [1, 4, 7, 8, 9], id="list"),
            pytest.param("9,1,4", HOURS, [1, 4, 9], id="unordered-list"),
            pytest.param("1-5,3-8,2", HOURS, [1, 2, 3, 4, 5, 6, 7, 8], id="overlap"),
            pytest.param("*/3", (1, 12), [1, 4, 7, 10], id="star-step"),
            pytest.param("2-20/5", HOURS, [2, 7, 12, 17], id="range-step"),
            pytest.param("2-4/10", HOURS, [2], id="step-beyond-range"),
            pytest.param("*/1", (0, 3), [0, 1, 2, 3], id="step-one"),
            pytest.param(
                "7-5",
                DAYS,
                [1, 2, 3, 4, 5, *range(7, 32)],
                id="wrap-days-of-month",
            ),
            pytest.param("22-2", HOURS, [0, 1, 2, 22, 23], id="wrap-hours"),
            pytest.param("22-4/2", HOURS, [0, 2, 4, 22], id="wrap-step-continues"),
            pytest.param("21-4/2", HOURS, [1, 3, 21, 23], id="wrap-step-odd"),
            pytest.param("22-2/12", HOURS, [22], id="wrap-step-past-end"),
            pytest.param("6-0", (0, 6), [0, 6], id="wrap-weekdays"),
            pytest.param("  1-3 ", HOURS, [1, 2, 3], id="surrounding-space"),
            pytest.param("1, 2 ,3", HOURS, [1, 2, 3], id="space-around-commas"),
        ],
    )
    def test_valid_specifier_has_these_members(self, spec, bounds, expected):
        """A valid specifier iterates over exactly its members, ascending."""
        assert list(IntegerSetSpecifier(spec, *bounds)) == expected

    @pytest.mark.parametrize(
        ("spec", "part", "problem"),
        [
            pytest.param("", "", "a part must not be empty; ", id="empty"),
            pytest.param("  ", "", "a part must not be empty; ", id="blank"),
            pytest.param("1,,2", "", "a part must not be empty; ", id="empty-part"),
            pytest.param("1,", "", "a part must not be empty; ", id="trailing-comma"),
            pytest.param("a", "a", SYNTAX, id="letter"),
            pytest.param("1-", "1-", SYNTAX, id="open-range"),
            pytest.param("-1", "-1", SYNTAX, id="negative"),
            pytest.param("--1", "--1", SYNTAX, id="double-dash"),
            pytest.param("1-2-3", "1-2-3", SYNTAX, id="two-dashes"),
            pytest.param("+1", "+1", SYNTAX, id="plus-sign"),
            pytest.param("1 2", "1 2", SYNTAX, id="inner-space"),
            pytest.param("*-5", "*-5", SYNTAX, id="star-range"),
            pytest.param("**", "**", SYNTAX, id="two-stars"),
            pytest.param("1/", "1/", SYNTAX, id="missing-step"),
            pytest.param("*/2/2", "*/2/2", SYNTAX, id="two-steps"),
            pytest.param("1.5", "1.5", SYNTAX, id="decimal"),
            pytest.param("\u0665", "\u0665", SYNTAX, id="arabic"),
            pytest.param("*/0", "*/0", "the step must be at least 1; ", id="step-zero"),
            pytest.param(
                "5/2", "5/2", "a step may only follow a range or a star; ", id="step"
            ),
            pytest.param("61", "61", "", id="above-range"),
            pytest.param("1,61", "61", "", id="second-part-above-range"),
            pytest.param("50-61", "50-61", "", id="range-end-above"),
            pytest.param("60-1", "60-1", "", id="wrap-start-above"),
            pytest.param("9" * 60, "9" * 60, "", id="huge-number"),
        ],
    )
    def test_malformed_specifier_names_the_part_and_range(self, spec, part, problem):
        """Each malformed part raises InvalidSpecifier naming it and the range."""
        expected = (
            f"Invalid part {part!r} in minutes specifier {spec!r}: "
            f"{problem}values must be in 0-59."
        )

        with pytest.raises(
            InvalidSpecifier, match=f"^{re.escape(expected)}$"
        ) as caught:
            IntegerSetSpecifier(spec, *MINUTES, field="minutes")

        assert caught.value.part == part
        assert caught.value.spec == spec

    def test_value_out_of_range_message(self):
        """The message for an out-of-range value is one plain sentence."""
        message = (
            "Invalid part '61' in minutes specifier '1,61': values must be in 0-59."
        )

        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            IntegerSetSpecifier("1,61", 0, 59, field="minutes")

    def test_message_without_field_name(self):
        """Without a field name the message still names the part and range."""
        with pytest.raises(
            InvalidSpecifier,
            match=re.escape(
                "Invalid part '0' in specifier '0': values must be in 1-12."
            ),
        ):
            IntegerSetSpecifier("0", 1, 12)

    def test_error_is_a_value_error(self):
        """Callers may catch the parse error as a plain ValueError."""
        assert issubclass(InvalidSpecifier, ValueError)

    def test_non_string_raises_type_error(self):
        """A specifier must be given as a string."""
        with pytest.raises(TypeError, match="must be a string, not int"):
            IntegerSetSpecifier(5, 0, 59)

    def test_empty_range_raises(self):
        """A range whose minimum is above its maximum is refused."""
        with pytest.raises(ValueError, match=r"^The range 5-4 is empty\.$"):
            IntegerSetSpecifier("*", 5, 4)


class TestQueries:
    def test_membership(self):
        """``in`` answers for members, non-members and non-integers."""
        spec = IntegerSetSpecifier("*/15,7", *MINUTES)

        assert 30 in spec
        assert 7 in spec
        assert 8 not in spec
        assert 60 not in spec
        assert -15 not in spec
        assert "30" not in spec
        assert 30.0 not in spec

    @pytest.mark.parametrize(
        ("spec", "bounds", "expected"),
        [
            pytest.param("*", MINUTES, 60, id="star"),
            pytest.param("1-5,3-8", MINUTES, 8, id="overlap"),
            pytest.param("*/2,*/3", MINUTES, 40, id="two-steps"),
            pytest.param("*/3,*/5", (1, 10**9), 466_666_667, id="billion"),
            pytest.param("*", (1, 10**9), 10**9, id="billion-star"),
            pytest.param(
                "1-999999999/2,2-1000000000/2", (1, 10**9), 10**9, id="halves"
            ),
            pytest.param(
                "*/2,*/3,*/5,*/7,*/11,*/13,*/17,*/19,*/23,*/29",
                (1, 10**9),
                None,
                id="ten-primes",
            ),
        ],
    )
    def test_length(self, spec, bounds, expected):
        """``len`` counts the union, however wide the range."""
        if expected is None:
            primes = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29]
            expected = _count_one_modulo_any(primes, bounds[1])

        assert len(IntegerSetSpecifier(spec, *bounds)) == expected

    def test_length_matches_brute_force_above_the_set_limit(self):
        """Inclusion-exclusion agrees with counting every member."""
        spec = "3-900000/4,*/6,10-800000/10,5,7-99"

        expected = len(
            set(range(3, 900001, 4))
            | set(range(1, 10**6 + 1, 6))
            | set(range(10, 800001, 10))
            | {5}
            | set(range(7, 100))
        )

        assert len(IntegerSetSpecifier(spec, 1, 10**6)) == expected

    def test_iteration_over_huge_range_is_lazy(self):
        """Iteration yields the first members at once on a huge range."""
        spec = IntegerSetSpecifier("*/3,*/5", 1, 10**12)

        iterator = iter(spec)

        assert [next(iterator) for _ in range(6)] == [1, 4, 6, 7, 10, 11]

    def test_first_and_last(self):
        """``first`` and ``last`` give the smallest and largest member."""
        spec = IntegerSetSpecifier("22-4/2", *HOURS)

        assert (spec.first, spec.last) == (0, 22)

    @pytest.mark.parametrize(
        ("value", "expected_next", "expected_previous"),
        [
            pytest.param(0, 1, None, id="below"),
            pytest.param(1, 1, 1, id="member"),
            pytest.param(500_000_000, 500_000_001, 499_999_996, id="middle"),
            pytest.param(999_999_998, 999_999_999, 999_999_996, id="near-end"),
            pytest.param(10**9, None, 999_999_999, id="above"),
        ],
    )
    def test_next_and_previous_value(self, value, expected_next, expected_previous):
        """The nearest members are found without walking the range."""
        spec = IntegerSetSpecifier("*/5,999999999", 1, 10**9)

        assert spec.next_value(value) == expected_next
        assert spec.previous_value(value) == expected_previous

    @pytest.mark.parametrize(
        ("spec", "expected"),
        [
            pytest.param("*", True, id="star"),
            pytest.param("0-59", True, id="full-range"),
            pytest.param("30-29", True, id="full-wrap"),
            pytest.param("*/2,1-59/2", True, id="two-halves"),
            pytest.param("1-59", False, id="missing-zero"),
        ],
    )
    def test_is_full(self, spec, expected):
        """``is_full`` tells whether the set is the whole range."""
        assert IntegerSetSpecifier(spec, *MINUTES).is_full is expected


class TestIdentity:
    def test_equal_on_string_and_range(self):
        """Specifiers are equal when their strings and ranges are."""
        assert IntegerSetSpecifier("1-4", 0, 59) == IntegerSetSpecifier("1-4", 0, 59)

    def test_same_set_written_differently_is_not_equal(self):
        """Equality keeps the original string, not just the set."""
        assert IntegerSetSpecifier("1-4", 0, 59) != IntegerSetSpecifier(
            "1,2,3,4", 0, 59
        )

    def test_different_range_is_not_equal(self):
        """The same string over another range is another specifier."""
        assert IntegerSetSpecifier("1-4", 0, 59) != IntegerSetSpecifier("1-4", 0, 23)

    def test_field_name_does_not_matter(self):
        """The field name is only for messages."""
        first = IntegerSetSpecifier("1-4", 0, 59, field="minutes")

        assert first == IntegerSetSpecifier("1-4", 0, 59)
        assert hash(first) == hash(IntegerSetSpecifier("1-4", 0, 59))

    def test_not_equal_to_other_types(self):
        """A specifier never equals its string or its set."""
        spec = IntegerSetSpecifier("1-4", 0, 59)

        assert spec != "1-4"
        assert spec != {1, 2, 3, 4}

    def test_usable_as_dict_key(self):
        """Equal specifiers hash alike."""
        table = {IntegerSetSpecifier("*/5", 0, 59): "five"}

        assert table[IntegerSetSpecifier("*/5", 0, 59)] == "five"

    def test_repr(self):
        """``repr`` shows a call that builds an equal specifier."""
        spec = IntegerSetSpecifier("1,4,7-9", 1, 31, field="days of month")

        assert repr(spec) == "IntegerSetSpecifier('1,4,7-9', 1, 31)"
        assert eval(repr(spec)) == spec

    def test_str_is_the_original_string(self):
        """``str`` gives the string as written, white space included."""
        assert str(IntegerSetSpecifier(" 1,2 ", 0, 59)) == " 1,2 "


class TestSimplify:
    @pytest.mark.parametrize(
        ("spec", "bounds", "expected"),
        [
            pytest.param("1,2,3,4", MINUTES, "1-4", id="run"),
            pytest.param("0-59", MINUTES, "*", id="full-range"),
            pytest.param("*/2,1-59/2", MINUTES, "*", id="full-by-steps"),
            pytest.param("5", MINUTES, "5", id="single"),
            pytest.param("5,6", MINUTES, "5,6", id="pair"),
            pytest.param("4,3,2,1,9", MINUTES, "1-4,9", id="unordered"),
            pytest.param("0,15,30,45", MINUTES, "*/15", id="star-step"),
            pytest.param("0,20,40", MINUTES, "*/20", id="three-step"),
            pytest.param("5,20,35,50", MINUTES, "5-50/15", id="range-step"),
            pytest.param("0,15,30,45,7", MINUTES, "*/15,7", id="step-and-single"),
            pytest.param("22,23,0,1,2", HOURS, "22-2", id="wrap"),
            pytest.param("0,2,4,22", HOURS, "22-4/2", id="wrap-step"),
            pytest.param("0,23", HOURS, "0,23", id="short-wrap-stays-list"),
            pytest.param("1-5", (0, 6), "1-5", id="weekdays"),
            pytest.param("6,0", (0, 6), "0,6", id="weekend"),
            pytest.param("*/2,*/3", MINUTES, "*/2,*/3", id="two-steps"),
            pytest.param("*/5,*/3", (1, 10**9), "*/3,*/5", id="billion"),
            pytest.param("1-4,1-4", (1, 10**9), "1-4", id="billion-small"),
        ],
    )
    def test_shortest_canonical_form(self, spec, bounds, expected):
        """``simplify`` writes the set in its short canonical form."""
        simplified = IntegerSetSpecifier(spec, *bounds).simplify()

        assert simplified == IntegerSetSpecifier(expected, *bounds)

    def test_keeps_the_field_name(self):
        """The simplified specifier reports errors under the same field name."""
        simplified = IntegerSetSpecifier("1,2,3", 0, 59, field="minutes").simplify()

        assert simplified.field == "minutes"

    @settings(max_examples=150, deadline=None)
    @given(
        values=st.sets(st.integers(0, 59), min_size=1),
        other_order=st.randoms(use_true_random=False),
    )
    def test_depends_only_on_the_set(self, values, other_order):
        """Two spellings of one set simplify alike, to the same members."""
        shuffled = list(values)
        other_order.shuffle(shuffled)
        first = IntegerSetSpecifier(",".join(map(str, sorted(values))), 0, 59)
        second = IntegerSetSpecifier(",".join(map(str, shuffled)), 0, 59)

        simplified = first.simplify()

        assert simplified == second.simplify()
        assert set(simplified) == values
        assert simplified.simplify() == simplified
        assert len(simplified.spec) <= len(first.spec)


class TestAgainstAModel:
    @settings(max_examples=200, deadline=None)
    @given(data=st.data())
    def test_queries_match_the_set_of_members(self, data):
        """Membership, length, order and neighbours agree with a plain set."""
        low = data.draw(st.integers(0, 5), label="low")
        high = data.draw(st.integers(low, low + 40), label="high")
        values = st.integers(low, high)
        parts = data.draw(
            st.lists(
                st.one_of(
                    st.just(("*", None, None)),
                    st.tuples(values, st.none(), st.none()),
                    st.tuples(values, values, st.none() | st.integers(1, 50)),
                    st.tuples(st.just("*"), st.none(), st.integers(1, 50)),
                ),
                min_size=1,
                max_size=5,
            ),
            label="parts",
        )
        spec = ",".join(_format_part(*part) for part in parts)
        expected = set()
        for part in parts:
            expected |= _expand_part(*part, low, high)

        result = IntegerSetSpecifier(spec, low, high)

        assert list(result) == sorted(expected)
        assert len(result) == len(expected)
        assert all((value in result) == (value in expected) for value in range(-1, 50))
        for value in range(low - 1, high + 2):
            after = [member for member in expected if member >= value]
            before = [member for member in expected if member <= value]
            assert result.next_value(value) == (min(after) if after else None)
            assert result.previous_value(value) == (max(before) if before else None)


def _format_part(start, end, step):
    text = str(start) if end is None else f"{start}-{end}"
    return text if step is None else f"{text}/{step}"


def _expand_part(start, end, step, low, high):
    """Expand one part by walking it, as PRODUCT.md describes it."""
    if start == "*":
        start, end = low, high
    elif end is None:
        return {start}
    step = step or 1
    width = high - low + 1
    stop = end if end >= start else end + width
    return {(value - low) % width + low for value in range(start, stop + 1, step)}


def _count_one_modulo_any(primes, limit):
    """Count 1..limit that are 1 modulo one of the primes (``*/p`` from 1)."""
    total = 0
    for mask in range(1, 1 << len(primes)):
        product = 1
        for index, prime in enumerate(primes):
            if mask >> index & 1:
                product *= prime
        sign = 1 if bin(mask).count("1") % 2 else -1
        total += sign * ((limit - 1) // product + 1)
    return total
