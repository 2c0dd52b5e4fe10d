"""The calculator tool: exact arithmetic for agents, a microservice of its own on the hub."""
