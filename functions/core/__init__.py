"""Core: the hub's only writer of the catalog, the data lake's results and the agents' memory."""
