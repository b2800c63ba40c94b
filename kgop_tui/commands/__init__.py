"""Plain verbs: each module registers its parsers and handlers; ``cli`` dispatches."""
