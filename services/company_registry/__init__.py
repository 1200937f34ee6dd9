"""Company registry: participating companies (validated national company IDs) and their adhesion
lifecycle (PENDING -> ACTIVE <-> SUSPENDED, with an append-only history), economic groups, consumers'
suggestions of companies, and the market segments and complaint taxonomy of the country pack."""
