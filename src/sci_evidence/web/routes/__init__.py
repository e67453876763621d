"""The routes of the web application, one module per area."""
