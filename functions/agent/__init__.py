"""Agent: runs the Converse loop with tools that are microservices of their own, reached through the hub.

A Standard state machine asks the model; when the model asks for tools, each call goes to the hub
as `tool.requested` and the run waits (a task token, no Lambda idling) until the relay hands it
the tool's `tool.completed` or `tool.failed`; the answers go back to the model, turn after turn.
"""
