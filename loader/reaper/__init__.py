"""The reaper: find and delete what crashed runs left behind (temp prefixes, staging tables)."""
