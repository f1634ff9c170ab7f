"""Development tools for the plugin (never shipped: `.difyignore` leaves this folder out of the package)."""
