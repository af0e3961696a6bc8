"""The hyperparameters a trial understands: name, default, allowed values, and why.

Every hyperparameter can be fixed or searched. Where torch has a default (momentum,
Nesterov, weight decay, the optimizers' betas and eps, which a study cannot change) it is
torch's, so a name left out trains as `torch.optim` would; the others (learning rate, batch
size, epochs, the model) are the course tutorial's `train()` defaults. A study that names an
unknown hyperparameter, or gives one a value outside its rule, is refused before anything
runs; one that spells a known one as torch or another library does (`lr`, `wd`, `bs`) is
told this table's name (`ALIASES`): one name per column, so a value searched under another
name can never leave the run training on a default.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from sweeper.usercode.plugin import Param as HParam

MODELS = ("mlp", "cnn", "lenet")
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
NORMALIZATIONS = ("none", "bn_before_relu", "bn_after_relu", "layernorm")
INITS = ("default", "zeros")


def _num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _one_of(options: tuple[str, ...]) -> Callable[[Any], bool]:
    return lambda x: x in options


HPARAMS: dict[str, HParam] = {
    h.name: h
    for h in [
        HParam("model", "mlp", f"one of {list(MODELS)}", _one_of(MODELS),
               "mlp: hidden layers of `hidden_size`; cnn: the small CNN of the course tutorial; "
               "lenet: the LeNet-style CNN of the course notes (28x28 inputs)"),
        HParam("batch_size", 64, "an integer >= 1", lambda x: _int(x) and x >= 1,
               "images per step; an incomplete last batch is skipped, as in the notes"),
        HParam("learning_rate", 0.1, "a number > 0", lambda x: _num(x) and x > 0,
               "step size of the optimizer"),
        HParam("momentum", 0.0, "a number in [0, 1)", lambda x: _num(x) and 0 <= x < 1,
               "SGD and RMSprop momentum (Adam ignores it); 0 as in torch.optim (0.9 in folders made before)"),
        HParam("nesterov", False, "True or False", lambda x: isinstance(x, bool),
               "Nesterov momentum for SGD (needs momentum > 0)"),
        HParam("hidden_size", 30, "an integer >= 1", lambda x: _int(x) and x >= 1,
               "units per hidden layer of the MLP"),
        HParam("num_layers", 1, "an integer >= 1", lambda x: _int(x) and x >= 1,
               "number of hidden layers of the MLP"),
        HParam("optimizer", "sgd", f"one of {list(OPTIMIZERS)}", _one_of(OPTIMIZERS),
               "the optimizer, with torch.optim's update rule; any case (\"Adam\", \"RMSprop\")"),
        HParam("normalization", "none", f"one of {list(NORMALIZATIONS)}", _one_of(NORMALIZATIONS),
               "where normalization goes in each hidden layer; the CNNs support none "
               "and the BatchNorm placements (bn_after_relu is the tutorial's CNNBN)"),
        HParam("weight_decay", 0.0, "a number >= 0", lambda x: _num(x) and x >= 0,
               "L2 penalty passed to the optimizer"),
        HParam("dropout", 0.0, "a number in [0, 1)", lambda x: _num(x) and 0 <= x < 1,
               "dropout probability after each hidden layer of the MLP"),
        HParam("epochs", 10, "an integer >= 1", lambda x: _int(x) and x >= 1,
               "passes over the training set (fewer if early stopping triggers)"),
        HParam("lr_decay", 1.0, "a number in (0, 1]", lambda x: _num(x) and 0 < x <= 1,
               "learning rate multiplied by this after every epoch (exponential decay); 1 = constant"),
        HParam("shuffle", True, "True or False", lambda x: isinstance(x, bool),
               "reshuffle the training set every epoch; False repeats the same mini-batches"),
        HParam("init", "default", f"one of {list(INITS)}", _one_of(INITS),
               "default: PyTorch's initialisation; zeros: every parameter zero (the tutorial's saddle-point demo)"),
        HParam("patience", 0, "an integer >= 0", lambda x: _int(x) and x >= 0,
               "stop after this many epochs without a lower validation loss; 0 = never"),
    ]
}


# Hyperparameters of the built-in models: a user's own `model` takes none of them by default.
MODEL_PARAMS = ("model", "hidden_size", "num_layers", "normalization", "dropout", "init")
# The table of release 0.1, frozen: its results folders' ids hash every configuration
# resolved over exactly these 16 values, whatever this table becomes.
V1_DEFAULTS = {"model": "mlp", "batch_size": 64, "learning_rate": 0.1, "momentum": 0.9, "nesterov": False,
               "hidden_size": 30, "num_layers": 1, "optimizer": "sgd", "normalization": "none",
               "weight_decay": 0.0, "dropout": 0.0, "epochs": 10, "lr_decay": 1.0, "shuffle": True,
               "init": "default", "patience": 0}


# Other spellings of the names above: torch's own argument names (`lr`, `gamma` of
# ExponentialLR, `p` of Dropout is too vague to claim), scikit-learn's and Lightning's, and
# the usual short forms. A study that uses one is told the name here; it is never accepted
# as that name, so trials.csv has one column per hyperparameter and no value hides behind
# an alias. (Compared in lower case, '-' read as '_'.)
ALIASES = {
    "learning_rate": ("lr", "learningrate", "learning_rate_init", "step_size", "eta", "base_lr"),
    "weight_decay": ("wd", "weightdecay", "l2", "l2_reg", "l2_penalty", "decay_weight"),
    "batch_size": ("bs", "batch", "batchsize", "minibatch", "mini_batch_size", "minibatch_size", "batch_sz"),
    "optimizer": ("optim", "opt", "optimiser", "optimizer_name", "optim_name", "solver"),
    "momentum": ("mom", "sgd_momentum", "momentum_factor"),
    "nesterov": ("use_nesterov", "nesterov_momentum"),
    "epochs": ("n_epochs", "num_epochs", "max_epochs", "epoch", "nepochs", "n_epoch", "num_epoch", "train_epochs"),
    "lr_decay": ("gamma", "lr_gamma", "decay", "lr_decay_rate", "decay_rate"),
    "shuffle": ("data_shuffle", "shuffle_data"),
    "patience": ("early_stopping_patience", "early_stopping", "early_stop", "es_patience"),
    "model": ("arch", "architecture", "net", "network", "model_name"),
    "hidden_size": ("hidden", "n_hidden", "num_hidden", "hidden_dim", "hidden_units", "units", "n_units",
                    "width", "hidden_layer_size", "hidden_layer_sizes"),
    "num_layers": ("layers", "n_layers", "depth", "num_hidden_layers", "n_hidden_layers", "nlayers"),
    "normalization": ("norm", "normalisation", "norm_layer", "batchnorm", "batch_norm"),
    "dropout": ("drop", "dropout_rate", "drop_rate", "dropout_p", "dropout_prob", "p_dropout"),
    "init": ("initialization", "initialisation", "weight_init", "init_method"),
}
_SPELLINGS = {alias: name for name, aliases in ALIASES.items() for alias in aliases}


def renamed(name: str) -> str | None:
    """This table's name for `name`, where `name` is another spelling of one in it (`lr`:
    `learning_rate`, `Learning-Rate` too); None for a name of its own or an unknown one."""
    key = name.lower().replace("-", "_")
    found = key if key in HPARAMS else _SPELLINGS.get(key)
    return found if found != name else None


def canonical(name: str, value: Any) -> Any:
    """A value as this table spells it: optimizer names in any case, as torch.optim's classes
    spell them ("Adam", "SGD", "RMSprop"), are its lower-case names."""
    if name == "optimizer" and isinstance(value, str) and value.lower() in OPTIMIZERS:
        return value.lower()
    return value


def resolve(params: Mapping[str, Any]) -> dict[str, Any]:
    """Every hyperparameter with a value: the given ones over the defaults, in registry order."""
    return {name: params.get(name, hp.default) for name, hp in HPARAMS.items()}
