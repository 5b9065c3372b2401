"""Looking into Dash component trees built by the layouts."""

from __future__ import annotations

from dash.development.base_component import Component


def find(component, component_id):
    """The component with ``component_id`` in the tree under ``component``, or None."""
    if getattr(component, "id", None) == component_id:
        return component
    children = getattr(component, "children", None)
    for child in children if isinstance(children, list) else [children]:
        if isinstance(child, Component) and (found := find(child, component_id)) is not None:
            return found
    return None


def walk(tree):
    """Every component's props in a component tree as JSON (a page a callback rendered)."""
    if isinstance(tree, list):
        for item in tree:
            yield from walk(item)
    elif isinstance(tree, dict) and "props" in tree:
        yield tree["props"]
        yield from walk(tree["props"].get("children"))
