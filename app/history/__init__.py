"""The history: what every host reads back (ranges at any zoom, exports), whatever holds it."""
