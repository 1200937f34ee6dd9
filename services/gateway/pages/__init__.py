"""HTML page blueprints, one module per area; each defines `bp` and is registered automatically."""
