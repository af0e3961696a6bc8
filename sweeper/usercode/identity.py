"""Which rows belong to which configuration, and when old results may be resumed.

A results folder records, in its study.json, the defaults its configurations were resolved
against. A configuration's id and the study's fingerprint are worked out from what the
study says and those recorded defaults, never from the library's current table: adding a
hyperparameter or changing a default in a later release leaves every existing folder
resumable, with the same ids.

- Scheme 4: as scheme 3, but Bayesian search's start-up is in the fingerprint only where the
  study writes `bayes_startup`: its default no longer depends on `n_trials`, so raising
  `n_trials` (or the seeds) goes on with the same proposals and trains only what is new.
- Scheme 3: the id hashes the effective configuration (names that have no effect in it
  left out, so momentum under Adam never makes a second configuration); the fingerprint
  covers what shapes rows (data, split, fixed values) but not a grid's values, so a grid may
  grow and only the new configurations are trained. The user's code is not in it: study.json
  records it (`record`: each function's, class's and constant's hash, as `usercode/usercode.py`
  finds them from the functions the study passes, and the model's modules), and `changes`
  compares it with what the folder recorded, so that a refusal names what changed while a
  comment or a docstring changes nothing.
- Scheme 2: folders written before the code record. Ids as scheme 3; the fingerprint also
  hashes the source text of the functions the study passes, as those folders computed it.
- Scheme 1: release 0.1's folders, which record no defaults. Their ids hash the whole
  configuration over release 0.1's table of 16 hyperparameters, and their fingerprint is
  computed as 0.1 did, so they resume with nothing retrained.

A Bayesian folder of schemes 1-3 whose study left `bayes_startup` to its default goes on with
the start-up it was made with (`Identity.startup`: Optuna's 10 for scheme 1, then
min(10, max(3, n_trials // 5)) of the `n_trials` it was made with), recorded in study.json
the first time it resumes, so its ids, fingerprint and proposals stay what they were.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sweeper.usercode.plugin import Trainer
from sweeper.usercode.usercode import reach

SCHEME = 4
OPTUNA_STARTUP = 10  # Optuna's default n_startup_trials: what release 0.1's Bayesian studies used
# Study fields at release 0.1 and their defaults; fields that shaped rows and proposals then.
_V1_DEFAULTS = {"dataset": "mnist", "fallback": None, "task": "classify", "sampler": "grid", "bayes_sampler": "tpe",
                "n_trials": None, "seeds": 5, "sampler_seed": 0, "metric": "val_acc", "direction": None,
                "eval_every": "epoch", "standardize": None, "concurrent_configs": 2, "vectorize": False,
                "description": ""}
_V1_ROWS = ("dataset", "fallback", "task", "split", "fixed", "space", "sampler", "eval_every", "standardize")
_V1_PROPOSALS = ("metric", "direction", "concurrent_configs", "sampler_seed", "bayes_sampler")
# Schemes 2 and 3: fields that shape rows, and those that shape which configurations are proposed.
SHAPES_ROWS = ("dataset", "fallback", "task", "split", "sampler", "eval_every", "standardize", "prune")
SHAPES_PROPOSALS = ("space", "metric", "direction", "concurrent_configs", "sampler_seed", "bayes_sampler")


def _hash(obj: Any, length: int) -> str:
    return hashlib.sha1(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:length]


def config_id(config: Mapping[str, Any]) -> str:
    """The id of a configuration as given: the same configuration always gets the same id."""
    blob = json.dumps(dict(sorted(config.items())), sort_keys=True, default=repr)
    return hashlib.sha1(blob.encode()).hexdigest()[:10]


@dataclass(frozen=True)
class Identity:
    scheme: int
    defaults: dict[str, Any]  # what configurations are resolved against, as recorded
    # Bayesian search's start-up where the folder's scheme derived it (see the module's docstring); None: the study's
    startup: int | None = None

    def resolve(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """A full configuration: the given values over the recorded defaults, in the defaults'
        order and then the study's own names."""
        return {**self.defaults, **{k: params[k] for k in self.defaults if k in params},
                **{k: v for k, v in params.items() if k not in self.defaults}}

    def config_id(self, config: Mapping[str, Any], trainer: Trainer) -> str:
        return config_id(config if self.scheme == 1 else trainer.effective(config))

    def fingerprint(self, study: Any, trainer: Trainer) -> str:
        """What must not change under existing results (see the module's docstring)."""
        full = {**study.to_dict(), "dataset": study.dataset, "split": dataclasses.asdict(study.split)}
        if self.scheme == 1:
            full["task"] = full["task"] or "classify"
            shaping = _V1_ROWS + (_V1_PROPOSALS if not study.is_grid else ())
            d = {k: full[k] for k in shaping if k not in _V1_DEFAULTS or full[k] != _V1_DEFAULTS[k]}
            d["fixed"] = self.resolve(study.fixed)
            return _hash(d, 12)
        shaping = SHAPES_ROWS + (SHAPES_PROPOSALS if not study.is_grid else ())
        defaults = study.field_defaults()
        d = {k: full.get(k) for k in shaping if k not in defaults or full.get(k) != defaults[k]}
        d["fixed"] = self.resolve(study.fixed)
        recorded = trainer.user_code() if self.scheme >= 3 else {}  # compared by `changes` instead
        d["code"] = {role: h for role, h in trainer.code().items() if role not in recorded}
        startup = study.bayes_startup if study.bayes_startup is not None else self.startup
        if study.sampler == "bayes" and startup is not None:  # one the study wrote, or an older scheme derived
            d["bayes_startup"] = startup
        if study.crossed is not None:  # a seed names an (initialisation, data order) pair: rows of another meaning
            d["crossed"] = True
        return _hash(d, 12)

    def proposing(self, study: Any) -> Any:
        """The study as this folder proposes: with the start-up an older scheme derived, where
        the study leaves `bayes_startup` to its default."""
        if self.startup is None or study.bayes_startup is not None or study.sampler != "bayes":
            return study
        return dataclasses.replace(study, bayes_startup=self.startup)

    def to_json(self) -> dict[str, Any]:
        startup = {} if self.startup is None else {"startup": self.startup}
        return {"scheme": self.scheme, "defaults": self.defaults, **startup}


def identity_of(snapshot: Mapping[str, Any] | None, trainer: Trainer) -> Identity:
    """The identity of a results folder from its study.json (None: a new folder)."""
    if snapshot is None:
        return Identity(SCHEME, trainer.defaults())
    recorded = snapshot.get("identity")
    if isinstance(recorded, Mapping):
        scheme = int(recorded["scheme"])
        return Identity(scheme, dict(recorded["defaults"]), _startup(scheme, snapshot, recorded))
    return Identity(1, dict(getattr(trainer, "V1_DEFAULTS", {})), _startup(1, snapshot, {}))


def _startup(scheme: int, snapshot: Mapping[str, Any], recorded: Mapping[str, Any]) -> int | None:
    """The start-up a Bayesian folder of an older scheme proposed with, where its study left it
    to the default of its day (None: scheme 4 on, or another sampler, or a value written)."""
    if scheme >= 4 or snapshot.get("sampler") != "bayes" or snapshot.get("bayes_startup") is not None:
        return None
    if "startup" in recorded:
        return int(recorded["startup"])
    if scheme == 1:
        return OPTUNA_STARTUP
    return min(OPTUNA_STARTUP, max(3, int(snapshot.get("n_trials") or 0) // 5))


def record(roots: Mapping[str, Any], structure: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What study.json records of the user's code: {"roles", "objects", "structure"} (empty
    where the study passes no code)."""
    if not roots:
        return {}
    roles, found = reach(roots)
    out: dict[str, Any] = {"roles": roles, "objects": dict(sorted(found.objects.items()))}
    if structure:
        out["structure"] = dict(structure)
    return out


def changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """What differs between two records, one phrase each ('WaveNet.conv1: kernel_size 5 -> 9',
    'function load_waves (waves.py) changed'). Only what both record is compared: a record of
    an earlier release, or one rebuilt without running, has less."""
    out = structure_changes(old.get("structure") or {}, new.get("structure") or {})
    before, after = old.get("objects") or {}, new.get("objects") or {}
    told = set()
    for role, key in (new.get("roles") or {}).items():
        was = (old.get("roles") or {}).get(role)
        if was is None or was not in before or key not in after or before[was] == after[key]:
            continue
        told |= {was, key}
        out.append(f"{role} {_short(key)} changed" if was == key else f"{role} {_short(was)} -> {_short(key)}")
    for key in after:
        if key in before and key not in told and before[key] != after[key]:
            out.append(f"{key}: {before[key]} -> {after[key]}" if key.startswith("value ") else f"{key} changed")
    return out


def structure_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """How a model's modules differ, when both were built from the same configuration: a
    module's settings, else its parameters' shapes (which follow from the settings)."""
    if not old or not new or old.get("config") != new.get("config"):
        return []
    before, after = old.get("modules") or {}, new.get("modules") or {}
    out = []
    for path, was in before.items():
        now = after.get(path)
        if now is None:
            out.append(f"{path} removed")
            continue
        settings = [f"{path}: {k} {was[k]} -> {now[k]}" for k in was
                    if k in now and was[k] != now[k] and not k.startswith("param ")]
        shapes = [f"{path}: {k} {was.get(k, 'none')} -> {now.get(k, 'none')}" for k in {**was, **now}
                  if k.startswith("param ") and was.get(k) != now.get(k)]
        out += settings or shapes
    return out + [f"{path} added" for path in after if path not in before]


def _short(key: str) -> str:
    return key.split(" ", 1)[1] if key.startswith(("function ", "class ")) else key
