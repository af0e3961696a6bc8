"""The Lightning side of `integrations/lightning.py`, imported only where a Lightning study
trains (it imports lightning): a callback that turns what the module logs into curve rows,
keeps the best epoch's weights and saves and restores sweeper's checkpoints, and a
CheckpointIO plug-in that holds Lightning's checkpoint dict in memory, so that Lightning
never writes or reads a file of its own (sweeper writes the dict as safetensors)."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

import lightning.pytorch as pl
from lightning.fabric.plugins.io.checkpoint_io import CheckpointIO

from sweeper.usercode.plugin import FitOptions, Log, Outcome

CKPT_PATH = "sweeper-checkpoint"  # the name Lightning is given for the checkpoint held in memory


class MemoryIO(CheckpointIO):
    """Lightning's checkpoint dict in memory: sweeper writes and reads it as safetensors."""

    def __init__(self, loaded: Any) -> None:
        self.loaded = loaded
        self.saved: dict[str, Any] | None = None

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        self.saved = checkpoint

    def load_checkpoint(self, path: Any, map_location: Any = None, weights_only: Any = None) -> dict[str, Any]:
        return dict(self.loaded)

    def remove_checkpoint(self, path: Any) -> None:
        pass


class Bridge(pl.Callback):
    """Curve rows, the best epoch, kept weights and checkpoints of one (configuration, seed)."""

    def __init__(self, owner: Any, log: Log, options: FitOptions, epochs: int,
                 saved: dict[str, Any] | None) -> None:
        self.owner, self.curves, self.options, self.epochs = owner, log, options, epochs
        self.io = MemoryIO(saved["user"]["lightning"] if saved else None)
        self.resuming = saved is not None
        self.last: dict[str, float] = {}
        self.best, self.best_epoch, self.epoch = math.nan, 0, 0
        self.kept: dict[str, Any] = {}
        self.saved_at = time.monotonic()

    def on_fit_start(self, trainer: Any, module: Any) -> None:
        if not self.resuming:
            return
        state = self.curves.resume() or {}  # the RNGs and curves as they were at the checkpoint
        self.last, self.best, self.best_epoch = dict(state["last"]), state["best"], state["best_epoch"]
        self.epoch, self.kept = int(state["epoch"]), dict(state["kept"])

    def on_train_epoch_end(self, trainer: Any, module: Any) -> None:
        self.epoch = trainer.current_epoch + 1
        values = _logged(trainer.callback_metrics)
        self.curves(epoch=self.epoch, step=trainer.global_step, **values)
        self.last = values
        value = values.get(self.owner.metric, math.nan)
        if self.best_epoch == 0 or _better(value, self.best, self.owner.maximize):
            self.best, self.best_epoch = value, self.epoch
            if "best" in self.options.weights:
                self.kept["best"] = _copy(module.state_dict())
        self._checkpoint(trainer)

    def _checkpoint(self, trainer: Any) -> None:
        o = self.options
        if o.channel is None or o.max_steps is not None:
            return
        due = (self.epoch % o.checkpoint_every == 0) if o.checkpoint_every else \
            o.checkpoint_seconds is not None and time.monotonic() - self.saved_at >= o.checkpoint_seconds
        if not (due or (self.epoch == self.epochs and o.checkpoint_final)):
            return
        self.saved_at = time.monotonic()
        trainer.save_checkpoint(CKPT_PATH)  # into self.io.saved
        self.curves.checkpoint(lightning=_plain(self.io.saved), epoch=self.epoch, last=self.last, best=self.best,
                               best_epoch=self.best_epoch, kept=self.kept)

    def outcome(self, module: Any, resumed: int) -> Outcome:
        metric = self.owner.metric
        if metric not in self.last:
            raise ValueError(f"the module logged no `{metric}`, the study's metric; it logged "
                             f"{sorted(self.last) or 'nothing'} at epoch ends: self.log({metric!r}, value) in "
                             "validation_step or training_step")
        metrics = {**self.last, f"best_{metric}": self.best, "best_epoch": float(self.best_epoch),
                   "epochs_run": float(self.epoch), "resumed_epoch": float(resumed)}
        finite = all(math.isfinite(v) for v in self.last.values())
        if "last" in self.options.weights:
            self.kept["last"] = _copy(module.state_dict())
        return Outcome("ok" if finite else "diverged", metrics, list(self.curves.curves),
                       "" if finite else "a logged metric is NaN or infinite", weights=dict(self.kept))


def _logged(metrics: Mapping[str, Any]) -> dict[str, float]:
    """`trainer.callback_metrics` as curve values: numbers only; a name logged with both
    on_step and on_epoch counts once, by its epoch value (`loss_epoch` as `loss`)."""
    out = {}
    for name, value in metrics.items():
        if name.endswith("_step") and f"{name[:-5]}_epoch" in metrics:
            continue
        value = value.item() if hasattr(value, "item") and getattr(value, "numel", lambda: 1)() == 1 else value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[name.removesuffix("_epoch") if name.endswith("_epoch") else name] = float(value)
    return out


def _better(value: float, best: float, maximize: bool) -> bool:
    if math.isnan(value):
        return False
    return math.isnan(best) or (value > best if maximize else value < best)


def _copy(state: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v.detach().clone().cpu() for k, v in state.items()}


def _plain(value: Any) -> Any:
    """Lightning's checkpoint dict as sweeper's checkpoints hold it: tensors and JSON values.
    Anything else (an object among `hyper_parameters`) is left out: the module is rebuilt from
    its configuration, not from the checkpoint's hyperparameters."""
    if hasattr(value, "detach") and hasattr(value, "shape"):
        return value.detach()  # written out at once (storage/checkpoint.py dumps)
    if isinstance(value, Mapping):
        items = ((k, _plain(v)) for k, v in value.items() if isinstance(k, (str, int)))
        return {k: v for k, v in items if v is not _DROP}
    if isinstance(value, (list, tuple)):
        plain = [_plain(v) for v in value]
        return _DROP if any(v is _DROP for v in plain) else plain
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return _DROP


_DROP = object()
