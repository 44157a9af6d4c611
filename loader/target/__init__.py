"""What runs against the target inside the load transaction, for every method: write modes, publish,
rejects, index deferral and the exactly-once ledger."""
