"""Docker and Swarm: the engine, compose, the stack file, events, stats, logs and the health
gate."""
