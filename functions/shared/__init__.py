"""Shared by every microservice: the hub envelope, request contracts, configuration, observability."""
