"""The V5 REST client."""
