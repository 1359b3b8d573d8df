"""Stand-in for EXO's Rust bindings: the API imports ``FromSwarm`` for a type annotation only."""


class FromSwarm:
    class Connection:
        connected: bool
