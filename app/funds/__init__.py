"""Township protection funds: allocations, the append-only ledger, guarded balances."""
