"""Services: the only code that touches Docker, Postgres, files and crypto.

Services take and return pydantic models and never import Textual (a test enforces it).
Grouped by domain: ``docker`` (engine, compose, Swarm, events, stats, logs, the health gate),
``database`` (connections, client tools, the platform's schema, migrations, AGE graphs),
``backups`` (dumps, signatures, restores, sealed secrets), ``tls``, ``platform`` (its
configuration, Garage, provider keys, the keys of stored secrets), ``upgrade``,
``diagnosis`` (doctor, support bundle); ``files`` (atomic writes, the ``.env`` writer) and
``wiring`` (the one place that builds the real services, for the CLI and the TUI).
"""
