"""The LM trainer: the loop (`loop`, `python -m audiogen.train`), its config (`config`), the recipe
(schedule, CFG dropout, EMA: `recipe`), `distributed` and `throughput`. May import: io, text, codec, lm, data."""
