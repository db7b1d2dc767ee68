"""Name -> factory registries for methods and datasets (timm-style)."""
from __future__ import annotations

from typing import Callable, Dict, Generic, List, TypeVar

from .errors import InputError

T = TypeVar("T")


class Registry(Generic[T]):
    """A mapping from a lower-case name to a registered object, with helpful errors."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: Dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        key = name.lower()

        def decorator(obj: T) -> T:
            if key in self._entries and self._entries[key] is not obj:
                raise ValueError(f"{self.kind} {key!r} is already registered")
            self._entries[key] = obj
            return obj

        return decorator

    def unregister(self, name: str) -> None:
        """Remove an entry (a plug-in unloaded, or a test's example method); unknown names are ignored."""
        self._entries.pop(name.lower(), None)

    def get(self, name: str) -> T:
        key = str(name).lower()
        if key not in self._entries:
            known = ", ".join(sorted(self._entries)) or "none"
            raise InputError(f"Unknown {self.kind} {name!r}. Known {self.kind}s: {known}.")
        return self._entries[key]

    def names(self) -> List[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return str(name).lower() in self._entries
