"""preferences.diff: word-level differences between two responses (pure)."""

from hypothesis import given
from hypothesis import strategies as st

from preferences.diff import DELETE, EQUAL, INSERT, SKIPPED, tokenize, word_diff


def ops(segments):
    return [(s.op, s.text) for s in segments]


def words(text):
    return [t.strip() for t in tokenize(text) if t.strip()]


def rebuilt(segments):
    return "".join(s.text for s in segments)


def test_equal_texts_have_no_differences():
    d = word_diff("The cat sat.", "The cat sat.")
    assert d.identical and d.removed == d.added == 0
    assert ops(d.left) == ops(d.right) == [(EQUAL, "The cat sat.")]


def test_whitespace_alone_is_no_difference_and_each_side_keeps_its_own():
    d = word_diff("one two\nthree", "one  two three")
    assert d.identical
    assert rebuilt(d.left) == "one two\nthree" and rebuilt(d.right) == "one  two three"


def test_insertions_are_marked_on_the_right_only():
    d = word_diff("The cat sat.", "The black cat sat down.")
    assert (d.removed, d.added) == (0, 2)
    assert ops(d.left) == [(EQUAL, "The cat sat.")]
    assert ops(d.right) == [
        (EQUAL, "The "),
        (INSERT, "black"),
        (EQUAL, " cat sat "),
        (INSERT, "down"),
        (EQUAL, "."),
    ]


def test_deletions_are_marked_on_the_left_only():
    d = word_diff("Paris is the capital of France.", "Paris is the capital.")
    assert (d.removed, d.added) == (2, 0)
    assert ops(d.left) == [(EQUAL, "Paris is the capital "), (DELETE, "of France"), (EQUAL, ".")]
    assert ops(d.right) == [(EQUAL, "Paris is the capital.")]


def test_a_replaced_word_and_punctuation_are_words_of_their_own():
    d = word_diff("Yes, it is 42.", "No, it is 43!")
    assert (d.removed, d.added) == (3, 3)
    assert [s.text for s in d.left if s.op == DELETE] == ["Yes", "42."]  # neighbours merge into one mark
    assert [s.text for s in d.right if s.op == INSERT] == ["No", "43!"]


def test_unicode_words_accents_cjk_and_emoji():
    assert tokenize("café naïve") == ["café ", "naïve"]
    assert tokenize("cafe\u0301 ok") == ["cafe\u0301 ", "ok"]  # a combining accent stays in its word
    assert tokenize("東京は晴れ") == ["東", "京", "は", "晴", "れ"]  # no spaces: one ideograph or kana a word
    d = word_diff("東京は晴れです 🙂", "東京は雨です 🙂")
    assert [s.text for s in d.left if s.op == DELETE] == ["晴れ"]
    assert [s.text for s in d.right if s.op == INSERT] == ["雨"]
    d = word_diff("Ça va très bien", "Ça va très mal")
    assert [s.text for s in d.right if s.op == INSERT] == ["mal"]


def test_empty_texts():
    assert word_diff("", "").identical
    d = word_diff("", "new words")
    assert (d.removed, d.added) == (0, 2) and ops(d.right) == [(INSERT, "new words")] and d.left == ()


def test_very_long_texts_are_compared_up_to_the_cap_and_shown_whole():
    left = "word " * 10_000
    right = "word " * 9_999 + "other"
    d = word_diff(left, right, max_tokens=500)
    assert d.truncated and not d.identical
    assert (d.removed, d.added) == (0, 0)  # the difference lies past the cap
    assert d.left[-1].op == SKIPPED and d.right[-1].op == SKIPPED
    assert rebuilt(d.left) == left and rebuilt(d.right) == right
    assert len(d.left) == 2  # one equal run over the compared words, then the rest


def test_long_unrelated_texts_of_few_distinct_words_still_finish_with_a_whole_answer():
    # popular tokens are what make difflib slow; past the budget its heuristic for them is on
    left = " ".join(["the cat sat on a mat"] * 600)
    right = " ".join(["a dog lay on the rug"] * 600)
    d = word_diff(left, right)
    assert rebuilt(d.left) == left and rebuilt(d.right) == right and not d.identical


TEXT = st.text(alphabet=st.sampled_from(list("ab c\n.,éé東京🙂 ")), max_size=60)


@given(TEXT, TEXT)
def test_each_side_rebuilds_its_text_and_counts_match_the_marks(left, right):
    d = word_diff(left, right)
    assert rebuilt(d.left) == left and rebuilt(d.right) == right
    assert all(s.op in (EQUAL, DELETE) for s in d.left) and all(s.op in (EQUAL, INSERT) for s in d.right)
    assert d.removed == sum(len([t for t in tokenize(s.text) if t.strip()]) for s in d.left if s.op == DELETE)
    assert d.added == sum(len([t for t in tokenize(s.text) if t.strip()]) for s in d.right if s.op == INSERT)
    assert d.identical == (words(left) == words(right))
