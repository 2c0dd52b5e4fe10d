"""`make bench`: what the hub costs in time and money, measured on this machine.

Nothing here is deployed, and nothing here imports boto3 or the local cloud at import time:
`agenthub.bench.runtime` runs inside the measured processes, where every import is measured.
"""
