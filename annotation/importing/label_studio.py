"""Parse a Label Studio JSON export (a list of tasks) into item records and their judgments. Pure Python.

Task `data` keys (the first present wins; `mapping` overrides them):
  prompt     "prompt", "text", "question", "input"   (or "messages": a chat list)
  system     "system"
  response   "response", "answer", "output", "completion"        (SFT tasks)
  pair       "answer1"/"answer2", "response_a"/"response_b", "left"/"right"   (pairwise tasks)
  items      "items": [{"id", "body" | "text" | "title"}]           (List + Ranker tasks)
A task whose results hold `pairwise` or `ranker` becomes a comparison; otherwise an SFT item.

Decisions (one ExternalJudgment per annotation, cancelled annotations skipped):
  choices   a choice in ACCEPT ("accept", "accepted", "approve", "good", "yes", "correct") is accept; in
            REJECT ("reject", "rejected", "bad", "no", "incorrect", "wrong") reject; anything else is
            an error naming the task's line and the result.
  textarea  non-empty text is the edited gold answer: decision "edit" (unless a choice says reject:
            then it stays a reject and the text becomes the comment).
  rating    kept as a score under the result's `from_name`.
  pairwise  value.selected "left" / "right": the left (first) or right response wins.
  ranker    value.ranker {name: [item ids best first]} (one list, no buckets): that order.
Annotators become "ls:<completed_by id>" (an object's `id`; its email is dropped).
Errors name the line where the task starts in the file and a path inside it, like every import.
"""

from __future__ import annotations

import json

from annotation.core import json_text

from .interchange import ExternalJudgment, InterchangeResult, ranked_kind
from .parse import MAX_ERRORS, ImportIssue, ItemRecord

SOURCE = "label_studio"
ACCEPT = {"accept", "accepted", "approve", "approved", "good", "yes", "correct"}
REJECT = {"reject", "rejected", "bad", "no", "incorrect", "wrong"}
DEFAULT_KEYS = {
    "prompt": ("prompt", "text", "question", "input"),
    "system": ("system",),
    "messages": ("messages",),
    "response": ("response", "answer", "output", "completion"),
    "pair": (("answer1", "answer2"), ("response_a", "response_b"), ("left", "right")),
    "items": ("items",),
}
TEXT_KEYS = ("body", "text", "title")


def _tasks(text: str):
    """(line, task or None, error) for each element of the top-level JSON array."""
    decoder = json.JSONDecoder()
    i = len(text) - len(text.lstrip())
    if not text[i:].startswith("["):
        yield 1, None, "A Label Studio export is a JSON list of tasks."
        return
    i += 1
    while True:
        while i < len(text) and text[i] in " \t\r\n,":
            i += 1
        if i >= len(text):
            yield text.count("\n") + 1, None, "The list is not closed."
            return
        if text[i] == "]":
            return
        line = text.count("\n", 0, i) + 1
        try:
            task, i = json_text.raw_decode(decoder, text, i, surrogates=True)
        except json.JSONDecodeError as exc:
            yield exc.lineno, None, f"Invalid JSON: {exc.msg} at column {exc.colno}."
            return
        yield line, task, None


def _first(data: dict, keys):
    for key in keys:
        if isinstance(data.get(key), str) and data[key].strip():
            return key, data[key]
    return None, None


def _annotator(raw) -> str:
    if isinstance(raw, dict):
        raw = raw.get("id")
    if raw in (None, "") or isinstance(raw, dict | list):
        return ""
    return f"ls:{raw}"


class _Task:
    def __init__(self, line, task, keys, result: InterchangeResult):
        self.line, self.task, self.keys, self.result = line, task, keys, result
        self.issues: list[ImportIssue] = []

    def err(self, where, message):
        self.issues.append(ImportIssue(self.line, where, message))

    def conversation(self, data) -> list[dict]:
        messages = data.get(self.keys["messages"][0]) if self.keys["messages"] else None
        if isinstance(messages, list) and messages:
            ok = all(
                isinstance(m, dict)
                and m.get("role") in ("system", "user", "assistant")
                and isinstance(m.get("content"), str)
                for m in messages
            )
            if ok:
                return [{"role": m["role"], "content": m["content"]} for m in messages]
            self.err("data.messages", "Must be a list of {role, content} with roles system/user/assistant.")
            return []
        out = []
        _, system = _first(data, self.keys["system"])
        if system:
            out.append({"role": "system", "content": system})
        key, prompt = _first(data, self.keys["prompt"])
        if prompt is None:
            self.err("data", f"Needs a prompt: one of {', '.join(self.keys['prompt'])} (or messages).")
        else:
            out.append({"role": "user", "content": prompt})
        return out

    def parse(self):
        task = self.task
        if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
            self.err("task", "Must be an object with a `data` object.")
            return None, []
        data = task["data"]
        annotations = task.get("annotations") or []
        if not isinstance(annotations, list):
            self.err("annotations", "Must be a list.")
            return None, []
        types = {
            r.get("type")
            for a in annotations
            if isinstance(a, dict)
            for r in (a.get("result") or [])
            if isinstance(r, dict)
        }
        messages = self.conversation(data)
        is_ranked = bool(types & {"pairwise", "ranker"})
        responses, item_ids = self.ranked_responses(data) if is_ranked else self.sft_response(data)
        judgments = []
        for a_index, ann in enumerate(annotations):
            where = f"annotations[{a_index}]"
            if not isinstance(ann, dict) or not isinstance(ann.get("result", []), list):
                self.err(where, "Must be an object with a `result` list.")
                continue
            if ann.get("was_cancelled"):
                continue
            annotator = _annotator(ann.get("completed_by"))
            if not annotator:
                self.err(f"{where}.completed_by", "Required: the annotator's id.")
                continue
            judgment = ExternalJudgment(
                annotator=annotator,
                source=SOURCE,
                external_id=str(ann.get("id") or ""),
                created_at=str(ann.get("created_at") or ""),
                duration_seconds=ann.get("lead_time")
                if isinstance(ann.get("lead_time"), int | float)
                else None,
            )
            if self.fill(judgment, ann["result"], where, is_ranked, len(responses), item_ids):
                judgments.append(judgment)
        if self.issues:
            return None, []
        record = ItemRecord(
            line=self.line,
            kind=ranked_kind() if is_ranked else "sft",
            messages=messages,
            responses=responses,
            external_id=str(task.get("id") or ""),
            metadata={"source": SOURCE, "label_studio_task": task.get("id")},
        )
        return record, judgments

    def sft_response(self, data):
        _, text = _first(data, self.keys["response"])
        if text is None:
            self.err("data", f"Needs a response: one of {', '.join(self.keys['response'])}.")
            return [], []
        return [_response(text)], []

    def ranked_responses(self, data):
        items = data.get(self.keys["items"][0]) if self.keys["items"] else None
        if isinstance(items, list) and items:
            responses, ids = [], []
            for i, it in enumerate(items):
                _, text = _first(it, TEXT_KEYS) if isinstance(it, dict) else (None, None)
                if text is None or "id" not in it:
                    self.err(f"data.items[{i}]", "Each item needs an id and a body (or text/title).")
                    continue
                ids.append(str(it["id"]))
                responses.append(_response(text, it.get("model") or ""))
            return responses, ids
        for left, right in self.keys["pair"]:
            if isinstance(data.get(left), str) and isinstance(data.get(right), str):
                return [_response(data[left]), _response(data[right])], []
        self.err(
            "data", "A pairwise or ranker task needs two responses (answer1/answer2) or a list of items."
        )
        return [], []

    def fill(self, judgment, results, where, is_ranked, n, item_ids) -> bool:
        choice = text = None
        for r_index, r in enumerate(results):
            at = f"{where}.result[{r_index}]"
            value = r.get("value") if isinstance(r, dict) else None
            if not isinstance(value, dict):
                self.err(at, "Must have a `value` object.")
                return False
            kind = r.get("type")
            if kind == "choices" and not is_ranked:
                picked = [str(c).strip().lower() for c in value.get("choices") or []]
                if len(picked) != 1 or picked[0] not in ACCEPT | REJECT:
                    self.err(
                        f"{at}.value.choices",
                        f"Expected one of accept/reject (got {value.get('choices')!r}).",
                    )
                    return False
                choice = "accept" if picked[0] in ACCEPT else "reject"
            elif kind == "textarea" and not is_ranked:
                lines = [t for t in value.get("text") or [] if isinstance(t, str)]
                text = "\n".join(lines).strip() or None
            elif kind == "rating":
                judgment.scores[str(r.get("from_name") or "rating")] = value.get("rating")
            elif kind == "pairwise" and is_ranked:
                selected = value.get("selected")
                if selected not in ("left", "right") or n != 2:
                    self.err(f"{at}.value.selected", "Must be left or right, on a task with two responses.")
                    return False
                winner = 0 if selected == "left" else 1
                judgment.ranking, judgment.outcome = [[winner], [1 - winner]], "win"
            elif kind == "ranker" and is_ranked:
                ranking = self.ranker(value, at, item_ids, r.get("to_name"))
                if ranking is None:
                    return False
                judgment.ranking, judgment.outcome = ranking, "win"
            elif kind in ("choices", "textarea") and is_ranked:
                continue  # a comparison's extra questions: kept out of the ranking
            else:
                self.err(f"{at}.type", f"Unsupported result type {kind!r} for this task.")
                return False
        if is_ranked:
            if not judgment.ranking:
                self.err(where, "No pairwise or ranker result.")
                return False
            return True
        if choice == "reject" or (choice is None and text is None):
            if choice is None:
                self.err(where, "Needs a choices (accept/reject) or textarea result.")
                return False
            judgment.decision, judgment.comment = "reject", text or ""
        elif text is not None:
            judgment.decision, judgment.edited_text = "edit", text
        else:
            judgment.decision = "accept"
        return True

    def ranker(self, value, at, item_ids, to_name):
        ranked = value.get("ranker")
        if not isinstance(ranked, dict) or not ranked:
            self.err(f"{at}.value.ranker", "Must be an object {list name: [item ids]}.")
            return None
        if len(ranked) > 1 and to_name not in ranked:
            self.err(f"{at}.value.ranker", "Bucketed rankings are not supported; use List + Ranker.")
            return None
        order = ranked.get(to_name) if to_name in ranked else next(iter(ranked.values()))
        order = [str(i) for i in order or []]
        if sorted(order) != sorted(item_ids):
            self.err(f"{at}.value.ranker", f"Must rank every item exactly once ({', '.join(item_ids)}).")
            return None
        return [[item_ids.index(i)] for i in order]


def _response(text: str, model: str = "") -> dict:
    return {"text": text, "model": str(model), "model_version": "", "generation_params": {}}


def parse_label_studio(data, *, mapping: dict | None = None) -> InterchangeResult:
    """Parse the whole export; every error (up to MAX_ERRORS) with its line; no records if any."""
    result = InterchangeResult()
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            result.errors.append(ImportIssue(0, "file", f"Not UTF-8 text ({exc.reason})."))
            return result
    keys = {
        **DEFAULT_KEYS,
        **{k: tuple(v) if isinstance(v, list) else (v,) for k, v in (mapping or {}).items()},
    }
    for line, task, error in _tasks(data):
        if error:
            result.errors.append(ImportIssue(line, "file", error))
            break
        parser = _Task(line, task, keys, result)
        record, judgments = parser.parse()
        result.errors.extend(parser.issues)
        if record is not None:
            result.records.append(record)
            result.judgments.append(judgments)
        if len(result.errors) >= MAX_ERRORS:
            result.errors.append(ImportIssue(line, "file", f"Stopped after {MAX_ERRORS} errors."))
            break
    if not result.records and not result.errors:
        result.errors.append(ImportIssue(0, "file", "The export holds no tasks."))
    return result.fail()
