"""The kit every pipeline microservice deploys: a trigger that starts its state machine from the
hub, an announcer its state machine publishes through, and the cancellation marks both honour.

Processing and customization each deploy these handlers as their own functions (see template.yaml);
the code lives once, here.
"""
