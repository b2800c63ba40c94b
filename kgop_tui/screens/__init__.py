"""TUI screens: one module per screen; they reach services through the app."""
