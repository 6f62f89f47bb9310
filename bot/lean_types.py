"""aiogram's ~400 Telegram types validated by schemas built on first use, not all at import.

aiogram declares its types with pydantic's `defer_build`, then its `aiogram.types` package calls
`model_rebuild()` on every one of them at import, which builds every validator and serializer
at once: 2.7 s of CPU and 125 MB of resident memory in a bot that meets a few dozen of them. Here
that one loop only records the namespace each type's forward references resolve in (what the
rebuild would have used), so pydantic builds a type's schema the first time it is validated or
serialised, as `defer_build` intends. Measured: `import aiogram` 170 MB -> 64 MB, 2.7 s -> 0.7 s
of CPU; the first Update then costs 80 ms once, which `build_common_types` pays at start.

Only the import-time loop of `aiogram.types` is affected, and only when this runs before
anything imports aiogram (`bot/__init__.py` does it first); otherwise aiogram behaves as usual.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import os
import sys
from typing import Any


def import_aiogram_types_deferred() -> None:
    if "aiogram.types" in sys.modules:
        return  # imported already: its types are built, nothing left to save
    try:
        from pydantic import BaseModel
        from pydantic._internal._model_construction import unpack_lenient_weakvaluedict
    except ImportError:  # another pydantic: import aiogram the usual way
        return
    original = BaseModel.__dict__["model_rebuild"]
    deferred_modules: dict[str, Any] = {}
    rebuild = original.__func__

    def deferred(
        cls: Any, /, *, _types_namespace: Any = None, force: bool = False, **kwargs: Any
    ) -> bool | None:
        if (
            _types_namespace is not None
            and not force
            and not kwargs
            and cls.__module__.startswith("aiogram.types.")
            and not cls.__pydantic_complete__
        ):
            namespace = dict(_types_namespace)
            namespace.update(unpack_lenient_weakvaluedict(cls.__pydantic_parent_namespace__) or {})
            cls.__pydantic_parent_namespace__ = namespace
            deferred_modules[cls.__module__] = _types_namespace
            return None
        result: bool | None = rebuild(cls, _types_namespace=_types_namespace, force=force, **kwargs)
        return result

    # Patching pydantic's classmethod for the one import: a wrapper of its own signature.
    BaseModel.model_rebuild = classmethod(deferred)  # type: ignore[method-assign,assignment]
    try:
        import aiogram.types  # noqa: F401
    finally:
        BaseModel.model_rebuild = original  # type: ignore[method-assign]
    # A type nested in another model (a method, another type) has its names looked up in its
    # module's globals, where aiogram imports them only for type checkers: put them there, the
    # names the rebuild would have resolved them to. Done after the import, so that aiogram's
    # methods, defined meanwhile, stay unbuilt until first used too.
    for module_name, namespace in deferred_modules.items():
        module = vars(sys.modules[module_name])
        for name, value in namespace.items():
            module.setdefault(name, value)


def build_common_types() -> None:
    """Build now, at start, the schemas that nearly every update or reply needs, rather than in
    the first update's handling (100-200 ms of the event loop)."""
    from aiogram.methods import (
        AnswerCallbackQuery,
        CopyMessage,
        DeleteMessage,
        EditMessageText,
        SendMessage,
    )
    from aiogram.types import CallbackQuery, ErrorEvent, Message, Update

    models = (Update, Message, CallbackQuery, ErrorEvent, SendMessage, CopyMessage)
    for model in (*models, EditMessageText, AnswerCallbackQuery, DeleteMessage):
        if not model.__pydantic_complete__:
            model.model_rebuild()


def settle() -> None:
    """Once started: collect, then move every object alive now (aiogram's types, the indexes,
    the models' tables) out of the garbage collector's sight. A full collection otherwise walks
    them all again and again, 100+ ms of a stalled event loop at a time in the middle of a busy
    minute; they live as long as the process anyway. (Frozen objects are still freed when
    their last reference goes; only a reference cycle among them waits for the next call,
    which first takes back what an earlier one froze: tests start many bots in one process.)"""
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    _trim_heap()


# mallopt(3) parameters (glibc's malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
HEAP_TUNING = (
    # one arena per thread (the loop, the model's worker, SQLite's, asyncio's pool) keeps
    # each one's freed memory to itself: two arenas serve the bot's few threads
    ("MALLOC_ARENA_MAX", _M_ARENA_MAX, 2),
    # blocks from 64 KB (numpy temporaries, query results, the model's buffers) are mapped and
    # given back when freed, instead of glibc raising this limit as they come and go and
    # keeping them in the heap
    ("MALLOC_MMAP_THRESHOLD_", _M_MMAP_THRESHOLD, 64 * 1024),
    # and a heap with 1 MB free at its top gives it back
    ("MALLOC_TRIM_THRESHOLD_", _M_TRIM_THRESHOLD, 1024 * 1024),
)


def tune_heap() -> None:
    """glibc's malloc tuned for a long-running process with a few threads and large numpy
    arrays (measured with `bench/faq_cost.py`: 263-280 MB resident with the model loaded, about
    235-250 MB with this). Called first thing at import, before any thread exists; a variable
    the operator set in the environment wins (glibc reads those itself)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc: nothing to do
        return
    for variable, parameter, value in HEAP_TUNING:
        if variable not in os.environ:
            mallopt(parameter, value)


def _trim_heap() -> None:
    """Give the C heap's free pages back to the system (glibc only): start-up's temporaries
    (profiles parsed, rows read, models trained) leave some 30 MB free but resident."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass
