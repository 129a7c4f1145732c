"""Pictures of a network drawn from its IR: DOT text (dot.py), laid out by Graphviz (render.py)."""
