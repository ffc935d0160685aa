"""Pure evaluation metrics: no Django, testable and runnable on a GPU node.

* `stats`       Wilson intervals, means;
* `leakage`     exact and near-duplicate overlap between eval prompts and training prompts;
* `suites`      held-out preference accuracy (implicit reward), multiple-choice forgetting, the
                refusal detector and safety rates, paraphrase consistency, perplexity, format validity;
* `gates`       promotion gates over a report;
* `schemas`     the rules of the output JSON Schema the format check uses (size, depth, metaschema, refs);
* `card`        the model card (README.md with the Hub's YAML header) from a lineage dict;
* `engine`      runs the suites for a model, its base and the prompting baseline through `llm`.
"""
