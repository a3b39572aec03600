"""Skip markers for what this machine's CPU cannot run."""
import pytest

from fpn.devices import cpu_has_bf16_kernels

#: bf16 inference (`precision("bf16")`) needs oneDNN's bf16 kernels (AVX-512 or AVX-NE-CONVERT); an AVX2-only CPU
#: refuses it with a ValueError (tests/test_precision.py checks the refusal on every machine).
needs_bf16_kernels = pytest.mark.skipif(not cpu_has_bf16_kernels(),
                                        reason="this CPU has no oneDNN bf16 kernels (AVX2 only)")
