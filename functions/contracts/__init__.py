"""What the microservices agree on: request bodies, statuses and event types, customization's
capability table, and the catalog's row format. Imported by whoever speaks them; deploys nothing."""
