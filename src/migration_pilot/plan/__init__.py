"""Planning vocabulary shared by lint, plan, docs and deploy (locks today, plans later)."""
