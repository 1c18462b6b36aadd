"""The fleet's model catalogue and placement ("which nodes can hold this model")."""
