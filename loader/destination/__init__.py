"""The destination: what runs in the target database inside the load transaction, for every
method (dlt's ``destinations/``): the one load transaction, the exactly-once ledger, the write
modes and slice replace, publish, rejects, index deferral and schema evolution."""
