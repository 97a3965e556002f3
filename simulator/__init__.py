"""The Spotnana token-exchange simulator."""
