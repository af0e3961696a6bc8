"""The engine: a study, its search space and samplers, the sweep loop, executors and the
results folder. It knows nothing of any dataset or model: what one trial trains comes from
a trainer plug-in (`usercode/plugin.py`), the built-in one or the user's own code.
"""
