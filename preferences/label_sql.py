"""The comparison kind's agreement labels as PostgreSQL expressions (ComparisonKind.agreement_sql):
`comparison_label` and `signed_strength` (preferences.kinds) over a jsonb answer `{p}` and the
item's canonical response ids `{c}` (bigint[]), for annotation.quality.tally_sql's set-based full
rebuild. `OK` is true where they give exactly what the Python gives; a judgment outside it (an
N-way comparison, whose ranking only the Python reads; a non-integral winner id; a strength that is
not a number; a payload or criteria of another shape) sends its item through the Python hooks.
No Django.
"""

# whether the top group's one member (a jsonb value) is a JSON number written as an integer of at most
# 18 digits: what the text pattern '^-?[0-9]{1,18}$' says of a number (PostgreSQL writes a jsonb number
# without an exponent, with as many decimals as its scale), without a regular expression per judgment
# (~1.5 us each, several per judgment); false for any other value (no cast of a non-number is made)
INTEGRAL = """(CASE WHEN jsonb_typeof({p}->'ranking'->0->0) = 'number'
    THEN scale(({p}->'ranking'->0->0)::numeric) = 0 AND abs(({p}->'ranking'->0->0)::numeric) < 1000000000000000000
    ELSE false END)"""

# "response N" (1-based canonical position of the winner), "tie", "both_bad" or NULL. (Where OK is
# false its value does not matter, only that it raises no error: a string member gives NULL.)
LABEL = (
    """(CASE WHEN {p}->>'outcome' IN ('tie', 'both_bad') THEN {p}->>'outcome'
    WHEN coalesce(jsonb_typeof({p}->'ranking'->0), '') <> 'array' THEN NULL
    WHEN jsonb_array_length({p}->'ranking'->0) = 0 THEN NULL
    WHEN jsonb_array_length({p}->'ranking'->0) > 1 THEN 'tie'
    WHEN NOT """
    + INTEGRAL
    + """ THEN NULL
    ELSE coalesce('response ' || array_position({c}, ({p}->'ranking'->0->>0)::bigint),
                  'response id ' || ({p}->'ranking'->0->>0)) END)"""
)

# the answers LABEL gives exactly: an object (or none) whose top group is absent, empty, a tie, or
# one integral response id; false, never NULL, for any other (CRITERIA_OK negates it: a NULL there,
# from an answer without "outcome", once let a criterion's "5.0" or "5" through to the SQL label)
LABEL_OK = (
    """coalesce(((jsonb_typeof({p}) IS NULL OR jsonb_typeof({p}) IN ('object', 'null'))
    AND ({p}->>'outcome' IN ('tie', 'both_bad')
        OR coalesce(jsonb_typeof({p}->'ranking'), 'null') = 'null'
        OR {p}->'ranking' = '[]'::jsonb
        OR (jsonb_typeof({p}->'ranking') = 'array' AND CASE
            WHEN coalesce(jsonb_typeof({p}->'ranking'->0), 'null') = 'null' THEN true
            WHEN jsonb_typeof({p}->'ranking'->0) <> 'array' THEN false
            WHEN jsonb_array_length({p}->'ranking'->0) <> 1 THEN true
            ELSE """
    + INTEGRAL
    + """ END))), false)"""
)

# the strength's magnitude, at least 1; a number beyond STRENGTH_OK's bound reads 0 here (its judgment
# goes to the Python, but this is computed for every row, and an integer cast of 2^31 would fail the
# whole rebuild)
_MAGNITUDE = """greatest(1, trunc(CASE WHEN jsonb_typeof({p}->'strength') = 'number'
    AND abs(({p}->>'strength')::numeric) < 1000000000 THEN ({p}->>'strength')::numeric ELSE 0 END))::integer"""

# signed_strength, given the label `{l}`: pairwise only. `{l}` is the label's expression, inlined by
# PostgreSQL wherever it is named: the simple CASE evaluates it once (a second time only for a label
# other than a tie, both bad, response 1 or 2)
STRENGTH = (
    """(CASE WHEN cardinality({c}) <> 2 THEN NULL ELSE (CASE {l} WHEN 'tie' THEN 0 WHEN 'both_bad' THEN 0
    WHEN 'response 1' THEN """
    + _MAGNITUDE
    + """ WHEN 'response 2' THEN -"""
    + _MAGNITUDE
    + """
    ELSE (CASE WHEN {l} IS NULL THEN NULL ELSE -"""
    + _MAGNITUDE
    + """ END) END) END)"""
)

STRENGTH_OK = """(coalesce(jsonb_typeof({p}->'strength'), 'null') = 'null'
    OR (jsonb_typeof({p}->'strength') = 'number' AND abs(({p}->>'strength')::numeric) < 1000000000))"""

# criterion_labels: a criterion answer's label when it is an object
CRITERION = "(CASE WHEN jsonb_typeof({p}) = 'object' THEN " + LABEL + " END)"

CRITERIA_OK = (
    """(CASE WHEN {p}->'criteria' = '{}'::jsonb THEN true
    WHEN jsonb_typeof({p}->'criteria') = 'object' THEN NOT EXISTS (
        SELECT 1 FROM jsonb_each({p}->'criteria') AS crit(key, value)
        WHERE jsonb_typeof(crit.value) = 'object' AND NOT """
    + LABEL_OK.replace("{p}", "crit.value")
    + """)
    ELSE coalesce(jsonb_typeof({p}->'criteria'), 'null') = 'null' END)"""
)


def agreement_sql() -> dict:
    """ComparisonKind.agreement_sql: the canonical ids of shown responses by position as context;
    N-way comparisons (a ranking) left to the Python."""
    return {
        "label": LABEL,
        "strength": STRENGTH,
        "criterion": CRITERION,
        "ok": f"(cardinality({{c}}) <= 2 AND {LABEL_OK} AND {STRENGTH_OK} AND {CRITERIA_OK})",
        "context": """SELECT r.item_id, array_agg(r.id ORDER BY r.position) FROM annotation_response r
            WHERE r.shown AND r.item_id IN ({items}) GROUP BY r.item_id""",
    }
