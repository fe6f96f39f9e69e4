"""audiogen: open, reproducible AudioGen (text → sound with a transformer over neural-codec tokens)."""
import os as _os

# OpenMP threads that spin while they wait make torch many times slower whenever the cores are
# shared (measured: 30 LM steps in 146 s with the default policy vs 23 s passive, load average 6 on
# 2 cores). Set before torch loads its OpenMP runtime; an explicit user setting wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
