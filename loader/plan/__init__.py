"""Deciding before any data moves: the method (auto), its facts, the type map, recommendations."""
