"""Red teaming: attacks × prompts × target → findings (attempts with verdicts) and the red-team summary.

Two keys decide what is reused. An attempt's ``key`` (sample, attack, seed and the generation parameters, so a
run resumed with another ``max_new_tokens`` redoes its attempts) decides what ``--resume`` skips. A request's
``request`` hash (the rendered messages + every generation parameter) is the key of the run's response cache:
identical requests, from different attacks or samples, or already answered in an earlier part of the run, are
generated once.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Sequence

from ..attacks.base import Attack
from ..attacks.interactive import InteractiveAttack
from ..engine import WorkItem, run_work
from ..errors import BadInput
from ..judges import judge_info
from ..judges.base import Judge, JudgeItem, known_goal
from ..records import Attempt, JsonlStore, Message, Sample, stable_id, write_json
from ..targets.base import GenParams, Target
from ..taxonomy import Taxonomy
from .report import summarize

FINDINGS = "findings.jsonl"
SUMMARY = "redteam.json"


def attempt_key(sample: Sample, attack, seed: int, params: GenParams) -> str:
    return stable_id(sample.id, sample.prompt, attack.name, seed, asdict(params))


def request_key(messages: Sequence[Message], params: GenParams) -> str:
    """The content address of one request: the messages as sent and every generation parameter."""
    return stable_id([m.model_dump() for m in messages], asdict(params))


class CachedTarget:
    """A target that answers each distinct request (messages + GenParams) once per run. Anything else (``name``,
    ``model``, ``tokenizer``, ``loglik`` …) is the wrapped target's."""

    def __init__(self, target: Target, cache: dict[str, str] | None = None):
        self.target = target
        self.cache: dict[str, str] = dict(cache or {})
        self.generated = 0  # requests actually sent to the target

    def __getattr__(self, name: str):
        if name == "target":  # not set yet (copy, pickle): no recursion
            raise AttributeError(name)
        return getattr(self.target, name)

    async def generate(self, conversations: Sequence[Sequence[Message]], params: GenParams) -> list[str]:
        keys = [request_key(c, params) for c in conversations]
        todo = {k: c for k, c in zip(keys, conversations) if k not in self.cache}
        if todo:
            outs = await self.target.generate(list(todo.values()), params)
            self.cache.update(zip(todo, outs))
            self.generated += len(todo)
        return [self.cache[k] for k in keys]


def findings_store(out: str | Path, resume: bool) -> JsonlStore[Attempt]:
    store = JsonlStore(Path(out) / FINDINGS, Attempt)
    if store.path.exists() and store.path.stat().st_size and not resume:
        raise BadInput(f"{store.path} already exists: pass --resume to continue it, or choose another --out")
    return store


async def run_redteam(target: Target, samples: Sequence[Sample], attacks: Sequence[Attack],
                      judges: Sequence[Judge], out: str | Path, *, params: GenParams | None = None,
                      taxonomy: Taxonomy | None = None, resume: bool = False, seed: int = 0,
                      batch_size: int = 32, show_progress: bool = True,
                      interactive_limit: int | None = None) -> dict:
    """Every attack on every sample, judged and appended to ``findings.jsonl`` (resumable); interactive attacks
    (Crescendo, PAIR: several generations per episode) run on ``interactive_limit`` of the samples, spread evenly
    over the list (``None``: all). Returns the red-team summary."""
    params = params or GenParams()
    store = findings_store(out, resume)
    target = CachedTarget(target, {a.request: a.response for a in store.load() if a.request})
    interactive = [a for a in attacks if not isinstance(a, Attack)]
    attacks = [a for a in attacks if isinstance(a, Attack)]
    work = []
    for s in samples:
        goal = s.meta.get("behavior", s.prompt)
        cat = taxonomy.canonical(s.category) if taxonomy else s.category
        for a in attacks:
            msgs = a(s.prompt, seed)
            key = attempt_key(s, a, seed, params)

            def build(resp, verdicts, s=s, a=a, msgs=msgs, cat=cat, key=key):
                return Attempt(key=key, sample_id=s.id, prompt=s.prompt, label=s.label, category=cat, attack=a.name,
                               family=a.family, messages=msgs, response=resp, verdicts=verdicts,
                               multi_turn=a.multi_turn, n_shots=a.n_shots, request=request_key(msgs, params))

            work.append(WorkItem(key, msgs,
                                 lambda r, msgs=msgs, goal=goal, s=s: JudgeItem(
                                     prompt=msgs[-1].content, response=r, behavior=goal,
                                     goal_harmful=known_goal(s.label)),
                                 build))
    await run_work(work, target, judges, store, params, batch_size=batch_size, description="red teaming",
                   show_progress=show_progress)
    keys = {w.key for w in work}
    episodes = spread(samples, interactive_limit)
    for a in interactive:
        keys |= await run_interactive(a, target, episodes, judges, store, params, taxonomy=taxonomy, seed=seed,
                                      batch_size=batch_size, show_progress=show_progress)
    attempts = [a for a in store.load() if a.key in keys]
    summary = summarize(attempts, target=getattr(target, "name", "?"), judges=judge_info(judges))
    write_json(Path(out) / SUMMARY, summary)
    return summary


def redteam_prompts(sources: Sequence[str], limit: int | None, seed: int = 0, focus: Sequence[str] = (),
                    taxonomy: Taxonomy | None = None) -> list[Sample]:
    """The red team's prompts: ``limit`` of them spread evenly over the ``sources`` (bench specs, stratified by
    category within each; None: all), plus every prompt of the ``focus`` taxonomy categories not drawn already."""
    from ..data import load_bench
    from ..evals.runner import subsample_sources

    pools = {src: load_bench(src) for src in sources}
    samples = subsample_sources(pools, limit, seed)
    if focus:  # targeted data: every behaviour of a failing category
        canonical = taxonomy.canonical if taxonomy is not None else (lambda c: c)
        have = {s.id for s in samples}
        samples += [s for v in pools.values() for s in v if canonical(s.category) in focus and s.id not in have]
    return samples


def spread(items: Sequence, n: int | None) -> list:
    """``n`` items taken at even strides over ``items`` (all of them when ``n`` is None or not smaller)."""
    if n is None or n >= len(items):
        return list(items)
    return [items[(i * len(items)) // n] for i in range(max(0, n))]


async def run_interactive(attack: InteractiveAttack, target: Target, samples: Sequence[Sample],
                          judges: Sequence[Judge], store: JsonlStore, params: GenParams, *,
                          taxonomy: Taxonomy | None = None, seed: int = 0, batch_size: int = 32,
                          show_progress: bool = True) -> set[str]:
    """Run an attack that talks to the target (Crescendo, PAIR) in resumable chunks of samples; each episode
    becomes one Attempt whose messages are the whole conversation and whose response is the deciding reply. Where
    the attack judged the whole conversation, that verdict is the attempt's harm verdict (its success)."""
    from ..engine import judge_all, progress

    harm = next((j for j in judges if j.name == "harm"), None)
    if harm is None:
        raise BadInput(f"attack '{attack.name}' needs the harm judge to decide when it has succeeded")
    keys = {attempt_key(s, attack, seed, params): s for s in samples}
    done = store.keys()
    todo = [s for k, s in keys.items() if k not in done]
    chunk_size = max(1, batch_size // max(1, getattr(attack, "n_streams", 1)))
    with progress() as prog:
        task = prog.add_task(f"red teaming ({attack.name})", total=len(todo), visible=show_progress and bool(todo))
        for i in range(0, len(todo), chunk_size):
            chunk = todo[i:i + chunk_size]
            episodes = await attack.run(target, chunk, harm, params, seed)
            items = [JudgeItem(prompt=e.messages[-1].content, response=e.response,
                               behavior=e.sample.meta.get("behavior", e.sample.prompt),
                               goal_harmful=known_goal(e.sample.label)) for e in episodes]
            verdicts = await judge_all(judges, items)
            recs = []
            for e, v in zip(episodes, verdicts):
                s = e.sample
                if e.conversation_verdict is not None:
                    v["harm"] = e.conversation_verdict
                recs.append(Attempt(key=attempt_key(s, attack, seed, params), sample_id=s.id, prompt=s.prompt,
                                    label=s.label, category=taxonomy.canonical(s.category) if taxonomy else s.category,
                                    attack=attack.name, family=attack.family, messages=e.messages,
                                    response=e.response, verdicts=v, queries=e.queries,
                                    success_turn=e.success_turn, trace=e.trace, multi_turn=attack.multi_turn,
                                    request=request_key(e.messages, params)))
            store.append(recs)
            prog.advance(task, len(chunk))
    return set(keys)
