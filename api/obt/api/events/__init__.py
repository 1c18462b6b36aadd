"""Live updates: an event bus fed by committed writes, streamed to browsers as SSE."""
