"""A pickle reader that admits numpy arrays and plain containers, and nothing else.

Detectron2's model zoo ships its weights as pickles ({"model": {name: numpy array}, "__author__": ...}, read with
encoding="latin1": detectron2/checkpoint/detection_checkpoint.py). Unpickling runs whatever callables the file names,
so a plain `pickle.load` of a file from the internet can run code. `load_numpy_pickle` resolves only the globals that
rebuild numpy arrays (and `_codecs.encode`, which protocol-2 pickles use to carry bytes); any other global (os.system,
builtins.eval, torch's rebuild functions, ...) raises `UnsafePickleError` before it is called, and nothing in the file
has run by then: unpickling calls a global only after resolving it.
"""
from __future__ import annotations

import io
import os
import pickle
from pathlib import Path
from typing import Any, Union

#: (module, name) pairs a numpy-array pickle needs; numpy 2 moved numpy.core to numpy._core, files name either
ALLOWED_GLOBALS = frozenset({
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("_codecs", "encode"),
    ("__builtin__", "bytes"), ("builtins", "bytes"),  # protocol 2 writes b"" (an empty array's data) as bytes()
})


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle names a global outside `ALLOWED_GLOBALS`: refused, nothing in it was run."""


class TruncatedPickleError(pickle.UnpicklingError):
    """The pickle ends early: an interrupted download or a damaged file."""


class NumpyOnlyUnpickler(pickle.Unpickler):
    """`pickle.Unpickler` whose `find_class` resolves only `ALLOWED_GLOBALS`."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in ALLOWED_GLOBALS:
            raise UnsafePickleError(
                f"refused: the pickle asks for {module}.{name}, and only numpy arrays may be read from a weights "
                "pickle (a file that imports anything else could run code; nothing in it was run). Use a file from "
                "Detectron2's model zoo, or a state dict saved with torch.save (.pth).")
        if name == "bytes":
            return _empty_bytes
        if module == "_codecs":
            import _codecs

            return getattr(_codecs, name)
        import numpy  # noqa: F401  (numpy.core / numpy._core resolve through numpy's own import machinery)
        import importlib

        return getattr(importlib.import_module(module), name)


def _empty_bytes(*args: Any) -> bytes:
    """bytes() for protocol 2's empty bytes, and nothing more (bytes(10**12) would allocate a terabyte)."""
    if args:
        raise UnsafePickleError(f"refused: bytes{args!r} in a weights pickle (only bytes() is expected)")
    return b""


def load_numpy_pickle(source: Union[str, os.PathLike, bytes]) -> Any:
    """Read a pickle of numpy arrays in dicts / lists / tuples / strings / numbers (a path, or the bytes).

    Raises UnsafePickleError for any other global, TruncatedPickleError for a file that ends early, and
    pickle.UnpicklingError for one that is not a pickle; FileNotFoundError when the path does not exist.
    """
    if isinstance(source, (bytes, bytearray)):
        data, where = bytes(source), "the data"
    else:
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"weights file not found: {path}")
        data, where = path.read_bytes(), str(path)
    try:
        return NumpyOnlyUnpickler(io.BytesIO(data), encoding="latin1").load()
    except UnsafePickleError as err:
        raise UnsafePickleError(f"{where}: {err}") from None
    except EOFError as err:
        raise TruncatedPickleError(f"{where} ends early after {len(data)} bytes ({err or 'end of file'}): the "
                                   "download was interrupted or the file is damaged; delete it and download it "
                                   "again.") from None
    except (pickle.UnpicklingError, ValueError, TypeError, AttributeError, IndexError, KeyError) as err:
        # a cut inside an opcode's argument surfaces as one of these; so does a file that is not a pickle
        kind = "ends early or is damaged" if data[:1] == b"\x80" else "is not a pickle"
        error = TruncatedPickleError if data[:1] == b"\x80" else pickle.UnpicklingError
        raise error(f"{where} {kind} ({type(err).__name__}: {err}); delete it and download it again.") from None
