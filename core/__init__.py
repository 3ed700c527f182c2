"""PolicyWatch's kernel: what every stage imports, and which imports no stage."""
