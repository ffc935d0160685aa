"""Pure preference aggregation: per-comparison consensus, Bradley-Terry strengths, bootstrap, biases.

numpy only, no Django. Raw judgments are the source of truth; everything here is derived from them
and records the rule and parameters that produced it (`ConsensusResult.params`, `BTResult.params`).

Conventions
  * A pairwise vote says which of `left` / `right` (response ids, as displayed) won, or "tie" /
    "both_bad", with a strength 1..3 (slightly, clearly, much better). Its signed margin is
    +strength when the comparison's first response wins, -strength when the second does, 0 otherwise
    (a win with no stated strength, e.g. from a ranking, counts as 1).
  * An N-way vote is a ranking: groups of response ids, best first; ids in one group are tied.
  * Model outcomes for Bradley-Terry are rows ``(winner, loser)`` or ``(a, b, score_a)`` with
    ``score_a`` in {1, 0.5, 0}; a tie counts as half a win each way. "Both bad" is the caller's
    choice: drop it, or pass it as a tie.

Contract: this package's public API is the names in `__all__` (plus the constants BT_ALPHA,
ELO_SCALE, OUTCOMES, OUTCOME_NAMES), imported from `preferences.consensus`, never from its modules:
  * `votes`      Vote, Pair, ranking_to_pairs (the inputs);
  * `rules`      consensus_for_comparison, consensus_by_comparison, RULES (per-comparison consensus);
  * `strengths`  bradley_terry, bt_with_bootstrap, bt_from_counts, BTResult, comparison_counts,
                 win_rate_matrix, win_rate_from_counts;
  * `bias`       position_bias, PositionBias, SlotCounts;
  * `pairwise`   pairwise_consensus, PairwiseVotes, PairwiseResult, weights_by_comparison (the
                 "majority" / "weighted" rules over every two-response comparison at once, as arrays);
  * `dawid_skene` dawid_skene_consensus (the "dawid_skene" rule: one fit over every comparison),
                 dawid_skene_batch (the same with the two-response comparisons as arrays).
Callers that must be patchable in tests (`preferences.selectors`) call through the package
(`consensus.bt_with_bootstrap(...)`), so `monkeypatch.setattr(consensus, ...)` takes effect.
Inside the package: votes, strengths and pairwise import no sibling; rules imports votes and
strengths; bias imports votes; dawid_skene imports pairwise, rules, votes and
`annotation.core.reliability` (the Dawid-Skene fit).
"""

# BT_ALPHA, ELO_SCALE, OUTCOMES and OUTCOME_NAMES are outside `__all__`; the `X as X` aliases re-export them.
from .bias import PositionBias, SlotCounts, position_bias
from .dawid_skene import DawidSkenePairwise, dawid_skene_batch, dawid_skene_consensus
from .pairwise import OUTCOME_NAMES as OUTCOME_NAMES
from .pairwise import PairwiseResult, PairwiseVotes, pairwise_consensus, weights_by_comparison
from .rules import BT_ALPHA as BT_ALPHA
from .rules import OUTCOMES as OUTCOMES
from .rules import RULES, ConsensusResult, PairConsensus, consensus_by_comparison, consensus_for_comparison
from .strengths import ELO_SCALE as ELO_SCALE
from .strengths import (
    BTResult,
    bradley_terry,
    bt_from_counts,
    bt_with_bootstrap,
    comparison_counts,
    win_rate_from_counts,
    win_rate_matrix,
)
from .votes import Pair, Vote, ranking_to_pairs

__all__ = [
    "RULES",
    "BTResult",
    "ConsensusResult",
    "DawidSkenePairwise",
    "Pair",
    "PairConsensus",
    "PairwiseResult",
    "PairwiseVotes",
    "PositionBias",
    "SlotCounts",
    "Vote",
    "bradley_terry",
    "bt_from_counts",
    "bt_with_bootstrap",
    "comparison_counts",
    "consensus_by_comparison",
    "consensus_for_comparison",
    "dawid_skene_batch",
    "dawid_skene_consensus",
    "pairwise_consensus",
    "position_bias",
    "ranking_to_pairs",
    "win_rate_from_counts",
    "win_rate_matrix",
    "weights_by_comparison",
]
