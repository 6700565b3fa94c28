"""The routes, one module per concern: public issues, leaving, forwarding, joining."""
