"""``make bench``: the simulator measured beside its floor (and, with ``make bench-peers``, a peer server)."""
