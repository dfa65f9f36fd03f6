"""Bounds on what one render may make the operator parse.

PyYAML builds a node per scalar, sequence and mapping before any object exists (some
350 bytes each): a 4 MiB file of ``[a,a,a,...]`` costs some 700 MiB. So the YAML of a
render is first walked as a stream of parser events (constant memory, the C parser where
present) and refused before it is loaded when it exceeds, in total over the render:

- ``MAX_RENDER_BYTES`` of text,
- ``MAX_RENDER_NODES`` YAML nodes (scalars, sequences, mappings, aliases),
- ``MAX_RENDER_DOCUMENTS`` documents (objects; a ``List`` counts once).
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml

from ..errors import RenderError

MAX_RENDER_BYTES = 16 * 1024 * 1024
MAX_RENDER_NODES = 500_000
MAX_RENDER_DOCUMENTS = 10_000

_PARSER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_NODE_EVENTS = (
    yaml.ScalarEvent,
    yaml.SequenceStartEvent,
    yaml.MappingStartEvent,
    yaml.AliasEvent,
)


@dataclass(slots=True)
class RenderBudget:
    """What one render has used so far; ``charge`` each piece of YAML before loading it."""

    text_bytes: int = 0
    nodes: int = 0
    documents: int = 0

    def charge(self, text: str, where: str) -> None:
        """Count ``text`` against the budget; ``RenderError`` (``ManifestTooLarge``) as soon
        as a bound is passed, before ``text`` is loaded. Syntax errors are left to the
        loader, which reports them with their position."""
        self.text_bytes += len(text.encode("utf-8", errors="replace"))
        if self.text_bytes > MAX_RENDER_BYTES:
            raise _too_large(where, f"{MAX_RENDER_BYTES // 2**20} MiB of YAML")
        try:
            for event in yaml.parse(text, Loader=_PARSER):
                if isinstance(event, _NODE_EVENTS):
                    self.nodes += 1
                    if self.nodes > MAX_RENDER_NODES:
                        raise _too_large(where, f"{MAX_RENDER_NODES} YAML nodes")
                elif isinstance(event, yaml.DocumentStartEvent):
                    self.documents += 1
                    if self.documents > MAX_RENDER_DOCUMENTS:
                        raise _too_large(where, f"{MAX_RENDER_DOCUMENTS} documents")
        except yaml.YAMLError:
            return


def _too_large(where: str, bound: str) -> RenderError:
    return RenderError(
        f"{where}: the render is larger than this operator parses (more than {bound})",
        reason="ManifestTooLarge",
    )
