"""The document search tool: ranked search over the caller's own preprocessed documents."""
