"""One module per rule; the module name in kebab case is the rule id."""
