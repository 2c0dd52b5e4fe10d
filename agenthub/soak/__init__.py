"""`agenthub local soak`: many requests through a local cloud of its own, with faults, and a ledger.

It starts a local cloud (its own state folder, free ports), sends requests across every pipeline
in `agenthub.soak.plan.PIPELINES` from several callers, sends some twice at once with the same
Idempotency-Key, injects faults at a given rate (`agenthub.soak.plan.FAULTS`), keeps a ledger of
every 202, waits until the work has drained, and reports what became of each accepted request and
what must not have happened (lost requests, unexpected failures, anything done twice). The plan is
a pure function of the seed; what the local cloud does with it is as timing-dependent as AWS.
"""
