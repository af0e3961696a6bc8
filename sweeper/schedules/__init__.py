"""What to train next: where configurations come from (`samplers`), what to train for them
and when each is settled (`schedule`: every seed, `racing`, `pruning`), the rules by which
configurations are compared (`compare`), and how the wanted rows become tasks (`groups`).
Decisions are made from stored rows only, so a resumed sweep decides what an uninterrupted
one decides.
"""
