"""The manifest runner: select manifests, read their sources, hand each load to the engine, report."""
